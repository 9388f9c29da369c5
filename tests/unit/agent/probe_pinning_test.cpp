// The pinned set's compatibility decision (pure), and pinning and adoption against the
// running kernel: a child loads and pins a set and dies without cleaning up, as a killed
// eimad does; the parent adopts it, or refuses it and finds it detached.
#include <gtest/gtest.h>

#include <bpf/bpf.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <vector>

#include "agent/agent_config.h"
#include "agent/measurement_probe.h"
#include "agent/policy_loader.h"

namespace eima::agent {
namespace {

PinnedSetInfo sample()
{
	PinnedSetInfo i;
	i.layout = PinnedSetInfo::current_layout;
	i.mode = static_cast<std::uint32_t>(ProbeMode::lsm);
	i.object_sha256.fill(0xab);
	i.host_mntns = 4026531841;
	i.ring_bytes = 16 << 20;
	i.kernel_digest = 1;
	return i;
}

const std::vector<std::string> lsm_hash = {"eima_bprm_check_hash", "eima_mmap_file_hash",
					   "eima_file_mprotect"};

TEST(PinnedSetMismatch, SameSetIsAdoptedWhateverItsOwnerDid)
{
	PinnedSetInfo found = sample(), wanted = sample();
	// What the owner kept up to date does not make a set another one.
	found.owner_pid = 1234;
	found.uncommitted = 1;
	found.unattributed_recorded = 7;
	auto links = lsm_hash;
	std::swap(links[0], links[2]); // pins are listed in directory order
	EXPECT_EQ("", pinned_set_mismatch(found, links, wanted, lsm_hash));
}

TEST(PinnedSetMismatch, EachDifferenceIsNamed)
{
	struct Case {
		const char *what;
		void (*change)(PinnedSetInfo &);
		const char *said;
	} cases[] = {
		{"layout", [](PinnedSetInfo &i) { i.layout = 0; }, "another eimad version"},
		{"mode", [](PinnedSetInfo &i) { i.mode = 1; }, "pinned in trace mode, lsm wanted"},
		{"object", [](PinnedSetInfo &i) { i.object_sha256[31] ^= 1; },
		 "another BPF object"},
		{"host", [](PinnedSetInfo &i) { i.host_mntns = 1; }, "host mount namespace 1"},
		{"ring", [](PinnedSetInfo &i) { i.ring_bytes = 4096; },
		 "ring buffer of 4096 bytes"},
		{"digest", [](PinnedSetInfo &i) { i.kernel_digest = 0; }, "plain hooks"},
		{"file_check", [](PinnedSetInfo &i) { i.want_file_check = 1; }, "file_open hooked"},
	};
	for (auto &c : cases) {
		PinnedSetInfo found = sample();
		c.change(found);
		auto why = pinned_set_mismatch(found, lsm_hash, sample(), lsm_hash);
		EXPECT_NE(why.find(c.said), std::string::npos) << c.what << ": " << why;
	}
}

TEST(PinnedSetMismatch, ADetachedOrMissingHookIsAnotherSet)
{
	auto links = lsm_hash;
	links.pop_back(); // eima_file_mprotect's link is gone
	auto why = pinned_set_mismatch(sample(), links, sample(), lsm_hash);
	EXPECT_NE(why.find("programs attached"), std::string::npos) << why;
	links = lsm_hash;
	links.push_back("eima_file_open_hash");
	EXPECT_NE("", pinned_set_mismatch(sample(), links, sample(), lsm_hash));
}

TEST(PinDirFor, OneDirectoryPerRunDirectoryWithNamesBpffsAccepts)
{
	EXPECT_EQ("/sys/fs/bpf/eima/run-eima", pin_dir_for("/run/eima"));
	EXPECT_EQ("/sys/fs/bpf/eima/run-eima", pin_dir_for("//run//eima/"));
	EXPECT_EQ("/sys/fs/bpf/eima/tmp-eima_x1-run", pin_dir_for("/tmp/eima.x1/run"));
	EXPECT_EQ("/sys/fs/bpf/eima/root", pin_dir_for("/"));
}

// ---- Against the kernel (root: BPF) ----

class ProbePinning : public ::testing::Test {
protected:
	void SetUp() override
	{
		if (::geteuid() != 0)
			GTEST_SKIP() << "needs root (BPF)";
		dir_ = "/sys/fs/bpf/eima-unit-" + std::to_string(::getpid());
		auto pol = load_measure_policy("exec", ProbeMode::trace);
		ASSERT_TRUE(pol) << pol.error().message();
		policy_ = pol->compiled;
		opts_.host_mntns =
			1; // no process is "the host": the test's execs are a container's
		opts_.ring_bytes = 1 << 16;
	}
	void TearDown() override
	{
		std::error_code ec;
		if (!dir_.empty())
			std::filesystem::remove_all(dir_, ec); // on bpffs: unlink detaches
		if (!exe_.empty())
			std::filesystem::remove(exe_, ec);
	}
	// A child loads and pins a set, then dies without its destructors (as kill -9).
	void pin_in_dying_child()
	{
		pid_t child = ::fork();
		ASSERT_GE(child, 0);
		if (child == 0) {
			auto pins = ProbePins::open(dir_);
			ProbeOptions mine = opts_;
			mine.agent_tgid = static_cast<std::uint32_t>(::getpid());
			auto probe = MeasurementProbe::load(ProbeMode::trace, mine, policy_);
			Result<void> pinned = !pins    ? std::unexpected(pins.error())
					      : !probe ? std::unexpected(probe.error())
						       : (*probe)->pin(std::move(*pins));
			if (!pinned)
				std::fprintf(stderr, "child: %s\n",
					     pinned.error().message().c_str());
			::_exit(pinned ? 0 : 1);
		}
		int status = 0;
		::waitpid(child, &status, 0);
		ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child could not pin";
	}
	// Executes a private copy of true: its dev/ino are this test's alone.
	void exec_true()
	{
		if (exe_.empty()) {
			exe_ = "/tmp/eima-unit-true-" + std::to_string(::getpid());
			std::filesystem::copy_file(
				"/bin/true", exe_,
				std::filesystem::copy_options::overwrite_existing);
			std::filesystem::permissions(exe_, std::filesystem::perms::owner_all);
		}
		ASSERT_EQ(0, std::system(exe_.c_str()));
	}
	// Whether the measured cache holds the private true (under any namespace).
	bool true_is_cached(int measured_fd)
	{
		struct stat st;
		if (::stat(exe_.c_str(), &st) != 0)
			return false;
		eima_measured_key key, *prev = nullptr;
		while (bpf_map_get_next_key(measured_fd, prev, &key) == 0) {
			if (key.ino == st.st_ino)
				return true;
			prev = &key;
		}
		return false;
	}
	// The pinned agent map's entries: tgid -> start time.
	std::map<std::uint32_t, std::uint64_t> agent_entries()
	{
		std::map<std::uint32_t, std::uint64_t> out;
		UniqueFd fd(bpf_obj_get((dir_ + "/agent").c_str()));
		if (!fd)
			return out;
		std::uint32_t key, *prev = nullptr;
		while (bpf_map_get_next_key(fd.get(), prev, &key) == 0) {
			std::uint64_t v = 0;
			if (bpf_map_lookup_elem(fd.get(), &key, &v) == 0)
				out[key] = v;
			prev = &key;
		}
		return out;
	}
	std::string exe_;
	std::string dir_;
	eima_policy policy_{};
	ProbeOptions opts_;
};

TEST_F(ProbePinning, AKilledOwnersSetKeepsMeasuringAndIsAdopted)
{
	pin_in_dying_child();
	exec_true(); // nobody reads the ring now: the event queues
	auto pins = ProbePins::open(dir_);
	ASSERT_TRUE(pins) << pins.error().message();
	auto info = pins->info();
	ASSERT_TRUE(info);
	EXPECT_EQ(PinnedSetInfo::current_layout, info->layout);
	// One eimad per pin directory.
	auto second = ProbePins::open(dir_);
	ASSERT_FALSE(second);
	EXPECT_EQ(EWOULDBLOCK, second.error().err);

	Adoption how;
	auto probe = MeasurementProbe::adopt(*pins, ProbeMode::trace, opts_, policy_, how);
	ASSERT_TRUE(probe) << probe.error().message();
	ASSERT_TRUE(*probe) << how.detail;
	EXPECT_TRUE(how.adopted);
	EXPECT_GT(how.queued_bytes, 0u) << "the exec while no eimad ran was not queued";
	EXPECT_FALSE(how.policy_changed);
	EXPECT_EQ(3u, (*probe)->programs().size());
	auto events = (*probe)->counter(EIMA_CNT_EVENTS);
	ASSERT_TRUE(events);
	EXPECT_GT(*events, 0u);

	// A clean stop detaches and unpins.
	probe->reset();
	EXPECT_FALSE(std::filesystem::exists(dir_));
}

// FILE_CHECK skips eimad's own opens by the tgid in the pinned agent map: the eimad that
// locks the directory takes the dead owner's place at once, and adoption keeps it there.
TEST_F(ProbePinning, TheNextOwnerTakesTheDeadOnesPlaceInTheAgentMap)
{
	pin_in_dying_child();
	auto dead = agent_entries();
	ASSERT_EQ(1u, dead.size()) << "the dying owner did not put its tgid in the agent map";
	ASSERT_NE(static_cast<std::uint32_t>(::getpid()), dead.begin()->first);
	auto pins = ProbePins::open(dir_);
	ASSERT_TRUE(pins) << pins.error().message();
	auto me = static_cast<std::uint32_t>(::getpid());
	pins->claim_agent(me);
	using Entries = std::map<std::uint32_t, std::uint64_t>;
	EXPECT_EQ((Entries{{me, 0}}), agent_entries()) << "the start time is the programs' to take";
	ProbeOptions opts = opts_;
	opts.agent_tgid = me;
	Adoption how;
	auto probe = MeasurementProbe::adopt(*pins, ProbeMode::trace, opts, policy_, how);
	ASSERT_TRUE(probe && *probe) << how.detail;
	EXPECT_EQ((Entries{{me, 0}}), agent_entries());
}

TEST(AgentMap, AFullMapOfStaleEntriesStillTakesTheNewOne)
{
	if (::geteuid() != 0)
		GTEST_SKIP() << "needs root (BPF)";
	LIBBPF_OPTS(bpf_map_create_opts, none);
	UniqueFd fd(bpf_map_create(BPF_MAP_TYPE_HASH, "eima_test_agent", sizeof(std::uint32_t),
				   sizeof(std::uint64_t), 2, &none));
	ASSERT_TRUE(fd) << std::strerror(errno);
	for (std::uint32_t stale : {100u, 200u}) {
		std::uint64_t start = 7;
		ASSERT_EQ(0, bpf_map_update_elem(fd.get(), &stale, &start, BPF_ANY));
	}
	ASSERT_TRUE(set_agent_tgid(fd.get(), 300));
	std::uint32_t key, *prev = nullptr;
	std::vector<std::uint32_t> keys;
	while (bpf_map_get_next_key(fd.get(), prev, &key) == 0) {
		keys.push_back(key);
		prev = &key;
	}
	EXPECT_EQ(std::vector<std::uint32_t>{300}, keys);
}

TEST_F(ProbePinning, AnIncompatibleSetIsDetachedAndUnpinned)
{
	pin_in_dying_child();
	auto pins = ProbePins::open(dir_);
	ASSERT_TRUE(pins) << pins.error().message();
	ProbeOptions other = opts_;
	other.ring_bytes = 1 << 17;
	Adoption how;
	auto probe = MeasurementProbe::adopt(*pins, ProbeMode::trace, other, policy_, how);
	ASSERT_TRUE(probe) << probe.error().message();
	EXPECT_FALSE(*probe);
	EXPECT_NE(how.detail.find("ring buffer of 65536 bytes"), std::string::npos) << how.detail;
	EXPECT_TRUE(std::filesystem::is_empty(dir_)) << "the old set is still pinned";
	EXPECT_FALSE(pins->info());
}

TEST_F(ProbePinning, AChangedPolicyEmptiesTheMeasuredCache)
{
	pin_in_dying_child();
	exec_true();
	auto pins = ProbePins::open(dir_);
	ASSERT_TRUE(pins);
	auto tcb = load_measure_policy("tcb", ProbeMode::trace);
	ASSERT_TRUE(tcb);
	{
		// The old owner's cache holds the file (read through the pinned map).
		UniqueFd measured(bpf_obj_get((dir_ + "/measured").c_str()));
		ASSERT_TRUE(measured);
		ASSERT_TRUE(true_is_cached(measured.get()));
	}
	Adoption how;
	auto probe = MeasurementProbe::adopt(*pins, ProbeMode::trace, opts_, tcb->compiled, how);
	ASSERT_TRUE(probe && *probe) << how.detail;
	EXPECT_TRUE(how.policy_changed);
	EXPECT_FALSE(true_is_cached((*probe)->measured_fd()))
		<< "files judged by the old policy are still cached";
}

} // namespace
} // namespace eima::agent
