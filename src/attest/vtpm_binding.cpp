#include "attest/vtpm_binding.h"
#include "common/json_text.h"

#include <nlohmann/json.hpp>

namespace eima::attest
{

std::string vtpm_binding_name(std::string_view container)
{
	return std::string(vtpm_binding_prefix) + std::string(container);
}

std::string_view vtpm_binding_container(std::string_view event_name)
{
	if (!event_name.starts_with(vtpm_binding_prefix))
		return {};
	return event_name.substr(vtpm_binding_prefix.size());
}

Bytes vtpm_binding_buffer(const VtpmBinding &b)
{
	nlohmann::json j = {{"format", vtpm_binding_format},
			    {"version", 1},
			    {"container", b.container},
			    {"ek", b.ek_pem},
			    {"ak", b.ak_pem},
			    {"mntns", b.mntns}};
	std::string text = json_dump(j);
	return Bytes(text.begin(), text.end());
}

Result<VtpmBinding> parse_vtpm_binding(std::span<const std::uint8_t> buffer,
				       const std::string &where)
{
	auto parsed = json_parse(
		std::string_view(reinterpret_cast<const char *>(buffer.data()), buffer.size()), where);
	if (!parsed || !parsed->is_object())
		return fail(EINVAL, "vTPM binding", where + ": buffer is not a JSON object");
	const nlohmann::json &j = *parsed;
	// The buffer comes from a list another machine wrote: compare, never convert, so that
	// a field of another type is a refusal and not an exception.
	if (j.find("format") == j.end() || j["format"] != vtpm_binding_format ||
	    j.find("version") == j.end() || j["version"] != 1)
		return fail(EINVAL, "vTPM binding",
			    where + ": not an eima-vtpm-binding version 1 record");
	VtpmBinding b;
	for (auto [key, out] : {std::pair{"container", &b.container}, std::pair{"ek", &b.ek_pem},
				std::pair{"ak", &b.ak_pem}}) {
		auto it = j.find(key);
		if (it == j.end() || !it->is_string() || it->get_ref<const std::string &>().empty())
			return fail(EINVAL, "vTPM binding",
				    where + ": \"" + key + "\" is missing or not a string");
		*out = it->get<std::string>();
	}
	if (auto it = j.find("mntns"); it != j.end() && it->is_number_unsigned())
		b.mntns = it->get<std::uint64_t>();
	return b;
}

} // namespace eima::attest
