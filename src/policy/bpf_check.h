// func=BPF_CHECK: the seeds' rule for BPF program loads, in the IMA policy language, and
// what it means for eima's "only signed BPF" policy program (bpf/bpf_policy*.bpf.c,
// docs/signed-bpf.md):
//
//   appraise func=BPF_CHECK appraise_type=imasig [keyrings=K|K] [cgroup=DIR]   enforce
//   audit func=BPF_CHECK [keyrings=K|K] [cgroup=DIR]        record what enforce would refuse
//   dont_appraise func=BPF_CHECK cgroup=DIR                 an exception: DIR's tasks
//
// keyrings= are the keyrings whose signatures count (native path, 6.18+), in addition to
// the one the policy program itself is checked against; cgroup= on appraise/audit limits
// the rule to the tasks of exactly that cgroup v2. A policy has at most one appraise or
// audit BPF_CHECK rule, and its exceptions come before it (IMA takes the first rule that
// matches, so an exception after it would never apply).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "policy/ima_policy.h"

namespace eima::policy {

// A keyrings= item of a BPF_CHECK rule: a key serial (decimal), or the kernel's system
// keyrings by name, which BPF_PROG_LOAD's keyring_id names by number: .builtin_trusted_keys
// (0), .secondary_trusted_keys (1), .platform (2). "eima" is the keyring named eima in the
// user keyring, looked up when the policy is applied: nullopt here.
bool bpf_keyring_known(std::string_view name);
std::optional<std::int32_t> bpf_keyring_id(std::string_view name);

struct BpfCheckException {
	std::size_t line = 0;
	std::string cgroup; // a cgroup v2 directory
	std::string text;   // the rule as written
};

struct BpfCheckPolicy {
	enum class Mode { none, enforce, audit };
	Mode mode = Mode::none;
	std::size_t line = 0;          // the appraise or audit rule (0 when none)
	std::string text;              // that rule as written
	std::vector<std::string> keyrings; // its keyrings=, as written
	std::optional<std::string> cgroup; // its cgroup=: only these tasks
	std::vector<BpfCheckException> exceptions;
};

std::string_view bpf_check_mode_name(BpfCheckPolicy::Mode mode); // "none", "enforce", "audit"

// The BPF_CHECK rules of a parsed policy as one setting. Errors ("SOURCE:LINE" context) for
// a second appraise or audit rule, an exception after it, or more exceptions than the
// policy program holds (EIMA_BPF_POLICY_MAX_EXEMPT).
Result<BpfCheckPolicy> bpf_check_policy(const Policy &policy);

// The same, collecting every error (for `eima policy check`).
BpfCheckPolicy bpf_check_policy_collecting(const Policy &policy,
					   std::vector<PolicyError> &errors);

// {"mode": "enforce"|"audit"|"none", "line": N, "rule": "...", "keyrings": [...],
//  "cgroup": DIR|null, "exceptions": [{"line", "cgroup", "rule"}]}
nlohmann::json bpf_check_report(const BpfCheckPolicy &bpf);

} // namespace eima::policy
