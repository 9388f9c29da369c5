// HostRecorder: an entry reaches the TPM only once it is written, a restart resumes the list
// the TPM holds a prefix of (and extends the rest), and a list that cannot be resumed is set
// aside rather than overwritten. Against a real swtpm where a TPM is involved.
#include "agent/host_recorder.h"

#include <filesystem>
#include <thread>

#include "../tpm/tpm_test_support.h"
#include "common/file_io.h"

namespace eima::agent {
namespace {

using ima::HashAlgo;
using tpm::testing::TempDir;

const std::vector<HashAlgo> banks{HashAlgo::sha1, HashAlgo::sha256};

ima::TemplateEntry entry(int n, std::uint32_t pcr = 10)
{
	Bytes d(32, static_cast<std::uint8_t>(n));
	return *ima::make_ima_ng(HashAlgo::sha256, d, "/bin/f" + std::to_string(n), pcr);
}

ima::TemplateEntry boot()
{
	return *ima::make_boot_aggregate(HashAlgo::sha256, Bytes(32, 0), "ima-ng");
}

std::size_t ascii_lines(const std::string &dir)
{
	auto text = read_file(dir + "/ascii_runtime_measurements").value_or("");
	return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

// Waits until the extender has handled everything queued before.
std::uint64_t extended_after_sync(TpmExtender &t)
{
	(void)t.later<int>([](tpm::Tpm &) -> Result<int> { return 0; }).get();
	return t.extended();
}

TEST(HostRecorder, StartsNewListsAndResumesOnlyTheSameBoot)
{
	TempDir tmp;
	std::string dir = tmp.path() + "/host";
	{
		HostRecorder h(dir, nullptr);
		auto r = h.open(banks, false, "boot-1\n", boot());
		ASSERT_TRUE(r) << r.error().message();
		EXPECT_FALSE(*r);
		EXPECT_EQ(h.state(), "new: no list to resume");
		h.append(entry(1));
		h.append(entry(2));
		EXPECT_EQ(h.entries(), 3u);
		EXPECT_EQ(ascii_lines(dir), 0u); // buffered until flush
		h.flush();
		EXPECT_EQ(ascii_lines(dir), 3u);
	}
	{
		HostRecorder h(dir, nullptr);
		auto r = h.open(banks, false, "boot-1\n", boot());
		ASSERT_TRUE(r) << r.error().message();
		EXPECT_TRUE(*r);
		EXPECT_EQ(h.entries(), 3u); // no second boot_aggregate
		EXPECT_TRUE(h.state().starts_with("resumed: 3 entries")) << h.state();
		EXPECT_GT(h.drained_at_ns(), 0u); // the list's last write, none saved
	}
	{
		// Another boot: the old list is kept beside, a new one starts.
		HostRecorder h(dir, nullptr);
		auto r = h.open(banks, false, "boot-2\n", boot());
		ASSERT_TRUE(r) << r.error().message();
		EXPECT_FALSE(*r);
		EXPECT_TRUE(h.state().find("from another boot") != std::string::npos) << h.state();
		EXPECT_EQ(h.entries(), 1u);
		bool kept = false;
		for (auto &e : std::filesystem::directory_iterator(tmp.path()))
			kept |= e.path().filename().string().starts_with("host.before-boot-");
		EXPECT_TRUE(kept);
		EXPECT_EQ(read_file(dir + "/boot_id").value_or(""), "boot-2\n");
	}
	{
		HostRecorder h(dir, nullptr);
		auto r = h.open(banks, true, "boot-2\n", boot());
		ASSERT_TRUE(r);
		EXPECT_FALSE(*r);
		EXPECT_EQ(h.state(), "new: --fresh");
	}
}

TEST(HostRecorder, DrainedAtIsSavedOnlyWhenWrittenAndIsWhatAResumeStartsFrom)
{
	TempDir tmp;
	std::string dir = tmp.path() + "/host";
	auto t = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));
	{
		HostRecorder h(dir, nullptr);
		ASSERT_TRUE(h.open(banks, false, "b\n", boot()));
		h.flush();
		h.save_drained_at(t);
		EXPECT_EQ(read_file(dir + "/drained_at_ns").value_or(""), "1700000000000000000\n");
		// Within 100 ms of the last save: not written again.
		h.save_drained_at(t + std::chrono::seconds(5));
		EXPECT_EQ(read_file(dir + "/drained_at_ns").value_or(""), "1700000000000000000\n");
	}
	HostRecorder h(dir, nullptr);
	auto r = h.open(banks, false, "b\n", boot());
	ASSERT_TRUE(r && *r);
	EXPECT_EQ(h.drained_at_ns(), 1'700'000'000'000'000'000u);
}

TEST(HostRecorder, DrainedAtIsRewrittenEvery100MsWhileEntriesArriveAndRarelyWhenIdle)
{
	TempDir tmp;
	std::string dir = tmp.path() + "/host";
	HostRecorder h(dir, nullptr);
	ASSERT_TRUE(h.open(banks, false, "b\n", boot()));
	h.flush();
	auto wall = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));
	auto steady = std::chrono::steady_clock::time_point(std::chrono::hours(1));
	auto saved = [&] { return read_file(dir + "/drained_at_ns").value_or(""); };
	auto ns = [](std::chrono::system_clock::time_point t) {
		return std::to_string(
			       std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count()) +
		       "\n";
	};
	h.save_drained_at(wall, steady); // the first is always written
	EXPECT_EQ(saved(), ns(wall));
	// Idle (no new entry): not before idle_save.
	auto t1 = wall + std::chrono::seconds(1);
	h.save_drained_at(t1, steady + HostRecorder::busy_save * 2);
	EXPECT_EQ(saved(), ns(wall));
	h.save_drained_at(t1, steady + HostRecorder::idle_save);
	EXPECT_EQ(saved(), ns(t1));
	// Entries arrived: after busy_save.
	h.append(entry(1));
	h.flush();
	auto t2 = t1 + std::chrono::seconds(1);
	auto s2 = steady + HostRecorder::idle_save;
	h.save_drained_at(t2, s2 + HostRecorder::busy_save / 2);
	EXPECT_EQ(saved(), ns(t1));
	h.save_drained_at(t2, s2 + HostRecorder::busy_save);
	EXPECT_EQ(saved(), ns(t2));
}

