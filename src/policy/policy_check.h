// `eima policy check`: every error, every rule eima cannot honour, and counts, for a
// policy file, in one pass that does not stop at the first error.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/hex.h"
#include "policy/bpf_check.h"
#include "policy/ima_policy.h"
#include "policy/policy_compiler.h"

namespace eima::policy {

struct PolicyCheck {
	std::string source;
	KernelMode mode = KernelMode::lsm;
	std::vector<PolicyRule> rules;           // the valid rules, in order
	std::vector<PolicyError> errors;         // rules the kernel would refuse, and a policy
						 // too large for the BPF array
	std::vector<UnsupportedRule> unsupported; // valid rules `mode` cannot honour fully
	std::size_t kernel_rules = 0;            // rules that go into the BPF array
	// func=BPF_CHECK rules: not eimad's (they are not in `unsupported`), but what `eima
	// bpf enforce --policy` applies; their errors are in `errors`.
	BpfCheckPolicy bpf;
	// A valid policy's compiled_policy_bytes(): the buffer of eimad's "eima-policy" host list
	// entry when it runs this policy in this mode (docs/measurer.md). Empty when invalid.
	Bytes compiled;

	bool valid() const { return errors.empty(); }
};

PolicyCheck check_policy(std::string_view text, std::string_view source,
			 KernelMode mode = KernelMode::lsm);

// {
//   "source": "...", "mode": "lsm"|"trace", "valid": bool,
//   "rules": N (valid rules; comments, blank lines and invalid rules excluded),
//   "kernel_rules": N (rules compiled into the BPF array),
//   "actions": {"measure": N, ...}, "funcs": {"BPRM_CHECK": N, ..., "NONE": rules without
//   func=} (legacy spellings counted under the canonical name),
//   "unsupported": [{"line", "rule_index", "reason", "compiled"}],
//   "bpf": bpf_check_report() (func=BPF_CHECK: mode, keyrings, cgroup, exceptions),
//   "errors": [{"line", "token", "message"}]
// }
nlohmann::json check_report(const PolicyCheck &check);

} // namespace eima::policy
