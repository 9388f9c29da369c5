// The measurement decision, in C++: exactly what bpf/lib/policy_match.h does in the
// kernel. Unit tests pin its semantics, and tests/bpf runs both on the same accesses for
// every corpus policy, so the two cannot drift apart unnoticed.
// Mirrors ima_match_rules()/ima_match_policy() of security/integrity/ima/ima_policy.c for
// the measure family: walk the rules in order; the first rule whose action is measure or
// dont_measure and whose conditions all hold decides.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "bpf/abi/policy.h"
#include "policy/ima_policy.h"

namespace eima::policy {

// One call of IMA's process_measurement(): which hook, with which access mask, on which
// file, by which credentials. An mmap with PROT_EXEC is one access with func MMAP_CHECK;
// when the application itself asked for PROT_EXEC (reqprot) the kernel also makes a second
// one with func MMAP_CHECK_REQPROT - see match_mmap().
struct FileAccess {
	eima_func func = EIMA_FUNC_BPRM_CHECK;
	std::uint32_t mask = EIMA_MAY_EXEC; // EIMA_MAY_* bits of the access
	std::uint64_t fsmagic = 0;          // inode->i_sb->s_magic
	std::array<std::uint8_t, 16> fsuuid{};
	std::string fsname; // inode->i_sb->s_type->name
	std::uint32_t uid = 0, euid = 0, suid = 0, gid = 0, egid = 0, sgid = 0;
	std::uint32_t fowner = 0, fgroup = 0; // inode owner and group
	// The kernel's euid=/egid= also hold when suid/uid (sgid/gid) match if the task has
	// CAP_SETUID (CAP_SETGID).
	bool cap_setuid = false, cap_setgid = false;
	bool is_host = true;      // the host's mount namespace, not a container's
	std::string container_id; // runtime container id; only match_policy() reads it
};

struct MatchResult {
	bool measure = false;
	bool matched = false;        // some measure/dont_measure rule decided
	std::uint32_t rule_index = 0; // Policy::rules index of the deciding rule, when matched
	std::uint32_t pcr = 0;        // rule's pcr=, 0 = the default (10)
	std::uint32_t template_id = 0; // enum eima_template, 0 = the default
};

// The kernel's walk over the compiled array. A named container= matches any container
// here (the kernel does not know names).
MatchResult match(const eima_policy &policy, const FileAccess &access);

// An executable mmap: the kernel evaluates MMAP_CHECK_REQPROT (when the application asked
// for PROT_EXEC) and MMAP_CHECK (when the resulting protection has PROT_EXEC) separately
// and measures if either says so. Returns the first that measures, else the MMAP_CHECK one.
MatchResult match_mmap(const eima_policy &policy, FileAccess access, bool reqprot_exec,
		       bool prot_exec);

// The exact decision over the source policy, as the agent makes it: the rules `mode`
// honours (compiles_to_kernel, plus dont_measure rules for named containers), with
// container=ID compared against access.container_id (equal, or ID a prefix of at least 12
// characters, as `docker ps` shortens ids).
MatchResult match_policy(const Policy &policy, KernelMode mode, const FileAccess &access);

// One compiled rule against one access.
bool rule_holds(const eima_rule &rule, const FileAccess &access);

bool container_id_matches(const ContainerCondition &cond, std::string_view container_id);

} // namespace eima::policy
