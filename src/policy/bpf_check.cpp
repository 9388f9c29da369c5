#include "policy/bpf_check.h"

#include <charconv>
#include <limits>

#include "bpf/abi/bpf_policy.h"

namespace eima::policy {

namespace {

constexpr std::pair<std::string_view, std::int32_t> system_keyrings[] = {
    {".builtin_trusted_keys", 0}, {".secondary_trusted_keys", 1}, {".platform", 2}};

bool is_bpf_check(const PolicyRule &r)
{
	return r.func == EIMA_FUNC_BPF_CHECK;
}

} // namespace

std::optional<std::int32_t> bpf_keyring_id(std::string_view name)
{
	for (auto &[n, id] : system_keyrings)
		if (n == name)
			return id;
	std::int32_t serial = 0;
	auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), serial, 10);
	// A key serial is positive; 0-2 would be the system keyrings, spelt by name above.
	if (ec == std::errc() && end == name.data() + name.size() && serial > 2)
		return serial;
	return std::nullopt;
}

bool bpf_keyring_known(std::string_view name)
{
	return name == "eima" || bpf_keyring_id(name).has_value();
}

std::string_view bpf_check_mode_name(BpfCheckPolicy::Mode mode)
{
	switch (mode) {
	case BpfCheckPolicy::Mode::enforce:
		return "enforce";
	case BpfCheckPolicy::Mode::audit:
		return "audit";
	case BpfCheckPolicy::Mode::none:
		break;
	}
	return "none";
}

BpfCheckPolicy bpf_check_policy_collecting(const Policy &policy, std::vector<PolicyError> &errors)
{
	BpfCheckPolicy out;
	for (const PolicyRule &r : policy.rules) {
		if (!is_bpf_check(r))
			continue;
		if (r.action == EIMA_ACT_DONT_APPRAISE) {
			if (out.mode != BpfCheckPolicy::Mode::none) {
				errors.push_back(
				    {r.line, "",
				     "this exception comes after the " +
					 std::string(out.mode == BpfCheckPolicy::Mode::enforce
							 ? "appraise"
							 : "audit") +
					 " func=BPF_CHECK rule at line " + std::to_string(out.line) +
					 ", which matches first: put exceptions before it"});
				continue;
			}
			if (out.exceptions.size() == EIMA_BPF_POLICY_MAX_EXEMPT) {
				errors.push_back({r.line, "",
						  "more than " +
						      std::to_string(EIMA_BPF_POLICY_MAX_EXEMPT) +
						      " dont_appraise func=BPF_CHECK exceptions"});
				continue;
			}
			out.exceptions.push_back({r.line, *r.cgroup, r.text});
			continue;
		}
		// appraise or audit (the parser allows nothing else for BPF_CHECK).
		if (out.mode != BpfCheckPolicy::Mode::none) {
			errors.push_back({r.line, "",
					  "a second appraise or audit func=BPF_CHECK rule (the first "
					  "is at line " +
					      std::to_string(out.line) +
					      "): one rule says whether BPF loads are enforced or "
					      "audited"});
			continue;
		}
		out.mode = r.action == EIMA_ACT_APPRAISE ? BpfCheckPolicy::Mode::enforce
							 : BpfCheckPolicy::Mode::audit;
		out.line = r.line;
		out.text = r.text;
		out.keyrings = r.keyrings;
		out.cgroup = r.cgroup;
	}
	return out;
}

Result<BpfCheckPolicy> bpf_check_policy(const Policy &policy)
{
	std::vector<PolicyError> errors;
	BpfCheckPolicy out = bpf_check_policy_collecting(policy, errors);
	if (!errors.empty())
		return fail("BPF_CHECK rules: " + errors.front().message + ", at",
			    policy.source + ":" + std::to_string(errors.front().line));
	return out;
}

nlohmann::json bpf_check_report(const BpfCheckPolicy &bpf)
{
	using nlohmann::json;
	json exceptions = json::array();
	for (const BpfCheckException &e : bpf.exceptions)
		exceptions.push_back({{"line", e.line}, {"cgroup", e.cgroup}, {"rule", e.text}});
	return json{{"mode", bpf_check_mode_name(bpf.mode)},
		    {"line", bpf.line},
		    {"rule", bpf.text},
		    {"keyrings", bpf.keyrings},
		    {"cgroup", bpf.cgroup ? json(*bpf.cgroup) : json(nullptr)},
		    {"exceptions", std::move(exceptions)}};
}

} // namespace eima::policy
