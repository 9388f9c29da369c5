#include "policy/policy_check.h"

namespace eima::policy {

PolicyCheck check_policy(std::string_view text, std::string_view source, KernelMode mode)
{
	PolicyCheck check;
	check.source = std::string(source);
	check.mode = mode;
	Policy policy = parse_policy_collecting(text, source, check.errors);
	check.unsupported = unsupported(policy, mode);
	// BPF_CHECK rules are honoured, by eima bpf enforce: reported in their own section.
	std::erase_if(check.unsupported, [&](const UnsupportedRule &u) {
		return policy.rules[u.rule_index].func == EIMA_FUNC_BPF_CHECK;
	});
	check.bpf = bpf_check_policy_collecting(policy, check.errors);
	// The BPF array's limit is eima's, not the kernel's, but a policy over it cannot be
	// loaded, so it counts as an error here (bpf/abi/policy.h promises that).
	std::size_t n = 0;
	for (const PolicyRule &r : policy.rules) {
		if (!compiles_to_kernel(r, mode))
			continue;
		if (++n == EIMA_MAX_RULES + 1)
			check.errors.push_back({r.line, "",
						"more than " + std::to_string(EIMA_MAX_RULES) +
						    " rules for the kernel in " +
						    std::string(mode_name(mode)) +
						    " mode; this is the first that does not fit"});
	}
	check.kernel_rules = std::min<std::size_t>(n, EIMA_MAX_RULES);
	if (check.errors.empty())
		if (auto c = compile_policy(policy, mode))
			check.compiled = compiled_policy_bytes(*c);
	check.rules = std::move(policy.rules);
	return check;
}

nlohmann::json check_report(const PolicyCheck &check)
{
	using nlohmann::json;
	json actions = json::object(), funcs = json::object();
	for (const PolicyRule &r : check.rules) {
		std::string a(action_name(r.action));
		actions[a] = actions.value(a, 0) + 1;
		std::string f(func_name(r.func.value_or(EIMA_FUNC_NONE)));
		funcs[f] = funcs.value(f, 0) + 1;
	}
	json unsupported = json::array();
	for (const UnsupportedRule &u : check.unsupported)
		unsupported.push_back({{"line", u.line},
				       {"rule_index", u.rule_index},
				       {"reason", u.reason},
				       {"compiled", u.compiled}});
	json errors = json::array();
	for (const PolicyError &e : check.errors)
		errors.push_back({{"line", e.line}, {"token", e.token}, {"message", e.message}});
	return json{{"source", check.source},
		    {"mode", mode_name(check.mode)},
		    {"valid", check.valid()},
		    {"rules", check.rules.size()},
		    {"kernel_rules", check.kernel_rules},
		    {"actions", std::move(actions)},
		    {"funcs", std::move(funcs)},
		    {"unsupported", std::move(unsupported)},
		    {"bpf", bpf_check_report(check.bpf)},
		    {"errors", std::move(errors)}};
}

} // namespace eima::policy
