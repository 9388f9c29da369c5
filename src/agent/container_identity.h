// Who a process belongs to: the mount namespace is the key (it is what the BPF programs
// see and what decides which files a process can name); the runtime's container id comes
// from the process's cgroup path, as docker, containerd, CRI-O, podman and runc name them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "agent/runtime_state_watch.h"
#include "common/error.h"

namespace eima::agent {

struct RuntimeContainerId {
	std::string runtime; // "docker", "containerd", "cri-o", "podman", "runc"
	std::string id;
	// The engine's namespace where ids are per namespace: containerd's ("k8s.io" under
	// Kubernetes, "default" for ctr, ...); "" otherwise.
	std::string engine_namespace;
};

// Reads a /proc/PID/cgroup text (v1 or v2). Finds the last path component naming a
// container: docker-<64hex>.scope, /docker/<64hex>, cri-containerd-<hex>.scope,
// /kubepods/.../<64hex> (containerd), crio-<hex>.scope, libpod-<hex>.scope (and podman's
// cgroupfs /libpod_parent/libpod-<hex>), a runc container whose name is a directory under
// runc_state_dir (runc's default cgroup path is /<id>), and a containerd container started
// without Kubernetes (ctr; cgroup /<namespace>/<id>), known by its runc state under
// containerd_runc_root/<namespace>/<id>. `recent`, when given, also knows the state of
// runc and containerd containers already removed. nullopt when nothing names a container.
std::optional<RuntimeContainerId>
container_id_from_cgroup(std::string_view cgroup_text, const std::string &runc_state_dir = "/run/runc",
			 const std::string &containerd_runc_root = "/run/containerd/runc",
			 const RuntimeStateWatch *recent = nullptr);

struct NamespaceIds {
	std::uint64_t mnt = 0, pid = 0, uts = 0;
};

// Inode numbers of /proc/PID/ns/{mnt,pid,uts}.
Result<NamespaceIds> namespaces_of(int pid);

// The id eima uses for a container: the runtime's id, or "mntns-<inode>".
std::string container_name(const std::optional<RuntimeContainerId> &rid, std::uint64_t mntns);

} // namespace eima::agent
