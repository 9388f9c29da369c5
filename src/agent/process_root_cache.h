// The root of the process that caused an event (/proc/PID/root), opened once for a run of
// events of that process instead of once per event: a burst from one process (a loader
// mapping its libraries, a build) costs one open. One entry, so it never holds more than
// one fd, and cleared after every drain of the ring buffer. A stale entry (the process
// exited, its pid was reused, it called chroot) cannot give a wrong digest: every file
// opened beneath a root is checked against the version the kernel reported
// (open_measured_file), and the other roots are tried when it is not that file.
#pragma once

#include "common/unique_fd.h"

namespace eima::agent {

class ProcessRootCache {
public:
	// An O_PATH fd of PID's root, owned by the cache (valid until the next call or
	// clear()), or -1 when the process is gone (remembered too).
	int root_of(int pid);
	void clear();
	// How many /proc/PID/root opens were attempted (for the tests).
	unsigned long opens() const { return opens_; }

private:
	int pid_ = -1;
	UniqueFd root_;
	unsigned long opens_ = 0;
};

} // namespace eima::agent