class HostRecorderTpmTest : public tpm::testing::SwtpmTest {
protected:
	std::unique_ptr<TpmExtender> extender()
	{
		auto t = tpm::Tpm::open(swtpm_->tcti());
		EXPECT_TRUE(t) << t.error().message();
		return std::make_unique<TpmExtender>(std::make_unique<tpm::Tpm>(std::move(*t)));
	}
};

TEST_F(HostRecorderTpmTest, EntriesReachTheTpmOnlyOnceWritten)
{
	auto ext = extender();
	std::string dir = dir_.path() + "/host";
	HostRecorder h(dir, ext.get());
	ASSERT_TRUE(h.open(banks, false, "b\n", boot()));
	h.append(entry(1));
	h.append(entry(2, 11));
	EXPECT_EQ(extended_after_sync(*ext), 0u);
	// Nothing written yet: the drain time is not recorded either.
	h.save_drained_at(std::chrono::system_clock::now());
	EXPECT_FALSE(std::filesystem::exists(dir + "/drained_at_ns"));
	h.flush();
	EXPECT_EQ(extended_after_sync(*ext), 3u);
	EXPECT_EQ(ascii_lines(dir), 3u);
}

TEST_F(HostRecorderTpmTest, ResumeExtendsTheMissingTailAndSetsAsideWhatTheTpmCannotMatch)
{
	std::string dir = dir_.path() + "/host";
	{
		auto ext = extender();
		HostRecorder h(dir, ext.get());
		ASSERT_TRUE(h.open(banks, false, "b\n", boot()));
		h.append(entry(1));
		h.flush();
		EXPECT_EQ(extended_after_sync(*ext), 2u);
	}
	// Written but never extended: as if eimad was killed between the two.
	{
		auto list = MeasurementList::resume(dir, banks);
		ASSERT_TRUE(list);
		ASSERT_TRUE(list->list.append(entry(2)));
		ASSERT_TRUE(list->list.flush());
	}
	{
		auto ext = extender();
		HostRecorder h(dir, ext.get());
		auto r = h.open(banks, false, "b\n", boot());
		ASSERT_TRUE(r) << r.error().message();
		EXPECT_TRUE(*r);
		EXPECT_EQ(h.state(), "resumed: 3 entries, 2 already in the TPM, 1 extended now");
		EXPECT_EQ(extended_after_sync(*ext), 1u);
	}
	{
		// A foreign extend: no prefix of the list replays to the TPM any more.
		auto t = tpm::Tpm::open(swtpm_->tcti());
		ASSERT_TRUE(t);
		ASSERT_TRUE(t->extend(10, {{HashAlgo::sha1, Bytes(20, 9)}, {HashAlgo::sha256, Bytes(32, 9)}}));
	}
	auto ext = extender();
	HostRecorder h(dir, ext.get());
	auto r = h.open(banks, false, "b\n", boot());
	ASSERT_TRUE(r) << r.error().message();
	EXPECT_FALSE(*r);
	EXPECT_TRUE(h.state().find("the TPM holds no prefix") != std::string::npos) << h.state();
	EXPECT_EQ(h.entries(), 1u);
}

} // namespace
} // namespace eima::agent
