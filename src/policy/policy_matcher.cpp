#include "policy/policy_matcher.h"

#include <algorithm>
#include <cstring>

#include "policy/policy_compiler.h"

namespace eima::policy {

namespace {

// Shortest id prefix container=ID may use (docker's short form).
constexpr std::size_t container_prefix_min = 12;

bool id_holds(const eima_id_cond &c, std::uint32_t v)
{
	switch (c.cmp) {
	case EIMA_CMP_LT:
		return v < c.value;
	case EIMA_CMP_GT:
		return v > c.value;
	default:
		return v == c.value;
	}
}

bool fsname_holds(const char (&want)[32], const std::string &have)
{
	std::size_t n = strnlen(want, sizeof(want));
	return have == std::string_view(want, n);
}

bool deciding(const eima_rule &r)
{
	return r.action == EIMA_ACT_MEASURE || r.action == EIMA_ACT_DONT_MEASURE;
}

MatchResult decide(const eima_rule &r)
{
	MatchResult m;
	m.matched = true;
	m.measure = r.action == EIMA_ACT_MEASURE;
	m.rule_index = r.rule_index;
	if (m.measure) {
		m.pcr = r.pcr;
		m.template_id = r.template_id;
	}
	return m;
}

} // namespace

bool rule_holds(const eima_rule &r, const FileAccess &a)
{
	std::uint32_t c = r.conditions;
	// ima_match_rules(): POST_SETATTR re-evaluates appraisal for whatever func and mask.
	bool setattr = a.func == EIMA_FUNC_POST_SETATTR;
	if ((c & EIMA_COND_FUNC) && r.func != a.func && !setattr)
		return false;
	if ((c & EIMA_COND_MASK) && r.mask != a.mask && !setattr)
		return false;
	if ((c & EIMA_COND_INMASK) && !(r.mask & a.mask) && !setattr)
		return false;
	if (c & EIMA_COND_CONTAINER) {
		if (r.container_scope == EIMA_SCOPE_HOST && !a.is_host)
			return false;
		if (r.container_scope == EIMA_SCOPE_CONTAINERS && a.is_host)
			return false;
	}
	if ((c & EIMA_COND_FSMAGIC) && r.fsmagic != a.fsmagic)
		return false;
	if ((c & EIMA_COND_FSNAME) && !fsname_holds(r.fsname, a.fsname))
		return false;
	if ((c & EIMA_COND_FSUUID) && std::memcmp(r.fsuuid, a.fsuuid.data(), 16) != 0)
		return false;
	if ((c & EIMA_COND_UID) && !id_holds(r.uid, a.uid))
		return false;
	if (c & EIMA_COND_EUID) {
		bool ok = id_holds(r.euid, a.euid) ||
			  (a.cap_setuid && (id_holds(r.euid, a.suid) || id_holds(r.euid, a.uid)));
		if (!ok)
			return false;
	}
	if ((c & EIMA_COND_GID) && !id_holds(r.gid, a.gid))
		return false;
	if (c & EIMA_COND_EGID) {
		bool ok = id_holds(r.egid, a.egid) ||
			  (a.cap_setgid && (id_holds(r.egid, a.sgid) || id_holds(r.egid, a.gid)));
		if (!ok)
			return false;
	}
	if ((c & EIMA_COND_FOWNER) && !id_holds(r.fowner, a.fowner))
		return false;
	if ((c & EIMA_COND_FGROUP) && !id_holds(r.fgroup, a.fgroup))
		return false;
	return true;
}

MatchResult match(const eima_policy &policy, const FileAccess &access)
{
	std::uint32_t n = std::min<std::uint32_t>(policy.nr_rules, EIMA_MAX_RULES);
	for (std::uint32_t i = 0; i < n; ++i) {
		const eima_rule &r = policy.rules[i];
		if (deciding(r) && rule_holds(r, access))
			return decide(r);
	}
	return {};
}

MatchResult match_mmap(const eima_policy &policy, FileAccess access, bool reqprot_exec,
		       bool prot_exec)
{
	MatchResult last;
	if (reqprot_exec) {
		access.func = EIMA_FUNC_MMAP_CHECK_REQPROT;
		last = match(policy, access);
		if (last.measure)
			return last;
	}
	if (prot_exec) {
		access.func = EIMA_FUNC_MMAP_CHECK;
		last = match(policy, access);
	}
	return last;
}

bool container_id_matches(const ContainerCondition &cond, std::string_view container_id)
{
	switch (cond.kind) {
	case ContainerCondition::Kind::host:
		return container_id.empty();
	case ContainerCondition::Kind::any:
		return !container_id.empty();
	case ContainerCondition::Kind::named:
		if (container_id == cond.id)
			return true;
		return cond.id.size() >= container_prefix_min && container_id.starts_with(cond.id);
	}
	return false;
}

MatchResult match_policy(const Policy &policy, KernelMode mode, const FileAccess &access)
{
	for (std::size_t i = 0; i < policy.rules.size(); ++i) {
		const PolicyRule &r = policy.rules[i];
		bool named = r.container && r.container->kind == ContainerCondition::Kind::named;
		if (!honoured(r, mode))
			continue;
		eima_rule compiled = compile_rule(r, i);
		if (!deciding(compiled) || !rule_holds(compiled, access))
			continue;
		if (named && (access.is_host || !container_id_matches(*r.container,
								      access.container_id)))
			continue;
		return decide(compiled);
	}
	return {};
}

} // namespace eima::policy
