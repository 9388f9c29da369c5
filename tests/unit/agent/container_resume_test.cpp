// What a restarted eimad takes over of a container: container.json and exited.json read
// back as written (and a damaged one refused with its file named), and a vTPM reopened
// with its list, whose PCRs end as the list's replay: kept across a clean stop (saved
// state), or restarted clear when it holds no prefix of the list. Real swtpm.
#include <gtest/gtest.h>

#include <signal.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "../tpm/tpm_test_support.h"
#include "agent/container_registry.h"
#include "agent/container_state.h"
#include "agent/list_recovery.h"
#include "agent/virtual_tpm.h"
#include "common/file_io.h"
#include "ima/template_entry.h"

namespace eima::agent {
namespace {

using tpm::testing::TempDir;

TEST(ContainerState, SavedAndExitedContainersReadBackAsWritten)
{
	TempDir t;
	SavedContainer s{"libpod-\xff", "podman", 1234, {11, 12, 13}, 14, 15, 16};
	ASSERT_TRUE(save_container(t.path(), s));
	auto back = read_saved_container(t.path());
	ASSERT_TRUE(back) << back.error().message();
	EXPECT_EQ(back->id, s.id); // bytes, not UTF-8
	EXPECT_EQ(back->runtime, "podman");
	EXPECT_EQ(back->key, 1234u);
	EXPECT_EQ(back->ns.mnt, 11u);
	EXPECT_EQ(back->ns.pid, 12u);
	EXPECT_EQ(back->ns.uts, 13u);
	EXPECT_EQ(back->cgroup_id, 14u);
	EXPECT_EQ(back->anchor_pid, 15);
	EXPECT_EQ(back->anchor_start, 16u);

	ExitedContainer e{"c1", "runc", t.path(), {21, 22, 23}, 24, {{"state", "stopped"}},
			  5, 1, t.path() + "/final-evidence.json"};
	ASSERT_TRUE(save_exited(e));
	auto ex = read_exited(t.path());
	ASSERT_TRUE(ex) << ex.error().message();
	EXPECT_EQ(exited_json(*ex), exited_json(e));
}

TEST(ContainerState, ADamagedFileIsRefusedWithItsName)
{
	TempDir t;
	EXPECT_FALSE(read_saved_container(t.path())); // none
	ASSERT_TRUE(write_file(t.path() + "/container.json", std::string("{\"id\": \"x\"}")));
	auto r = read_saved_container(t.path());
	ASSERT_FALSE(r);
	EXPECT_NE(r.error().message().find("container.json"), std::string::npos) << r.error().message();
	ASSERT_TRUE(write_file(t.path() + "/container.json", std::string("{\"id\": ")));
	EXPECT_FALSE(read_saved_container(t.path()));
}

class VtpmResumeTest : public ::testing::Test {
protected:
	void SetUp() override
	{
		if (!tpm::testing::program_on_path("swtpm"))
			GTEST_SKIP() << "swtpm is not installed (apt-get install swtpm swtpm-tools)";
	}
	// n entries appended to a list in dir; their records.
	static std::vector<ExtendRecord> entries(MeasurementList &list, int from, int n)
	{
		std::vector<ExtendRecord> out;
		for (int i = from; i < from + n; ++i) {
			auto e = ima::make_ima_ng(ima::HashAlgo::sha256, Bytes(32, std::uint8_t(i)),
						  "/bin/f" + std::to_string(i), 10);
			EXPECT_TRUE(e);
			auto r = list.append(*e);
			EXPECT_TRUE(r);
			out.push_back(*r);
		}
		EXPECT_TRUE(list.flush());
		return out;
	}
	static PcrBanks pcrs_of(VirtualTpm &v)
	{
		auto p = v.extender()
				 .later<PcrBanks>([](tpm::Tpm &t) {
					 return read_all_pcrs(t, {ima::HashAlgo::sha1, ima::HashAlgo::sha256});
				 })
				 .get();
		EXPECT_TRUE(p) << p.error().message();
		return p ? *p : PcrBanks{};
	}
	static void expect_replay(VirtualTpm &v, const MeasurementList &list)
	{
		auto p = pcrs_of(v);
		for (auto bank : {ima::HashAlgo::sha1, ima::HashAlgo::sha256})
			for (auto &[pcr, value] : list.replayed_pcrs(bank))
				EXPECT_EQ(p[bank][pcr], value) << "PCR " << pcr;
	}
	std::string list_path() const { return t_.path() + "/c/binary_runtime_measurements"; }
	TempDir t_;
};

TEST_F(VtpmResumeTest, AKeptVtpmComesBackWithItsPcrsAndGetsTheTailItMissed)
{
	auto list = MeasurementList::create(t_.path() + "/c", {ima::HashAlgo::sha1, ima::HashAlgo::sha256});
	ASSERT_TRUE(list);
	std::string vdir = t_.path() + "/c/vtpm";
	std::vector<ExtendRecord> all;
	{
		VirtualTpm v(vdir, list_path(), "test vTPM");
		for (auto &r : entries(*list, 1, 3)) {
			all.push_back(r);
			v.extender().submit(r);
		}
		expect_replay(v, *list);
		// eimad stops while the container runs: the state stays
	}
	ASSERT_TRUE(std::filesystem::exists(vdir));
	EXPECT_TRUE(tpm::testing::processes_with({"swtpm", vdir}).empty()) << "stopped";
	// Written but not extended when eimad stopped: the resumed vTPM gets them first.
	for (auto &r : entries(*list, 4, 2))
		all.push_back(r);
	VirtualTpm v(vdir, list_path(), "test vTPM", all);
	expect_replay(v, *list);
	EXPECT_NE(v.resume_state().find("3 of 5 entries already in it, 2 extended now"),
		  std::string::npos)
		<< v.resume_state();
	auto id = v.identity();
	ASSERT_TRUE(id);
}

TEST_F(VtpmResumeTest, AVtpmHoldingNoPrefixOfTheListIsRestartedClear)
{
	auto list = MeasurementList::create(t_.path() + "/c", {ima::HashAlgo::sha1, ima::HashAlgo::sha256});
	ASSERT_TRUE(list);
	std::string vdir = t_.path() + "/c/vtpm";
	{
		VirtualTpm v(vdir, list_path(), "test vTPM");
		// Something the list does not hold.
		v.extender().submit({10, {{ima::HashAlgo::sha1, Bytes(20, 9)}, {ima::HashAlgo::sha256, Bytes(32, 9)}}});
	}
	auto recs = entries(*list, 1, 2);
	VirtualTpm v(vdir, list_path(), "test vTPM", recs);
	expect_replay(v, *list);
	EXPECT_NE(v.resume_state().find("restarted clear"), std::string::npos) << v.resume_state();
}

TEST_F(VtpmResumeTest, AContainersEntriesReachItsVtpmOnlyOnceWritten)
{
	Container c;
	auto list = MeasurementList::create(t_.path() + "/c", {ima::HashAlgo::sha1, ima::HashAlgo::sha256});
	ASSERT_TRUE(list);
	c.list = std::move(*list);
	c.vtpm = std::make_unique<VirtualTpm>(t_.path() + "/c/vtpm", list_path(), "test vTPM");
	auto e = ima::make_ima_ng(ima::HashAlgo::sha256, Bytes(32, 7), "/bin/x", 10);
	ASSERT_TRUE(e);
	auto rec = c.list->append(*e);
	ASSERT_TRUE(rec);
	c.unwritten.push_back(*rec);
	EXPECT_EQ(pcrs_of(*c.vtpm)[ima::HashAlgo::sha256][10], Bytes(32, 0)) << "extended before written";
	EXPECT_EQ(read_file(t_.path() + "/c/binary_runtime_measurements")->size(), 0u);
	flush_container(c);
	EXPECT_TRUE(c.unwritten.empty());
	EXPECT_GT(read_file(t_.path() + "/c/binary_runtime_measurements")->size(), 0u);
	expect_replay(*c.vtpm, *c.list);
	c.vtpm->discard_state();
}

TEST_F(VtpmResumeTest, AKilledVtpmIsRestartedAndCaughtUpFromTheContainersList)
{
	// Its list is its queue, as the host's is (issue 10): swtpm killed under a container,
	// the next extend fails, the vTPM is started again, and the entries its PCRs lost are
	// extended again from the list, so a quote still matches the list.
	auto list = MeasurementList::create(t_.path() + "/c", {ima::HashAlgo::sha1, ima::HashAlgo::sha256});
	ASSERT_TRUE(list);
	VirtualTpm v(t_.path() + "/c/vtpm", list_path(), "test vTPM");
	for (auto &r : entries(*list, 1, 3))
		v.extender().submit(r);
	expect_replay(v, *list);
	pid_t before = v.pid();
	ASSERT_GT(before, 0);
	ASSERT_EQ(::kill(before, SIGKILL), 0);
	for (int i = 0; i < 200 && ::kill(before, 0) == 0; ++i)
		std::this_thread::sleep_for(std::chrono::milliseconds(10));
	for (auto &r : entries(*list, 4, 2))
		v.extender().submit(r);
	expect_replay(v, *list);
	EXPECT_NE(v.pid(), before) << "a new swtpm";
	EXPECT_EQ(v.state(), TpmExtender::State::open);
	EXPECT_GE(v.extender().recoveries(), 1u);
	v.discard_state();
}

TEST_F(VtpmResumeTest, ARetiredVtpmLeavesNoStateAndNoProcess)
{
	std::string vdir = t_.path() + "/v";
	{
		VirtualTpm v(vdir, list_path(), "test vTPM");
		ASSERT_TRUE(v.extender().later<int>([](tpm::Tpm &) -> Result<int> { return 0; }).get());
		v.discard_state(); // retired
	}
	EXPECT_FALSE(std::filesystem::exists(vdir));
	EXPECT_TRUE(tpm::testing::processes_with({"swtpm", vdir}).empty());
}

} // namespace
} // namespace eima::agent
