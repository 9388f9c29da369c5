#include "attest/measurer_record.h"

#include <nlohmann/json.hpp>

#include "common/json_text.h"

namespace eima::attest
{

namespace
{
constexpr std::size_t tag_size = 8; // BPF_TAG_SIZE
constexpr std::size_t sha256_size = 32;
} // namespace

std::string bpf_prog_entry_name(std::string_view program)
{
	return std::string(bpf_prog_entry_prefix) + std::string(program);
}

std::string_view bpf_prog_entry_program(std::string_view event_name)
{
	if (!event_name.starts_with(bpf_prog_entry_prefix))
		return {};
	return event_name.substr(bpf_prog_entry_prefix.size());
}

Result<Bytes> bpf_prog_buffer(const BpfProgRecord &r)
{
	if (r.name.empty() || r.type.empty() || r.object.empty())
		return fail(EINVAL, "BPF program record", "name, type and object must be given");
	if (r.tag.size() != tag_size)
		return fail(EINVAL, "BPF program record",
			    r.name + ": tag of " + std::to_string(r.tag.size()) + " bytes, not 8");
	if (r.object_sha256.size() != sha256_size)
		return fail(EINVAL, "BPF program record",
			    r.name + ": object_sha256 of " + std::to_string(r.object_sha256.size()) +
				    " bytes, not 32");
	if (r.is_signed == r.signer.empty())
		return fail(EINVAL, "BPF program record",
			    r.name + ": a signer goes with a signed program, and only with one");
	// nlohmann::json objects keep their keys sorted: the bytes are the same whatever the
	// order here, and `jq -cS` rebuilds them.
	nlohmann::json j = {{"format", bpf_prog_record_format},
			    {"version", 1},
			    {"name", r.name},
			    {"type", r.type},
			    {"tag", to_hex(r.tag)},
			    {"object", r.object},
			    {"object_sha256", to_hex(r.object_sha256)},
			    {"signed", r.is_signed}};
	if (r.is_signed)
		j["signer"] = r.signer;
	std::string text = json_dump(j);
	return Bytes(text.begin(), text.end());
}

Result<BpfProgRecord> parse_bpf_prog_record(std::span<const std::uint8_t> buffer,
					    const std::string &where)
{
	auto parsed = json_parse(
		std::string_view(reinterpret_cast<const char *>(buffer.data()), buffer.size()), where);
	if (!parsed || !parsed->is_object())
		return fail(EINVAL, "BPF program record", where + ": buffer is not a JSON object");
	const nlohmann::json &j = *parsed;
	// From a list another machine wrote: compare and check types, never convert blindly.
	if (j.find("format") == j.end() || j["format"] != bpf_prog_record_format ||
	    j.find("version") == j.end() || j["version"] != 1)
		return fail(EINVAL, "BPF program record",
			    where + ": not an eima-bpf-prog version 1 record");
	auto text = [&](const char *key) -> Result<std::string> {
		auto it = j.find(key);
		if (it == j.end() || !it->is_string() || it->get_ref<const std::string &>().empty())
			return fail(EINVAL, "BPF program record",
				    where + ": \"" + key + "\" is missing or not a string");
		return it->get<std::string>();
	};
	auto hex = [&](const char *key, std::size_t size) -> Result<Bytes> {
		auto t = text(key);
		if (!t)
			return std::unexpected(t.error());
		auto b = from_hex(*t);
		if (!b || b->size() != size)
			return fail(EINVAL, "BPF program record",
				    where + ": \"" + key + "\" is not " + std::to_string(size) +
					    " bytes of hex");
		return *b;
	};
	BpfProgRecord r;
	for (auto [key, out] : {std::pair{"name", &r.name}, std::pair{"type", &r.type},
				std::pair{"object", &r.object}}) {
		auto t = text(key);
		if (!t)
			return std::unexpected(t.error());
		*out = std::move(*t);
	}
	auto tag = hex("tag", tag_size);
	if (!tag)
		return std::unexpected(tag.error());
	r.tag = std::move(*tag);
	auto sha = hex("object_sha256", sha256_size);
	if (!sha)
		return std::unexpected(sha.error());
	r.object_sha256 = std::move(*sha);
	auto s = j.find("signed");
	if (s == j.end() || !s->is_boolean())
		return fail(EINVAL, "BPF program record", where + ": \"signed\" is not true or false");
	r.is_signed = s->get<bool>();
	if (r.is_signed) {
		auto signer = text("signer");
		if (!signer)
			return std::unexpected(signer.error());
		r.signer = std::move(*signer);
	}
	return r;
}

} // namespace eima::attest
