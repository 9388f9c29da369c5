// Opens the file an event names, as the process that ran it saw it, to hash it.
//
// Measurement in user space is asynchronous: by the time eimad reads an event, the process
// may have exited and the file may have been rewritten. So each container's root directory
// is held open (O_PATH) from the first moment eimad sees one of its processes alive, paths
// are resolved beneath it with openat2 RESOLVE_IN_ROOT (symlinks cannot escape), and the
// file opened is checked to be the very version the kernel reported: device, inode,
// generation, ctime and size. Any difference means other content: the measurement is then
// a violation, never a digest of what did not run.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bpf/abi/event.h"
#include "common/error.h"
#include "common/unique_fd.h"

namespace eima::agent {

// O_PATH fd of /proc/PID/root: the process's root as it sees it (pivot_root, chroot).
Result<UniqueFd> open_process_root(int pid);

// Opens path (absolute, as seen from root) read-only beneath root_fd and checks that it is
// the file version the kernel reported (check_file_version). Errors say which step failed.
Result<UniqueFd> open_measured_file(int root_fd, const std::string &path,
				    const eima_file_id &expected);

// When no root of the process or its container can be reached (all its processes exited
// before eimad read the event), the file can still be found from the host, then checked
// like any other:
// - mount points in eimad's namespace of the filesystem `dev` whose root is that
//   filesystem's root: an overlay `merged` directory or a bundle's rootfs mount is the
//   container's root, so the container's path resolves beneath it;
// - the file handle (inode and generation) on that filesystem, with open_by_handle_at
//   (CAP_DAC_READ_SEARCH), for filesystems whose handle layout is known (ext2/3/4, xfs,
//   tmpfs): a chroot into a plain directory.
struct HostMount {
	std::string point; // where it is mounted in eimad's namespace
	bool fs_root;      // it shows the filesystem from its root (not a bind of a subtree)
};
std::vector<HostMount> host_mounts_of(std::uint64_t dev);
Result<UniqueFd> open_by_identity(const std::string &mount_point, const eima_file_id &expected);

// Checks that the open file `fd` is still the version `expected` describes: dev, ino,
// ctime, size, and the generation where the filesystem reports one. ESTALE: the path names
// another file now; EAGAIN: the same file, changed since the kernel saw it. Called before
// hashing and again after, so that a rewrite during the hash is caught too.
Result<void> check_file_version(int fd, const std::string &path, const eima_file_id &expected);

// The version of an open file as the BPF programs describe it (eima_file_id), for tests
// and for comparing.
Result<eima_file_id> file_version(int fd);

// Kernel dev_t (MAJOR << 20 | MINOR) of a userspace st_dev.
std::uint64_t kernel_dev(std::uint64_t st_dev);

} // namespace eima::agent
