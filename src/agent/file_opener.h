// Opens the file an event names, as the process that ran it saw it, to hash it.
//
// Measurement is asynchronous: by the time eimad reads an event, the process may have
// exited. So each container's root directory is held open (O_PATH) from the first moment
// eimad sees one of its processes alive, and paths are resolved beneath it with openat2
// RESOLVE_IN_ROOT (symlinks cannot escape). The file opened is then checked to be the one
// the kernel reported (device and inode): if it is not, the measurement is a violation.
#pragma once

#include <cstdint>
#include <string>

#include "bpf/abi/event.h"
#include "common/error.h"
#include "common/unique_fd.h"

namespace eima::agent {

// O_PATH fd of /proc/PID/root: the process's root as it sees it (pivot_root, chroot).
Result<UniqueFd> open_process_root(int pid);

// Opens path (absolute, as seen from root) read-only beneath root_fd and checks that it is
// the file (dev, ino) the kernel reported. Errors say which step failed.
Result<UniqueFd> open_measured_file(int root_fd, const std::string &path,
				    const eima_file_id &expected);

// Kernel dev_t (MAJOR << 20 | MINOR) of a userspace st_dev.
std::uint64_t kernel_dev(std::uint64_t st_dev);

} // namespace eima::agent
