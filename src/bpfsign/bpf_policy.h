// "Only signed BPF" (bpf/bpf_policy.bpf.c on 6.18+, bpf/bpf_policy_tl.bpf.c on 6.12-6.17):
// configures the policy program once the signed loader has created it, before it is
// attached; records what the trusted loader loaded; turns the policy's refusals into audit
// records (docs/signed-bpf.md).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "bpfsign/signed_loader.h"
#include "common/error.h"
#include "enforce/appraisal_record.h"
#include "enforce/audit_log.h"

struct eima_bpf_policy_event;

namespace eima::bpfsign {

struct BpfPolicySettings {
	SigningPath path = SigningPath::native;
	std::vector<std::int32_t> trusted_keyrings; // native: key serials; at least one
	// trusted-loader: executables whose processes may load anything (eima's own binary,
	// by device and inode); at least one
	std::vector<std::string> trusted_loaders;
	bool audit = false; // record, refuse nothing
	std::string cgroup; // a cgroup v2 directory: only its tasks
	// cgroup v2 directories whose tasks are not judged (a policy's `dont_appraise
	// func=BPF_CHECK cgroup=DIR`); at most EIMA_BPF_POLICY_MAX_EXEMPT
	std::vector<std::string> exempt_cgroups;
};

// The policy object for a path: "bpf_policy" or "bpf_policy_tl".
const char *policy_object_name(SigningPath p);

// Fills the trusted keyrings (native) or loaders (trusted-loader) and policy_config of a
// loaded policy object and enables it. Refuses the other path's object.
Result<void> configure_bpf_policy(const LoadedObject &loaded, const BpfPolicySettings &s);

// Whom a policy pinned in policy_dir (by eimad or `eima bpf enforce --pin`) lets load:
// whether it is enforcing, and what its trust maps hold. A restarted eimad reads it to
// know whether its own loads pass the policy a killed eimad left (signed_bpf_policy.h).
struct PinnedPolicyTrust {
	bool enforcing = false; // enabled, and not in audit mode
	SigningPath path = SigningPath::native;
	std::vector<std::int32_t> keyrings; // native: the trusted keyrings' serials
	bool trusts_own_executable = false; // trusted-loader: this process's is a trusted loader
};
Result<PinnedPolicyTrust> read_pinned_policy_trust(const std::string &policy_dir);
// Switches the policy pinned in policy_dir to audit mode: it records what it would refuse
// and refuses nothing.
Result<void> audit_pinned_policy(const std::string &policy_dir);

// Trusted-loader path: records the tag of each program in `loaded` in the policy pinned in
// policy_dir (its map_trusted_tags), so that the same program may be created again.
Result<void> record_trusted_tags(const LoadedObject &loaded, const std::string &policy_dir);
// The same into an open trusted_tags map.
Result<void> record_trusted_tags(const LoadedObject &loaded, int trusted_tags_fd);

// A refusal (or, in audit mode, a would-be refusal) of the policy as the audit log writes
// it: operation "bpf_prog_load", mechanism "bpf_policy", reason "unsigned_bpf",
// "untrusted_keyring", "unknown_tag" or "too_many_pending_loads", the loader's executable
// as the inode, the program's tag as the digest ("tag:HEX").
enforce::AppraisalRecord bpf_policy_record(const eima_bpf_policy_event &ev,
					   std::int64_t boot_to_wall_ns);

// Where a reader of the policy's events puts each record (the audit log, eimad's events).
using PolicyRecordSink = std::function<Result<void>(const enforce::AppraisalRecord &)>;

// One record of a decision ring as an audit record, or why it is not one (its size).
using RingRecordDecoder = std::function<Result<enforce::AppraisalRecord>(
	std::span<const std::uint8_t> record, std::int64_t boot_to_wall_ns)>;

// A ring record as the struct T the BPF side wrote, or an error naming `what` when it is
// too short.
template <class T>
Result<T> ring_record_as(std::span<const std::uint8_t> data, const char *what)
{
	if (data.size() < sizeof(T))
		return fail(EINVAL, what, std::to_string(data.size()) + " bytes");
	T out{};
	std::memcpy(&out, data.data(), sizeof(out));
	return out;
}

// The executable a process runs while it exists, "" after: a decision record's path.
std::string executable_of(std::uint32_t pid);

// The policy's events ring (map_policy_events), read for as long as this lives: by
// `eima bpf drain`/`enforce --audit-log`, and by eimad on its event loop (epoll_fd()).
// open_ring reads another ring of decisions the same way (self-protection's refusals).
class PolicyEventReader {
public:
	static Result<PolicyEventReader> open(const std::string &policy_dir, PolicyRecordSink sink);
	// ring_fd is duplicated; `what` names the ring in errors.
	static Result<PolicyEventReader> open_ring(int ring_fd, const std::string &what,
						   RingRecordDecoder decode, PolicyRecordSink sink);
	PolicyEventReader(PolicyEventReader &&) noexcept;
	PolicyEventReader &operator=(PolicyEventReader &&) noexcept;
	~PolicyEventReader();
	int epoll_fd() const;
	// What is queued now, each to the sink; the number of records.
	Result<std::uint64_t> consume();
	// Waits up to timeout_ms for events (EINTR is not an error), then as consume().
	Result<std::uint64_t> poll(int timeout_ms);
	std::uint64_t written() const;

	struct State;

private:
	PolicyEventReader() = default;
	std::unique_ptr<State> st_;
};

// Reads the policy's events ring (map_policy_events pinned in policy_dir) and appends
// each event to log, until stop is set (then what is queued is still written). With
// follow false, writes what is queued and returns. Returns the number of records written.
Result<std::uint64_t> drain_policy_events(const std::string &policy_dir, enforce::AuditLog &log,
					  bool follow, const std::atomic<bool> &stop);

} // namespace eima::bpfsign
