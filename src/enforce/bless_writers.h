// The processes eimad lets change blessed files in lsm mode: each an `eima bless --run-dir`
// that asked over the control socket as root (docs/enforcement.md, "Re-blessing"). They are
// the BPF map "bless_writers" (tgid -> struct eima_bless_writer, bpf/abi/appraise.h), which
// the hooks of bpf/lib/tamper.h consult, for as long as the process lives: eimad keeps a
// pidfd of each and removes the entry once it has exited (sweep(), every turn of eimad's
// loop, and at the latest when eimad stops: the map goes with the BPF set).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <functional>
#include <vector>

#include "common/error.h"
#include "common/unique_fd.h"

namespace eima::enforce {

class BlessWriters {
public:
	// The map is the loaded set's "bless_writers"; without one (trace mode) every request
	// is refused.
	explicit BlessWriters(UniqueFd map) : map_(std::move(map)) {}

	// Lets `pid` (a tgid, from SO_PEERCRED of a control connection) change blessed files
	// until it exits. peer_waiting says whether that connection's client is still there,
	// checked once the pidfd is open: then the pidfd is the client's, not a reused number's.
	// Errors: no map, the process is gone, the map is full (64 at once, its size in BPF).
	Result<void> authorize(pid_t pid, const std::function<bool()> &peer_waiting);
	// Forgets the processes that have exited.
	void sweep();
	std::size_t size() const { return writers_.size(); }

private:
	struct Writer {
		pid_t pid;
		UniqueFd pidfd; // readable once the process has exited
	};
	UniqueFd map_;
	std::vector<Writer> writers_;
};

} // namespace eima::enforce
