#include "attest/measurer_record.h"

#include <nlohmann/json.hpp>

#include "attest/buffer_record.h"

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
	return record_bytes(j);
}

Result<BpfProgRecord> parse_bpf_prog_record(std::span<const std::uint8_t> buffer,
					    const std::string &where)
{
	RecordSource src{"BPF program record", where};
	auto parsed = parse_record(buffer, bpf_prog_record_format, src);
	if (!parsed)
		return std::unexpected(parsed.error());
	const nlohmann::json &j = *parsed;
	auto text = [&](const char *key) { return record_string(j, key, src); };
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
