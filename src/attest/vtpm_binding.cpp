#include "attest/vtpm_binding.h"

#include <nlohmann/json.hpp>

#include "attest/buffer_record.h"

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
	return record_bytes(j);
}

Result<VtpmBinding> parse_vtpm_binding(std::span<const std::uint8_t> buffer,
				       const std::string &where)
{
	RecordSource src{"vTPM binding", where};
	auto parsed = parse_record(buffer, vtpm_binding_format, src);
	if (!parsed)
		return std::unexpected(parsed.error());
	const nlohmann::json &j = *parsed;
	VtpmBinding b;
	for (auto [key, out] : {std::pair{"container", &b.container}, std::pair{"ek", &b.ek_pem},
				std::pair{"ak", &b.ak_pem}}) {
		auto v = record_string(j, key, src);
		if (!v)
			return std::unexpected(v.error());
		*out = std::move(*v);
	}
	if (auto it = j.find("mntns"); it != j.end() && it->is_number_unsigned())
		b.mntns = it->get<std::uint64_t>();
	return b;
}

} // namespace eima::attest
