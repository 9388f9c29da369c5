// The kernel's IMA policy language (Documentation/ABI/testing/ima_policy), parsed and
// validated the way security/integrity/ima/ima_policy.c does it (ima_parse_add_rule,
// ima_parse_rule, ima_validate_rule), plus eima's extensions `container=ID|*|host`, and
// `func=BPF_CHECK` with `cgroup=DIR` (the seeds' rule for BPF loads, policy/bpf_check.h).
//
// A parsed Policy is what the text says, checked for the kernel's rules of form; whether
// eima can honour a rule in a given mode is a separate question (policy_compiler.h).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bpf/abi/policy.h"
#include "common/error.h"

namespace eima::policy {

// Where eima sees file accesses: BPF LSM hooks, or tracepoints where BPF LSM is absent.
enum class KernelMode { lsm, trace };

std::string_view mode_name(KernelMode mode);

// uid=, uid<, uid> and the same for euid, gid, egid, fowner, fgroup.
struct IdCondition {
	std::uint32_t value = 0;
	eima_cmp cmp = EIMA_CMP_EQ;

	bool operator==(const IdCondition &) const = default;
};

// eima's extension: container=host, container=* (any container), container=ID.
struct ContainerCondition {
	enum class Kind { host, any, named };
	Kind kind = Kind::any;
	std::string id; // for Kind::named: a runtime container id or a prefix of one

	bool operator==(const ContainerCondition &) const = default;
};

// One rule as written. Conditions that are absent are nullopt/empty.
struct PolicyRule {
	eima_action action = EIMA_ACT_MEASURE;
	std::optional<eima_func> func;
	std::string func_spelling; // as written: FILE_MMAP and PATH_CHECK are legacy aliases
	std::optional<std::uint32_t> mask; // one EIMA_MAY_* bit
	bool mask_any = false;             // mask=^MAY_X: the access has the bit (IMA_INMASK),
					   // instead of the access mask being exactly MAY_X
	std::optional<std::uint64_t> fsmagic;
	std::optional<std::array<std::uint8_t, 16>> fsuuid;
	std::optional<std::string> fsname;
	std::optional<IdCondition> uid, euid, gid, egid, fowner, fgroup;
	// LSM labels (SELinux, Smack, AppArmor): the kernel asks the LSM to match them.
	std::optional<std::string> subj_user, subj_role, subj_type, obj_user, obj_role, obj_type;
	std::vector<std::string> keyrings; // func=KEY_CHECK; func=BPF_CHECK: trusted keyrings
	std::vector<std::string> label;    // func=CRITICAL_DATA only
	std::optional<std::string> template_name;
	std::optional<std::string> appraise_type; // imasig, imasig|modsig, sigv3
	std::optional<std::string> appraise_flag; // check_blacklist
	std::vector<std::string> appraise_algos;
	std::optional<std::string> digest_type;   // verity
	bool permit_directio = false;
	std::optional<std::uint32_t> pcr;
	std::optional<ContainerCondition> container;
	// eima's extension for func=BPF_CHECK: a cgroup v2 directory (absolute path, bytes).
	// On appraise/audit it limits the rule to that cgroup's tasks; on dont_appraise it is
	// the exception (policy/bpf_check.h).
	std::optional<std::string> cgroup;

	std::size_t line = 0; // 1-based line in the source
	std::string text;     // the line, without leading blanks

	bool has_lsm_label() const
	{
		return subj_user || subj_role || subj_type || obj_user || obj_role || obj_type;
	}
};

struct Policy {
	std::vector<PolicyRule> rules; // in source order; comments and blank lines dropped
	std::string source;            // file name or "builtin:NAME", for messages
};

// One rule the kernel would refuse. token is the first offending token as written ("" when
// the fault is the rule as a whole, e.g. no action).
struct PolicyError {
	std::size_t line = 0;
	std::string token;
	std::string message;
};

// Longest rule line accepted. The kernel parses one page per write(2) to the policy file
// (ima_write_policy), so a longer line could never be loaded there either.
inline constexpr std::size_t max_rule_length = 4095;

// Parses and validates every rule. Stops at the first invalid rule, like the kernel when
// the policy is written to securityfs: the Error's context is "SOURCE:LINE" and its op
// names the offending token and why.
Result<Policy> parse_policy(std::string_view text, std::string_view source_name);

// Same, but goes on after an invalid rule: returns the valid rules and every error (one per
// invalid line, the first offending token of it).
Policy parse_policy_collecting(std::string_view text, std::string_view source_name,
			       std::vector<PolicyError> &errors);

// Built-in policies:
//  "tcb"  - the kernel's ima_policy=tcb (dont_measure_rules + default_measurement_rules of
//           ima_policy.c): 13 pseudo-filesystem exclusions, then exec, mmap-exec, files
//           read by root (uid or euid 0), modules, firmware and policy.
//  "exec" - eima's default: the same pseudo-filesystem exclusions except tmpfs (files run
//           from /tmp, /dev/shm and memfd live on tmpfs and are exactly what an attacker
//           runs, so eima measures them), then `measure func=BPRM_CHECK` and
//           `measure func=MMAP_CHECK mask=MAY_EXEC`, host and containers alike.
// Unknown name: an Error.
Result<Policy> builtin_policy(std::string_view name);
std::string_view builtin_policy_text(std::string_view name); // "" when unknown

// Canonical names, as the kernel prints them in /sys/kernel/security/ima/policy.
std::string_view action_name(eima_action action);
std::string_view func_name(eima_func func); // "NONE" for EIMA_FUNC_NONE
std::string_view mask_name(std::uint32_t may_bit);

} // namespace eima::policy
