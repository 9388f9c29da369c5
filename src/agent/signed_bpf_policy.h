// "Only signed BPF" run by eimad (docs/signed-bpf.md, "eimad"): the func=BPF_CHECK rules of
// eimad's policy applied with the signed policy object of this kernel's path
// (bpf_policy.signed.bpf.o, native 6.18+; bpf_policy_tl.signed.bpf.o, trusted loader
// 6.12-6.17), pinned under eimad's pin directory as bpf_policy_<pid>, its refusals read
// into RUN/audit.jsonl and `eima events`.
//
// Order at start:
//   0. how eimad loads signed objects (Agent::set_up_bpf_signing): the kernel's signing
//      path, probed once, and on the native path the keyring its loads are checked
//      against: the one the BPF policy of an earlier (killed) eimad trusts, when it holds
//      --bpf-cert's certificate, else a new one (enforce::find_trusted_keyring).
//   1. relax_earlier(): a policy an earlier eimad left pinned keeps enforcing when it lets
//      this eimad's own loads through (native: all of them signed against a keyring it
//      trusts; trusted loader: this executable is one of its trusted loaders). Otherwise
//      (another certificate or binary, unsigned skeletons) it goes to audit mode so that
//      they pass; each load in that window is a would_deny record.
//   2. eimad loads its measurement set (or adopts it).
//   3. load(): the signed policy object is loaded, attached and pinned, not yet enabled (it
//      allows everything until policy_config says enabled).
//   4. self-protection loads its hooks and covers the policy's pins and keyring.
//   5. enable(): configured from the rules and enabled; the earlier sets' queued events go
//      to the log, then their pins (the policy never lapsed: it was attached throughout).
// A clean stop writes what is queued and removes the pins: the policy ends with eimad.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/measurement_probe.h"
#include "agent/self_measurement.h"
#include "bpfsign/bpf_policy.h"
#include "bpfsign/signed_file.h"
#include "common/error.h"
#include "enforce/trusted_keyring.h"
#include "policy/bpf_check.h"

namespace eima::agent {

struct SignedBpfRequest {
	policy::BpfCheckPolicy rules; // mode enforce or audit
	std::string policy_source;    // the policy file, for messages
	std::string objects_dir;      // holds bpf_policy.signed.bpf.o and bpf_policy_tl.signed.bpf.o
	std::string pin_parent;       // eimad's pin directory; "" when eimad pins nothing
	// How eimad loads signed objects (unset without --bpf-cert: an error). Native: the
	// keyring (step 0) the policy object is checked against, and trusts.
	std::optional<bpfsign::SigningContext> signing;
};

// What this eimad will load, for step 1.
struct OwnLoads {
	std::optional<std::int32_t> keyring; // native: what its signed loads are checked against
	bool all_signed = false;	     // every program it loads is signed
};

// Step 1's outcome: the earlier sets switched to audit mode, and those left enforcing.
struct EarlierSets {
	std::vector<std::string> relaxed;
	std::vector<std::string> kept;
};

// Why eimad cannot apply func=BPF_CHECK here, or "" when it can be tried: the policy
// program is a BPF LSM program.
std::string signed_bpf_unavailable(ProbeMode mode, const std::string &lsm_reason);

// The pinned set's directory name prefix under the pin directory: "bpf_policy_".
constexpr const char *signed_bpf_pin_prefix = "bpf_policy_";

class SignedBpfPolicy {
public:
	// Step 0: the keyrings the earlier sets trust (native path).
	static std::vector<std::int32_t> earlier_trusted_keyrings(const std::string &pin_parent);
	// Step 1.
	static EarlierSets relax_earlier(const std::string &pin_parent, const OwnLoads &own);
	// Step 5 without a policy of its own (the rules were removed): the earlier sets' queued
	// events go to sink, then the sets. Returns their directories.
	static std::vector<std::string> remove_earlier(const std::string &pin_parent,
						       const bpfsign::PolicyRecordSink &sink,
						       const std::string &own = "");
	// Step 3.
	static Result<std::unique_ptr<SignedBpfPolicy>> load(const SignedBpfRequest &req);
	// Step 5. Each record (the earlier sets' too) goes to sink.
	Result<void> enable(bpfsign::PolicyRecordSink sink);
	~SignedBpfPolicy();
	SignedBpfPolicy(const SignedBpfPolicy &) = delete;
	SignedBpfPolicy &operator=(const SignedBpfPolicy &) = delete;

	// The events ring, for eimad's loop (-1 before enable()); drain() writes what is queued.
	int events_fd() const;
	Result<std::uint64_t> drain();
	const std::string &pin_dir() const; // "" when not pinned
	// The policy's programs, for the host list (self_measurement.h).
	Result<std::vector<ima::TemplateEntry>> measure(const SelfMeasurementFormat &f) const;
	nlohmann::json status() const;

	struct Impl;

private:
	explicit SignedBpfPolicy(std::unique_ptr<Impl> impl);
	std::unique_ptr<Impl> impl_;
};

} // namespace eima::agent
