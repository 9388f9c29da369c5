#include "policy/policy_compiler.h"

#include <algorithm>
#include <cstddef>
#include <cstring>

namespace eima::policy {

namespace {

// fsname[] in struct eima_rule holds 31 characters and a NUL.
constexpr std::size_t fsname_max = sizeof(eima_rule{}.fsname) - 1;

bool hook_observed(eima_func f, KernelMode mode)
{
	switch (f) {
	case EIMA_FUNC_NONE:
	case EIMA_FUNC_BPRM_CHECK:
	case EIMA_FUNC_MMAP_CHECK:
	case EIMA_FUNC_MMAP_CHECK_REQPROT:
		return true;
	case EIMA_FUNC_FILE_CHECK:
		return mode == KernelMode::lsm;
	default:
		return false;
	}
}

bool is_appraise(const PolicyRule &r)
{
	return r.action == EIMA_ACT_APPRAISE || r.action == EIMA_ACT_DONT_APPRAISE;
}

// The hooks that appraise: exec and executable mmap/mprotect (bpf/lib/appraise.h).
bool hook_appraised(eima_func f)
{
	return f == EIMA_FUNC_NONE || f == EIMA_FUNC_BPRM_CHECK || f == EIMA_FUNC_MMAP_CHECK ||
	       f == EIMA_FUNC_MMAP_CHECK_REQPROT;
}

// Why `mode` cannot honour the rule at all; empty when it can.
std::vector<std::string> blocking_reasons(const PolicyRule &r, KernelMode mode)
{
	std::vector<std::string> why;
	if (r.func == EIMA_FUNC_BPF_CHECK) {
		why.push_back("func=BPF_CHECK: BPF program loads are judged by the signed BPF "
			      "policy program (eimad's, or `eima bpf enforce --policy FILE`; "
			      "docs/signed-bpf.md), not by the measurement programs");
		return why;
	}
	switch (r.action) {
	case EIMA_ACT_MEASURE:
	case EIMA_ACT_DONT_MEASURE:
		break;
	case EIMA_ACT_APPRAISE:
	case EIMA_ACT_DONT_APPRAISE:
		if (mode != KernelMode::lsm)
			why.push_back(std::string(action_name(r.action)) +
				      ": in-kernel appraisal needs BPF LSM (sleepable hooks)");
		else if (!hook_appraised(r.func.value_or(EIMA_FUNC_NONE)))
			why.push_back(std::string(action_name(r.action)) + " func=" +
				      std::string(func_name(*r.func)) +
				      ": eima appraises only BPRM_CHECK and MMAP_CHECK");
		break;
	default:
		why.push_back(std::string(action_name(r.action)) +
			      ": not supported in this release");
		break;
	}
	eima_func f = r.func.value_or(EIMA_FUNC_NONE);
	if (!hook_observed(f, mode)) {
		if (f == EIMA_FUNC_FILE_CHECK)
			why.push_back("func=FILE_CHECK needs BPF LSM (in trace mode no tracepoint "
				      "gives the opened file)");
		else
			why.push_back("func=" + std::string(func_name(f)) +
				      ": eima does not observe this hook");
	}
	auto lsm = [&](std::string_view key, const std::optional<std::string> &v) {
		if (v)
			why.push_back(std::string(key) + "=" + *v +
				      ": LSM labels are not evaluated by eima");
	};
	lsm("subj_user", r.subj_user);
	lsm("subj_role", r.subj_role);
	lsm("subj_type", r.subj_type);
	lsm("obj_user", r.obj_user);
	lsm("obj_role", r.obj_role);
	lsm("obj_type", r.obj_type);
	if (!r.keyrings.empty())
		why.push_back("keyrings=: key measurement is not supported");
	if (!r.label.empty())
		why.push_back("label=: critical data measurement is not supported");
	if (r.digest_type)
		why.push_back("digest_type=" + *r.digest_type +
			      ": fs-verity digests are not supported");
	// appraise_type=imasig asks for a signature, which is all eima accepts (its blessing,
	// docs/enforcement.md); the rest asks for checks eima does not make.
	if (r.appraise_type && *r.appraise_type != "imasig" && *r.appraise_type != "imasig|modsig")
		why.push_back("appraise_type=" + *r.appraise_type +
			      ": eima appraises its signed blessing (imasig) only");
	if (r.appraise_flag || !r.appraise_algos.empty())
		why.push_back("appraise_flag/appraise_algos: appraisal options are not supported");
	if (r.template_name && template_id(*r.template_name) == EIMA_TEMPLATE_DEFAULT)
		why.push_back("template=" + *r.template_name +
			      ": eima writes only ima, ima-ng, ima-sig and ima-buf");
	if (r.pcr && *r.pcr == 0)
		why.push_back("pcr=0: the BPF policy ABI uses 0 for \"the default PCR\"");
	if (r.fsname && r.fsname->size() > fsname_max)
		why.push_back("fsname=" + *r.fsname + ": longer than " +
			      std::to_string(fsname_max) + " characters");
	return why;
}

// What eima does less than the kernel for a rule it compiles.
std::vector<std::string> partial_reasons(const PolicyRule &r, KernelMode mode)
{
	std::vector<std::string> why;
	if (r.action == EIMA_ACT_APPRAISE && !r.func)
		why.push_back("appraise without func=: the kernel also appraises modules, firmware, "
			      "kexec images and policies; eima appraises exec and executable mmap");
	if (is_appraise(r) && r.container &&
	    r.container->kind == ContainerCondition::Kind::named)
		why.push_back("container=" + r.container->id +
			      " is matched in the kernel by the task's cgroup name, which must "
			      "carry this whole id (a shortened id matches nothing)");
	if (r.action != EIMA_ACT_MEASURE)
		return why;
	if (!r.func)
		why.push_back(std::string("measure without func=: the kernel also measures "
					  "modules, firmware, kexec images and policies") +
			      (mode == KernelMode::trace ? " and opened files" : "") +
			      "; eima measures only the hooks it observes");
	if (r.permit_directio)
		why.push_back("permit_directio: eima measures files opened with O_DIRECT too");
	return why;
}

std::string join(const std::vector<std::string> &parts)
{
	std::string out;
	for (auto &p : parts)
		out += (out.empty() ? "" : "; ") + p;
	return out;
}

eima_id_cond id_cond(const IdCondition &c)
{
	eima_id_cond out{};
	out.value = c.value;
	out.cmp = static_cast<__u8>(c.cmp);
	return out;
}

} // namespace

std::uint64_t container_id_hash(std::string_view id)
{
	std::uint64_t h = 0xcbf29ce484222325ull; // FNV-1a 64, as bpf/lib/policy_match.h
	for (unsigned char c : id)
		h = (h ^ c) * 0x100000001b3ull;
	return h;
}

bool has_appraise_rules(const eima_policy &compiled)
{
	for (std::uint32_t i = 0; i < compiled.nr_rules && i < EIMA_MAX_RULES; ++i)
		if (compiled.rules[i].action == EIMA_ACT_APPRAISE)
			return true;
	return false;
}

std::uint32_t template_id(std::string_view name)
{
	if (name == "ima")
		return EIMA_TEMPLATE_IMA;
	if (name == "ima-ng")
		return EIMA_TEMPLATE_IMA_NG;
	if (name == "ima-sig")
		return EIMA_TEMPLATE_IMA_SIG;
	if (name == "ima-buf")
		return EIMA_TEMPLATE_IMA_BUF;
	return EIMA_TEMPLATE_DEFAULT;
}

std::vector<UnsupportedRule> unsupported(const Policy &policy, KernelMode mode)
{
	std::vector<UnsupportedRule> out;
	for (std::size_t i = 0; i < policy.rules.size(); ++i) {
		const PolicyRule &r = policy.rules[i];
		auto block = blocking_reasons(r, mode);
		if (!block.empty()) {
			std::string reason = join(block);
			// Say what leaving the rule out does to the measurement list.
			if (r.action == EIMA_ACT_MEASURE)
				reason += " - left out: these accesses are not measured";
			else if (r.action == EIMA_ACT_DONT_MEASURE)
				reason += " - left out: eima measures what this rule would exclude";
			out.push_back({r.line, i, std::move(reason), false});
			continue;
		}
		auto partial = partial_reasons(r, mode);
		// Container names are known to eimad, not to the kernel: until eimad narrows
		// them, a named container is any container, in the direction that measures more.
		// Appraise rules are matched by name in the kernel (EIMA_SCOPE_NAMED).
		if (!is_appraise(r) && r.container &&
		    r.container->kind == ContainerCondition::Kind::named) {
			if (r.action == EIMA_ACT_DONT_MEASURE) {
				out.push_back({r.line, i,
					       "container=" + r.container->id +
						       " on dont_measure is not applied in this release - "
						       "left out: eima measures what this rule would exclude",
					       false});
				continue;
			}
			partial.push_back("container=" + r.container->id +
					  " is applied as container=* in this release: matching "
					  "accesses of every container are measured");
		}
		if (!partial.empty())
			out.push_back({r.line, i, join(partial), true});
	}
	return out;
}

bool honoured(const PolicyRule &rule, KernelMode mode)
{
	return blocking_reasons(rule, mode).empty();
}

bool compiles_to_kernel(const PolicyRule &rule, KernelMode mode)
{
	if (!honoured(rule, mode))
		return false;
	// The kernel would apply a named container's dont_measure to every container.
	if (rule.action == EIMA_ACT_DONT_MEASURE && rule.container &&
	    rule.container->kind == ContainerCondition::Kind::named)
		return false;
	return true;
}

bool has_named_containers(const Policy &policy)
{
	return std::any_of(policy.rules.begin(), policy.rules.end(), [](const PolicyRule &r) {
		return r.container && r.container->kind == ContainerCondition::Kind::named;
	});
}

eima_rule compile_rule(const PolicyRule &r, std::size_t rule_index)
{
	eima_rule out{};
	out.action = r.action;
	out.rule_index = static_cast<__u32>(rule_index);
	__u32 c = 0;
	if (r.func) {
		c |= EIMA_COND_FUNC;
		out.func = *r.func;
	}
	if (r.mask) {
		c |= r.mask_any ? EIMA_COND_INMASK : EIMA_COND_MASK;
		out.mask = *r.mask;
	}
	if (r.fsmagic) {
		c |= EIMA_COND_FSMAGIC;
		out.fsmagic = *r.fsmagic;
	}
	if (r.fsuuid) {
		c |= EIMA_COND_FSUUID;
		std::memcpy(out.fsuuid, r.fsuuid->data(), sizeof(out.fsuuid));
	}
	if (r.fsname) {
		c |= EIMA_COND_FSNAME;
		// Truncated only when unsupported() has already said so.
		std::memcpy(out.fsname, r.fsname->data(), std::min(r.fsname->size(), fsname_max));
	}
	auto id = [&](const std::optional<IdCondition> &cond, __u32 bit, eima_id_cond &slot) {
		if (cond) {
			c |= bit;
			slot = id_cond(*cond);
		}
	};
	id(r.uid, EIMA_COND_UID, out.uid);
	id(r.euid, EIMA_COND_EUID, out.euid);
	id(r.gid, EIMA_COND_GID, out.gid);
	id(r.egid, EIMA_COND_EGID, out.egid);
	id(r.fowner, EIMA_COND_FOWNER, out.fowner);
	id(r.fgroup, EIMA_COND_FGROUP, out.fgroup);
	if (r.container) {
		c |= EIMA_COND_CONTAINER;
		out.container_scope = r.container->kind == ContainerCondition::Kind::host
					  ? EIMA_SCOPE_HOST
					  : EIMA_SCOPE_CONTAINERS;
		// An appraise rule is never widened to every container: the kernel compares the
		// id it derives from the task's cgroup with this one.
		if (is_appraise(r) && r.container->kind == ContainerCondition::Kind::named) {
			c |= EIMA_COND_CONTAINER_ID;
			out.container_scope = EIMA_SCOPE_NAMED;
			out.container_hash = container_id_hash(r.container->id);
		}
	}
	out.pcr = r.pcr.value_or(0);
	out.template_id = r.template_name ? template_id(*r.template_name)
					  : std::uint32_t{EIMA_TEMPLATE_DEFAULT};
	out.conditions = c;
	return out;
}

Result<eima_policy> compile_policy(const Policy &policy, KernelMode mode)
{
	eima_policy out{};
	for (std::size_t i = 0; i < policy.rules.size(); ++i) {
		const PolicyRule &r = policy.rules[i];
		if (!compiles_to_kernel(r, mode))
			continue;
		// The BPF walk is bounded by EIMA_MAX_RULES: refuse rather than drop rules.
		if (out.nr_rules >= EIMA_MAX_RULES)
			return fail("compile IMA policy: more than " +
					std::to_string(EIMA_MAX_RULES) + " rules for the kernel in " +
					std::string(mode_name(mode)) + " mode, first not fitting at",
				    policy.source + ":" + std::to_string(r.line));
		out.rules[out.nr_rules] = compile_rule(r, i);
		out.conditions |= out.rules[out.nr_rules++].conditions;
	}
	return out;
}

Bytes compiled_policy_bytes(const eima_policy &policy)
{
	// bpf/abi/policy.h lays both structs out without implicit padding (its explicit pad
	// bytes are zero from compile_rule's value-initialisation), so the bytes are the values.
	static_assert(offsetof(eima_policy, rules) == 2 * sizeof(__u32));
	std::size_t n = std::min<std::size_t>(policy.nr_rules, EIMA_MAX_RULES);
	std::size_t size = offsetof(eima_policy, rules) + n * sizeof(eima_rule);
	const auto *p = reinterpret_cast<const std::uint8_t *>(&policy);
	return Bytes(p, p + size);
}

} // namespace eima::policy
