#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "agent/container_identity.h"

using namespace eima::agent;

namespace {
const std::string hex64 = "3f4ad6b1e3d3d3c0a9f1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f607";
}

TEST(ContainerIdentity, DockerSystemdScope)
{
	auto id = container_id_from_cgroup("0::/system.slice/docker-" + hex64 + ".scope\n", "");
	ASSERT_TRUE(id);
	EXPECT_EQ(id->runtime, "docker");
	EXPECT_EQ(id->id, hex64);
}

TEST(ContainerIdentity, DockerCgroupfsV1)
{
	std::string text = "12:memory:/docker/" + hex64 + "\n11:cpu,cpuacct:/docker/" + hex64 +
			   "\n0::/\n";
	auto id = container_id_from_cgroup(text, "");
	ASSERT_TRUE(id);
	EXPECT_EQ(id->runtime, "docker");
	EXPECT_EQ(id->id, hex64);
}

TEST(ContainerIdentity, ContainerdKubepods)
{
	auto id = container_id_from_cgroup(
		"0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1234.slice/"
		"cri-containerd-" + hex64 + ".scope\n", "");
	ASSERT_TRUE(id);
	EXPECT_EQ(id->runtime, "containerd");
	EXPECT_EQ(id->id, hex64);
	auto raw = container_id_from_cgroup("0::/kubepods/besteffort/pod1234/" + hex64 + "\n", "");
	ASSERT_TRUE(raw);
	EXPECT_EQ(raw->runtime, "containerd");
}

TEST(ContainerIdentity, CrioAndPodman)
{
	auto crio = container_id_from_cgroup("0::/kubepods.slice/crio-" + hex64 + ".scope\n", "");
	ASSERT_TRUE(crio);
	EXPECT_EQ(crio->runtime, "cri-o");
	auto pod = container_id_from_cgroup(
		"0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + hex64 +
		".scope/container\n", "");
	ASSERT_TRUE(pod);
	EXPECT_EQ(pod->runtime, "podman");
	EXPECT_EQ(pod->id, hex64);
	// The cgroupfs manager (no systemd), as podman 4.3 writes it on a Debian 12 host.
	auto cgroupfs = container_id_from_cgroup("12:cpuset:/libpod_parent/libpod-" + hex64 +
						 "\n0::/libpod_parent/libpod-" + hex64 + "\n", "");
	ASSERT_TRUE(cgroupfs);
	EXPECT_EQ(cgroupfs->runtime, "podman");
	EXPECT_EQ(cgroupfs->id, hex64);
	EXPECT_FALSE(container_id_from_cgroup("0::/libpod_parent/libpod-xyz\n", ""));
	EXPECT_FALSE(container_id_from_cgroup("0::/libpod_parent/conmon\n", ""));
}

TEST(ContainerIdentity, RuncByStateDirectory)
{
	auto dir = std::filesystem::temp_directory_path() / "eima-runc-state-test";
	std::filesystem::create_directories(dir / "web1");
	std::ofstream(dir / "web1" / "state.json") << "{}";
	auto id = container_id_from_cgroup("0::/web1\n", dir.string());
	auto none = container_id_from_cgroup("0::/web2\n", dir.string());
	std::filesystem::remove_all(dir);
	ASSERT_TRUE(id);
	EXPECT_EQ(id->runtime, "runc");
	EXPECT_EQ(id->id, "web1");
	EXPECT_FALSE(none);
}

TEST(ContainerIdentity, ContainerdWithoutKubernetesByItsRuncState)
{
	// ctr run: cgroup /<namespace>/<id>, runc state in <root>/<namespace>/<id>.
	auto root = std::filesystem::temp_directory_path() / "eima-containerd-runc-test";
	std::filesystem::create_directories(root / "eima-test" / "web-1");
	std::ofstream(root / "eima-test" / "web-1" / "state.json") << "{}";
	auto id = container_id_from_cgroup("4:memory:/eima-test/web-1\n0::/eima-test/web-1\n",
					   "", root.string());
	auto other = container_id_from_cgroup("0::/other-ns/web-1\n", "", root.string());
	auto sneaky = container_id_from_cgroup("0::/../web-1\n", "", root.string()); // ns ".."
	std::filesystem::remove_all(root);
	ASSERT_TRUE(id);
	EXPECT_EQ(id->runtime, "containerd");
	EXPECT_EQ(id->id, "web-1");
	EXPECT_EQ(id->engine_namespace, "eima-test");
	EXPECT_FALSE(other);
	EXPECT_FALSE(sneaky);
	// Under Kubernetes (CRI) the namespace is k8s.io.
	auto cri = container_id_from_cgroup("0::/kubepods.slice/cri-containerd-" + hex64 + ".scope\n", "");
	ASSERT_TRUE(cri);
	EXPECT_EQ(cri->engine_namespace, "k8s.io");
}

TEST(ContainerIdentity, HostAndGarbage)
{
	EXPECT_FALSE(container_id_from_cgroup("0::/user.slice/user-0.slice/session-3.scope\n", ""));
	EXPECT_FALSE(container_id_from_cgroup("", ""));
	EXPECT_FALSE(container_id_from_cgroup("garbage without colons\n::\n", ""));
	EXPECT_FALSE(container_id_from_cgroup("0::/docker-xyz.scope\n", "")); // not hex
	EXPECT_EQ(container_name(std::nullopt, 4026532423), "mntns-4026532423");
}
