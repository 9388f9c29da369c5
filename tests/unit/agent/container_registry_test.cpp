// ContainerRegistry against a made-up /proc: ids from the cgroup and unique among live,
// retiring and exited containers, roots captured from a process still in the namespace,
// reaping by namespaces no process is in, and exited containers kept up to keep_exited.
#include "agent/container_registry.h"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "../tpm/tpm_test_support.h"
#include "agent_fakes.h"

namespace eima::agent {
namespace {

using testing::event_in;
using testing::FakeProcesses;

const std::string hex64 = "3f4ad6b1e3d3d3c0a9f1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f607";
const std::string docker_cgroup = "0::/system.slice/docker-" + hex64 + ".scope\n";

TEST(ContainerRegistry, NamesAContainerFromItsCgroupAndHoldsItsRoot)
{
	FakeProcesses proc;
	proc.procs[100] = {4001, docker_cgroup};
	ContainerRegistry reg(proc, "", 10);
	Container &c = reg.add(event_in(77, 4001, 100));
	EXPECT_EQ(c.key, 77u);
	EXPECT_EQ(c.id, hex64);
	EXPECT_EQ(c.runtime, "docker");
	EXPECT_EQ(c.ns.mnt, 4001u);
	EXPECT_EQ(c.ns.pid, 4002u);
	EXPECT_EQ(c.ns.uts, 4003u);
	EXPECT_EQ(c.cgroup_id, 4004u);
	EXPECT_TRUE(c.root);
	EXPECT_EQ(reg.find(77), &c);
	EXPECT_EQ(reg.find_id(hex64), &c);
	EXPECT_EQ(reg.find(78), nullptr);
}

TEST(ContainerRegistry, AProcessAlreadyGoneLeavesTheNamespaceAsNameAndAnotherProvidesTheRoot)
{
	FakeProcesses proc;
	proc.procs[200] = {5001, "0::/\n"}; // another process of the same namespace
	ContainerRegistry reg(proc, "", 10);
	Container &c = reg.add(event_in(9, 5001, 100)); // pid 100 exited before we looked
	EXPECT_EQ(c.id, "mntns-5001");
	EXPECT_EQ(c.runtime, "");
	EXPECT_TRUE(c.root);

	proc.procs.clear();
	Container &d = reg.add(event_in(10, 5002, 101));
	EXPECT_FALSE(d.root); // nobody left in it
}

TEST(ContainerRegistry, AContainerWhoseProcessAndCgroupAreGoneIsNamedFromTheHooksCgroup)
{
	FakeProcesses proc; // no process, no cgroup by id
	ContainerRegistry reg(proc, "", 10);
	Container &c = reg.add(event_in(9, 5001, 100), "/machine.slice/libpod-" + hex64 + ".scope");
	EXPECT_EQ(c.id, hex64);
	EXPECT_EQ(c.runtime, "podman");
	EXPECT_EQ(reg.add(event_in(10, 5002, 101), "/user.slice").id, "mntns-5002");
	EXPECT_EQ(reg.add(event_in(11, 5003, 102)).id, "mntns-5003");
	// The cgroup by id, while it exists, comes first.
	proc.cgroups[5007] = "/system.slice/docker-" + hex64 + ".scope";
	EXPECT_EQ(reg.add(event_in(12, 5004, 103), "/x").runtime, "docker");
}

TEST(ContainerRegistry, IdsStayUniqueAcrossLiveRetiringAndExited)
{
	FakeProcesses proc;
	proc.procs[1] = {11, docker_cgroup};
	proc.procs[2] = {12, docker_cgroup};
	ContainerRegistry reg(proc, "", 10);
	// A runtime id reused by a second live namespace gets the namespace's id too.
	EXPECT_EQ(reg.add(event_in(101, 11, 1)).id, hex64);
	EXPECT_EQ(reg.add(event_in(102, 12, 2)).id, hex64 + "-102");

	// Retiring: its id is still taken.
	Container gone = reg.take(101);
	EXPECT_EQ(gone.id, hex64);
	EXPECT_TRUE(reg.retiring(hex64));
	EXPECT_TRUE(reg.id_taken(hex64));
	proc.procs[3] = {13, docker_cgroup};
	EXPECT_EQ(reg.add(event_in(103, 13, 3)).id, hex64 + ".2");

	// Exited: still taken, now found as exited.
	reg.exited({gone.id, "docker", "", gone.ns, 0, {}, 0, 0, "none: no vTPM"});
	EXPECT_FALSE(reg.retiring(hex64));
	ASSERT_NE(reg.find_exited(hex64), nullptr);
	EXPECT_EQ(reg.find_exited(hex64)->final_evidence, "none: no vTPM");
	reg.take(103);
	proc.procs[4] = {14, docker_cgroup};
	EXPECT_EQ(reg.add(event_in(104, 14, 4)).id, hex64 + ".3"); // .2 is retiring
}

TEST(ContainerRegistry, AReusedNamespaceInodeRetiresTheOlderContainer)
{
	FakeProcesses proc;
	ContainerRegistry reg(proc, "", 10);
	reg.add(event_in(1, 500, 1));
	reg.add(event_in(2, 600, 2));
	// A new namespace (id 3) under inode 500: the one keyed 1 has exited.
	auto old = reg.take_reused(500, 3);
	ASSERT_EQ(old.size(), 1u);
	EXPECT_EQ(old[0].key, 1u);
	EXPECT_EQ(reg.find(1), nullptr);
	EXPECT_NE(reg.find(2), nullptr);
	EXPECT_TRUE(reg.take_reused(600, 2).empty()); // its own key is not "another"
}

TEST(ContainerRegistry, GoneAreTheNamespacesNoProcessIsIn)
{
	FakeProcesses proc;
	ContainerRegistry reg(proc, "", 10);
	EXPECT_TRUE(reg.gone().empty());
	proc.procs[1] = {500, ""};
	proc.procs[2] = {600, ""};
	reg.add(event_in(1, 500, 1));
	reg.add(event_in(2, 600, 2));
	EXPECT_TRUE(reg.gone().empty());
	proc.procs.erase(2);
	EXPECT_EQ(reg.gone(), std::vector<std::uint64_t>{2});
}

TEST(ContainerRegistry, LostEventsGoToTheLiveContainerUnderTheInodeElseANewOne)
{
	FakeProcesses proc;
	ContainerRegistry reg(proc, "", 10);
	Container &c = reg.add(event_in(1, 500, 1));
	bool created = true;
	EXPECT_EQ(&reg.for_lost_events(500, created), &c);
	EXPECT_FALSE(created);
	Container &n = reg.for_lost_events(700, created);
	EXPECT_TRUE(created);
	EXPECT_EQ(n.id, "mntns-700");
	EXPECT_EQ(n.key, 700u);
	EXPECT_EQ(&reg.for_lost_events(700, created), &n);
	EXPECT_FALSE(created);
}

TEST(ContainerRegistry, ExitedBeyondKeepAreDroppedWithTheirDirectories)
{
	tpm::testing::TempDir tmp;
	FakeProcesses proc;
	ContainerRegistry reg(proc, "", 2);
	for (int i = 0; i < 3; ++i) {
		std::string dir = tmp.path() + "/c" + std::to_string(i);
		std::filesystem::create_directories(dir);
		reg.exited({"c" + std::to_string(i), "", dir, {}, 0, {}, 0, 0, "none: no vTPM"});
	}
	ASSERT_EQ(reg.exited().size(), 2u);
	EXPECT_EQ(reg.exited().front().id, "c1");
	EXPECT_EQ(reg.pruned(), 1u);
	EXPECT_FALSE(std::filesystem::exists(tmp.path() + "/c0"));
	EXPECT_TRUE(std::filesystem::exists(tmp.path() + "/c1"));
	EXPECT_EQ(reg.find_exited("c0"), nullptr);
}


TEST(ContainerRegistry, AGoneProcessIsNamedByTheCgroupItsEventNames)
{
	// runc/podman: the process exited before its first event was read; its cgroup (the
	// event's cgroup id) is still there, so the container keeps its engine's id.
	FakeProcesses proc;
	ContainerRegistry reg(proc, "", 10);
	proc.cgroups[6004] = "/machine.slice/libpod-" + hex64 + ".scope";
	Container &c = reg.add(event_in(21, 6001, 300)); // cgroup id 6004
	EXPECT_EQ(c.id, hex64);
	EXPECT_EQ(c.runtime, "podman");
	EXPECT_EQ(c.ns.pid, 6002u);
	EXPECT_EQ(c.ns.uts, 6003u);
	EXPECT_EQ(c.cgroup_id, 6004u);

	// Neither the process nor its cgroup: the namespace names it.
	Container &d = reg.add(event_in(22, 7001, 301));
	EXPECT_EQ(d.id, "mntns-7001");
}

TEST(ContainerRegistry, AContainerRunsAgainOnlyInTheSameNamespace)
{
	FakeProcesses proc;
	proc.procs[100] = {4001, docker_cgroup, 77, 5000};
	ContainerRegistry reg(proc, "", 10);
	SavedContainer s = saved_of(reg.add(event_in(77, 4001, 100)));
	EXPECT_EQ(s.anchor_pid, 100);
	EXPECT_EQ(s.anchor_start, 5000u);
	reg.take(77);

	EXPECT_TRUE(reg.still_runs(s));
	// The inode reused by another namespace (unique id 78): the container has exited.
	proc.procs[100] = {4001, docker_cgroup, 78, 5000};
	EXPECT_FALSE(reg.still_runs(s));
	proc.procs.clear();
	EXPECT_FALSE(reg.still_runs(s));

	// A kernel without NS_GET_MNTNS_ID: its first process, started at the same time, still
	// in a namespace with that inode.
	proc.procs[100] = {4001, docker_cgroup, std::nullopt, 5000};
	proc.procs[101] = {4001, docker_cgroup, std::nullopt, 5100};
	EXPECT_TRUE(reg.still_runs(s));
	proc.procs[100].start_time = 6000; // pid reused
	EXPECT_FALSE(reg.still_runs(s));
}

TEST(ContainerRegistry, ARestoredContainerIsLiveUnderItsKeyAndId)
{
	FakeProcesses proc;
	ContainerRegistry reg(proc, "", 10);
	SavedContainer s{"abc", "runc", 90, {8001, 8002, 8003}, 8004, 12, 34};
	Container &c = reg.restore(s);
	EXPECT_EQ(reg.find(90), &c);
	EXPECT_EQ(reg.find_id("abc"), &c);
	EXPECT_EQ(c.runtime, "runc");
	EXPECT_EQ(c.ns.uts, 8003u);
	EXPECT_EQ(c.cgroup_id, 8004u);
	SavedContainer back = saved_of(c);
	EXPECT_EQ(back.anchor_pid, 12);
	EXPECT_EQ(back.anchor_start, 34u);
}

TEST(HostProcesses, ACgroupIdResolvesToItsPathWhileItExists)
{
	// The real kernel: a cgroup v2 directory's id is its inode number, and its file handle.
	namespace fs = std::filesystem;
	auto root = HostProcesses::cgroup2_root();
	if (::geteuid() != 0 || !root)
		GTEST_SKIP() << "needs root and cgroup v2";
	std::string name = "eima-unit-" + std::to_string(::getpid());
	fs::path dir = fs::path(*root) / name;
	std::error_code ec;
	ASSERT_TRUE(fs::create_directory(dir, ec)) << ec.message();
	struct stat st{};
	ASSERT_EQ(::stat(dir.c_str(), &st), 0);
	HostProcesses proc;
	auto path = proc.cgroup_path_of(st.st_ino);
	fs::remove(dir, ec);
	ASSERT_TRUE(path) << "open_by_handle_at on cgroupfs";
	EXPECT_EQ(*path, "/" + name);
	EXPECT_FALSE(proc.cgroup_path_of(st.st_ino)) << "a removed cgroup";
	// Our own process: what /proc/self/cgroup names.
	EXPECT_NE(proc.start_time_of(::getpid()), 0u);
	EXPECT_EQ(proc.start_time_of(::getpid()), proc.start_time_of(::getpid()));
}
} // namespace
} // namespace eima::agent
