#include "agent/policy_loader.h"

#include "common/file_io.h"
#include "policy/ima_policy.h"
#include "policy/policy_compiler.h"

namespace eima::agent {

Result<LoadedPolicy> load_measure_policy(const std::string &spec, ProbeMode mode)
{
	auto kmode = mode == ProbeMode::lsm ? policy::KernelMode::lsm : policy::KernelMode::trace;
	Result<policy::Policy> parsed = fail("load policy", spec);
	if (auto text = read_file(spec)) {
		parsed = policy::parse_policy(*text, spec);
	} else {
		parsed = policy::builtin_policy(spec);
		if (!parsed)
			return fail(ENOENT, "load policy",
				    spec + ": neither a readable file nor a built-in (exec, tcb)");
	}
	if (!parsed)
		return std::unexpected(parsed.error());
	LoadedPolicy out;
	out.rules = parsed->rules.size();
	auto bpf = policy::bpf_check_policy(*parsed);
	if (!bpf)
		return std::unexpected(bpf.error());
	out.bpf_check = std::move(*bpf);
	for (auto &u : policy::unsupported(*parsed, kmode))
		if (parsed->rules[u.rule_index].func != EIMA_FUNC_BPF_CHECK) // reported on their own
			out.unsupported.push_back(spec + ":" + std::to_string(u.line) + ": " + u.reason);
	auto compiled = policy::compile_policy(*parsed, kmode);
	if (!compiled)
		return std::unexpected(compiled.error());
	out.compiled = *compiled;
	out.has_appraise = policy::has_appraise_rules(out.compiled);
	// file_open is hooked only when some measure rule can match an open.
	for (std::uint32_t i = 0; i < out.compiled.nr_rules; ++i) {
		const eima_rule &r = out.compiled.rules[i];
		if ((r.action & EIMA_ACT_MEASURE) &&
		    (!(r.conditions & EIMA_COND_FUNC) || r.func == EIMA_FUNC_FILE_CHECK))
			out.has_file_check = true;
	}
	return out;
}

} // namespace eima::agent
