// The kernel half of eimad: loads one of the two BPF measurement programs (BPF LSM hooks,
// or tracepoints where BPF LSM is absent), fills its policy map and exposes the maps the
// agent reads. Destroying the probe detaches everything: nothing is pinned.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bpf/abi/event.h"
#include "bpf/abi/policy.h"
#include "common/error.h"

namespace eima::agent {

enum class ProbeMode { lsm, trace };
std::string_view probe_mode_name(ProbeMode mode);

struct ProbeOptions {
	std::uint64_t host_mntns = 0;
	std::uint32_t agent_tgid = 0;
	bool want_file_check = false; // lsm only: attach file_open work (FILE_CHECK rules)
	// Ring buffer size in bytes (a power of two, at least a page); 0 keeps the 4 MiB of
	// the BPF object. Small rings make overflow testable.
	std::uint32_t ring_bytes = 0;
	// lsm only: the sleepable hooks that hash each new file in the kernel
	// (bpf_ima_file_hash); false loads the hooks that only report it.
	bool kernel_digest = false;
};

// Why BPF LSM cannot be used here, or an empty string when it can be tried: "bpf" must be
// in /sys/kernel/security/lsm (lsm= on the kernel command line).
std::string bpf_lsm_unavailable_reason();

class MeasurementProbe {
public:
	static Result<std::unique_ptr<MeasurementProbe>> load(ProbeMode mode, const ProbeOptions &opts,
							      const eima_policy &policy);
	virtual ~MeasurementProbe() = default;

	ProbeMode mode() const { return mode_; }
	// Events carry the file's digest, taken in the hook (ProbeOptions::kernel_digest).
	bool kernel_digest() const { return kernel_digest_; }
	int events_fd() const { return events_fd_; }
	int measured_fd() const { return measured_fd_; }
	int known_mntns_fd() const { return known_mntns_fd_; }
	int dropped_fd() const { return dropped_fd_; }
	int counters_fd() const { return counters_fd_; }
	int policy_fd() const { return policy_fd_; }
	// Names of the attached programs, for `eima status`.
	const std::vector<std::string> &programs() const { return programs_; }

	// Summed per-CPU counters, indexed by enum eima_counter.
	Result<std::vector<std::uint64_t>> counters() const;
	// One of them (EIMA_CNT_*): a map lookup, where counters() makes one per counter.
	Result<std::uint64_t> counter(std::uint32_t index) const;
	Result<void> set_policy(const eima_policy &policy);
	// Forget a file version so the next access reports it again (after a failed measurement).
	void forget(const eima_measured_key &key);
	void mark_known(std::uint64_t mntns);
	// The namespace is gone: its inode number will be reused, so nothing recorded under it
	// (known, lost-event count, and measured files where mntns_id is the inode too) may
	// carry over to the next one.
	void forget_mntns(std::uint64_t mntns_inode, std::uint64_t mntns_id);

protected:
	MeasurementProbe() = default;
	ProbeMode mode_ = ProbeMode::trace;
	bool kernel_digest_ = false;
	int events_fd_ = -1, measured_fd_ = -1, known_mntns_fd_ = -1, dropped_fd_ = -1,
	    counters_fd_ = -1, policy_fd_ = -1;
	std::vector<std::string> programs_;
};

} // namespace eima::agent
