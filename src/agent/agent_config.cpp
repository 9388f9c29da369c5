#include "agent/agent_config.h"

namespace eima::agent {

std::string pin_dir_for(const std::string &run_dir)
{
	// bpffs refuses names with a dot (they are its own: maps.debug).
	std::string name;
	for (char c : run_dir)
		if (c != '/' || (!name.empty() && name.back() != '-'))
			name += c == '/' ? '-' : c == '.' ? '_' : c;
	while (!name.empty() && name.back() == '-')
		name.pop_back();
	return std::string(default_pin_parent) + "/" + (name.empty() ? std::string("root") : name);
}

std::optional<ModeChoice> mode_choice_from_name(std::string_view name)
{
	if (name == "auto")
		return ModeChoice::automatic;
	if (name == "lsm")
		return ModeChoice::lsm;
	if (name == "trace")
		return ModeChoice::trace;
	return std::nullopt;
}

std::optional<ProtectChoice> protect_choice_from_name(std::string_view name)
{
	if (name == "auto")
		return ProtectChoice::automatic;
	if (name == "on" || name == "true")
		return ProtectChoice::on;
	if (name == "off" || name == "false")
		return ProtectChoice::off;
	return std::nullopt;
}

Result<TpmChoice> tpm_choice_from_name(std::string_view name)
{
	TpmChoice c;
	if (name == "auto")
		c.kind = TpmChoice::Kind::automatic;
	else if (name == "swtpm")
		c.kind = TpmChoice::Kind::swtpm;
	else if (name == "none")
		c.kind = TpmChoice::Kind::none;
	else if (name == "device")
		c.kind = TpmChoice::Kind::device;
	else if (name.starts_with("device:") && name.size() > 7) {
		c.kind = TpmChoice::Kind::device;
		c.device = std::string(name.substr(7));
	} else
		return fail(EINVAL, "choose TPM",
			    "--tpm " + std::string(name) + " (auto, swtpm, device[:PATH] or none)");
	return c;
}

std::string_view template_name(TemplateKind t)
{
	switch (t) {
	case TemplateKind::ima: return "ima";
	case TemplateKind::ima_sig: return "ima-sig";
	case TemplateKind::ima_ng: break;
	}
	return "ima-ng";
}

std::optional<TemplateKind> template_from_name(std::string_view name)
{
	for (auto t : {TemplateKind::ima, TemplateKind::ima_ng, TemplateKind::ima_sig})
		if (template_name(t) == name)
			return t;
	return std::nullopt;
}

} // namespace eima::agent
