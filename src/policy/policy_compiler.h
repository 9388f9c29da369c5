// From a parsed IMA policy to the array the BPF programs walk (bpf/abi/policy.h), and the
// honest account of what eima cannot do with it in a given mode.
//
// What eima honours in this release: appraise and dont_appraise rules on BPRM_CHECK and
// MMAP_CHECK in lsm mode (bpf/lib/appraise.h; container=ID matched by name in the kernel,
// never widened), and measure and dont_measure rules on the hooks it sees -
// BPRM_CHECK, MMAP_CHECK, MMAP_CHECK_REQPROT, and FILE_CHECK in lsm mode only (no
// tracepoint gives the opened file) - with conditions mask, fsmagic, fsuuid, fsname,
// uid/euid/gid/egid/fowner/fgroup, pcr, template (ima, ima-ng, ima-sig, ima-buf) and
// container. Every other rule is reported and left out of the compiled policy; leaving it
// out is exact for the measurement decision when its action is not measure/dont_measure
// (the kernel evaluates each action family separately), and it is reported as a loss
// otherwise: a dropped measure rule measures less, a dropped dont_measure rule more.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "bpf/abi/policy.h"
#include "common/error.h"
#include "common/hex.h"
#include "policy/ima_policy.h"

namespace eima::policy {

struct UnsupportedRule {
	std::size_t line = 0;       // in the source
	std::size_t rule_index = 0; // index in Policy::rules
	std::string reason;
	// false: the rule is left out of the compiled policy. true: it is compiled but eima
	// does less than the kernel would (e.g. a measure rule without func= also covers
	// modules and firmware in the kernel; eima sees only its hooks).
	bool compiled = false;
};

// Every rule `mode` cannot honour fully, in source order, with the reason.
std::vector<UnsupportedRule> unsupported(const Policy &policy, KernelMode mode);

// True when `mode` honours the rule (fully or partly): it is measure/dont_measure on an
// observed hook with conditions eima evaluates.
bool honoured(const PolicyRule &rule, KernelMode mode);

// True when the rule goes into the kernel's array in this mode. dont_measure rules for a
// named container are honoured but not in the kernel (which cannot tell containers apart
// by name and would exclude every container): the agent applies them with match_policy().
bool compiles_to_kernel(const PolicyRule &rule, KernelMode mode);

// The BPF policy: the rules compiles_to_kernel() accepts, in source order, each with
// rule_index = its index in policy.rules, and `conditions` the union of theirs. Error when more than EIMA_MAX_RULES remain (the
// context names the line of the first rule that does not fit).
Result<eima_policy> compile_policy(const Policy &policy, KernelMode mode);

// The compiled policy as eimad measures it (the buffer of its "eima-policy" host list
// entry, docs/measurer.md): the policy map's value up to its last used rule, i.e.
// `u32 nr_rules | u32 conditions | nr_rules x struct eima_rule`, little-endian, in the
// layout of bpf/abi/policy.h with every padding byte zero. The same source policy and mode
// give the same bytes on every machine; a rule that changes them changes what is measured.
Bytes compiled_policy_bytes(const eima_policy &policy);

// One rule in the ABI form (whether or not the mode honours it).
eima_rule compile_rule(const PolicyRule &rule, std::size_t rule_index);

// Template names eima writes, and their ABI numbers (0 = EIMA_TEMPLATE_DEFAULT if unknown).
std::uint32_t template_id(std::string_view name);

// FNV-1a 64 of a container id: eima_rule.container_hash of an appraise rule with
// container=ID, and what the kernel computes from a cgroup's name (bpf/lib/policy_match.h).
std::uint64_t container_id_hash(std::string_view id);

// True when the compiled policy has an appraise rule (eimad's --appraise default).
bool has_appraise_rules(const eima_policy &compiled);

// True when some rule names a container: the kernel then matches "any container" for it
// and the agent must narrow each container event with match_policy().
bool has_named_containers(const Policy &policy);

} // namespace eima::policy
