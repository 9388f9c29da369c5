// RuntimeStateWatch on real directories with real inotify: state directories created and
// removed before anyone asked are still known, containerd namespaces that appear later are
// watched, roots that appear later are watched, and what is remembered is bounded.
#include "agent/runtime_state_watch.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "agent/container_identity.h"
#include "agent/container_registry.h"
#include "agent_fakes.h"

namespace eima::agent {
namespace {

namespace fs = std::filesystem;

class RuntimeStateWatchTest : public ::testing::Test {
protected:
	void SetUp() override
	{
		dir_ = fs::temp_directory_path() /
		       ("eima-runtime-state-" + std::to_string(::getpid()) + "-" +
			::testing::UnitTest::GetInstance()->current_test_info()->name());
		fs::remove_all(dir_);
		fs::create_directories(dir_);
	}
	void TearDown() override { fs::remove_all(dir_); }
	fs::path dir_;
};

TEST_F(RuntimeStateWatchTest, ARuncContainerGoneBeforeAnyoneAskedIsStillKnown)
{
	fs::create_directories(dir_ / "runc" / "before");
	fs::create_directories(dir_ / "elsewhere");
	fs::create_directory_symlink(dir_ / "elsewhere", dir_ / "runc" / "a-link"); // not state
	std::ofstream(dir_ / "runc" / "a-file") << "x";
	RuntimeStateWatch watch((dir_ / "runc").string(), "");
	ASSERT_TRUE(watch.active());
	fs::create_directories(dir_ / "runc" / "short-lived");
	fs::remove_all(dir_ / "runc" / "short-lived");
	EXPECT_FALSE(watch.seen_runc("short-lived")); // not collected yet
	watch.refresh();
	EXPECT_TRUE(watch.seen_runc("short-lived"));
	EXPECT_TRUE(watch.seen_runc("before")); // there when the watch began
	EXPECT_FALSE(watch.seen_runc("other"));
	EXPECT_FALSE(watch.seen_runc("a-link"));
	EXPECT_FALSE(watch.seen_runc("a-file"));
	EXPECT_EQ(watch.remembered(), 2u);
	EXPECT_FALSE(watch.seen_containerd("", "short-lived"));

	// What identification makes of it: the state is gone, the name is not.
	auto id = container_id_from_cgroup("0::/short-lived\n", (dir_ / "runc").string(), "", &watch);
	ASSERT_TRUE(id);
	EXPECT_EQ(id->runtime, "runc");
	EXPECT_EQ(id->id, "short-lived");
	EXPECT_FALSE(container_id_from_cgroup("0::/short-lived\n", (dir_ / "runc").string(), ""));
	EXPECT_FALSE(container_id_from_cgroup("0::/user.slice\n", (dir_ / "runc").string(), "", &watch));
}

TEST_F(RuntimeStateWatchTest, ContainerdNamespacesAndRootsThatAppearLaterAreWatched)
{
	RuntimeStateWatch watch((dir_ / "runc").string(), (dir_ / "containerd").string());
	watch.refresh(); // neither root exists yet
	fs::create_directories(dir_ / "runc");
	fs::create_directories(dir_ / "containerd");
	watch.refresh(); // now both are watched
	fs::create_directories(dir_ / "runc" / "r1");
	fs::create_directories(dir_ / "containerd" / "default" / "c1");
	watch.refresh(); // the namespace appears: watched, and what it holds is read
	fs::create_directories(dir_ / "containerd" / "default" / "c2");
	fs::remove_all(dir_ / "containerd" / "default" / "c2");
	watch.refresh();
	EXPECT_TRUE(watch.seen_runc("r1"));
	EXPECT_TRUE(watch.seen_containerd("default", "c1"));
	EXPECT_TRUE(watch.seen_containerd("default", "c2"));
	EXPECT_FALSE(watch.seen_containerd("k8s.io", "c2"));
	EXPECT_FALSE(watch.seen_runc("c2"));

	auto id = container_id_from_cgroup("0::/default/c2\n", "", (dir_ / "containerd").string(), &watch);
	ASSERT_TRUE(id);
	EXPECT_EQ(id->runtime, "containerd");
	EXPECT_EQ(id->engine_namespace, "default");
	EXPECT_EQ(id->id, "c2");

	// A root removed and made again is watched again.
	fs::remove_all(dir_ / "runc");
	watch.refresh();
	fs::create_directories(dir_ / "runc");
	watch.refresh();
	fs::create_directories(dir_ / "runc" / "r2");
	watch.refresh();
	EXPECT_TRUE(watch.seen_runc("r2"));
}

TEST_F(RuntimeStateWatchTest, RemembersAtMostKeepNamesOldestForgottenFirst)
{
	fs::create_directories(dir_ / "runc");
	RuntimeStateWatch watch((dir_ / "runc").string(), "", 3);
	for (int i = 0; i < 5; ++i)
		fs::create_directories(dir_ / "runc" / ("c" + std::to_string(i)));
	watch.refresh();
	EXPECT_EQ(watch.remembered(), 3u);
	EXPECT_FALSE(watch.seen_runc("c0"));
	EXPECT_FALSE(watch.seen_runc("c1"));
	EXPECT_TRUE(watch.seen_runc("c4"));
}

TEST_F(RuntimeStateWatchTest, TheRegistryNamesARuncContainerWhoseProcessCgroupAndStateAreGone)
{
	fs::create_directories(dir_ / "runc");
	testing::FakeProcesses proc; // no process, no cgroup by id
	ContainerRegistry reg(proc, (dir_ / "runc").string(), 10, "");
	fs::create_directories(dir_ / "runc" / "job-42");
	fs::remove_all(dir_ / "runc" / "job-42");
	Container &c = reg.add(testing::event_in(9, 5001, 100), "/job-42");
	EXPECT_EQ(c.id, "job-42");
	EXPECT_EQ(c.runtime, "runc");
	// A cgroup no runtime's state ever named is not taken for one.
	EXPECT_EQ(reg.add(testing::event_in(10, 5002, 101), "/job-43").id, "mntns-5002");
}

} // namespace
} // namespace eima::agent
