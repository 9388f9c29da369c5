#include "ima/replay.h"

#include <charconv>
#include <cstdio>

namespace eima::ima {

Result<Replayer> Replayer::create(HashAlgo bank)
{
	auto h = Hasher::create(bank);
	if (!h)
		return std::unexpected(h.error());
	return Replayer(std::move(*h));
}

Result<void> Replayer::extend(const TemplateEntry &entry)
{
	std::uint8_t hash[max_digest_size];
	const std::size_t size = hasher_.size();
	if (auto r = template_hash(entry, hasher_, std::span(hash, size)); !r)
		return r;
	auto [it, inserted] = values_.try_emplace(entry.pcr);
	if (inserted)
		it->second.assign(size, 0);
	hasher_.update(it->second);
	hasher_.update(std::span<const std::uint8_t>(hash, size));
	return hasher_.finish(it->second);
}

Result<PcrValues> replay(std::span<const TemplateEntry> entries, HashAlgo bank)
{
	auto r = Replayer::create(bank);
	if (!r)
		return std::unexpected(r.error());
	for (std::size_t i = 0; i < entries.size(); ++i)
		if (auto x = r->extend(entries[i]); !x)
			return fail(x.error().err, x.error().op,
				    "entry " + std::to_string(i) + ": " + x.error().context);
	return r->values();
}

std::string format_pcr_file(const PcrValues &values, HashAlgo bank)
{
	std::string out;
	const Bytes zeros(digest_size(bank), 0);
	for (std::uint32_t i = 0; i < pcr_count; ++i) {
		char label[16];
		std::snprintf(label, sizeof label, "PCR-%02u: ", i);
		out += label;
		auto it = values.find(i);
		out += to_hex(it == values.end() ? zeros : it->second);
		out += '\n';
	}
	return out;
}

Result<PcrValues> parse_pcr_file(std::string_view text, HashAlgo bank)
{
	PcrValues values;
	std::size_t line_no = 0, pos = 0;
	auto bad = [&](std::string why) {
		return fail("parse PCR file", "line " + std::to_string(line_no) + ": " + std::move(why));
	};
	while (pos < text.size()) {
		std::size_t nl = text.find('\n', pos);
		std::size_t end = nl == std::string_view::npos ? text.size() : nl;
		std::string_view line = text.substr(pos, end - pos);
		pos = end + 1;
		++line_no;
		if (!line.empty() && line.back() == '\r')
			line.remove_suffix(1);
		if (line.find_first_not_of(" \t") == std::string_view::npos)
			continue;
		if (!line.starts_with("PCR-"))
			return bad("expected 'PCR-NN: HEX'");
		std::uint32_t index = 0;
		auto [p, ec] = std::from_chars(line.data() + 4, line.data() + line.size(), index);
		if (ec != std::errc() || index >= pcr_count || p == line.data() + line.size() || *p != ':')
			return bad("bad PCR index");
		std::string hex;
		for (const char *c = p + 1; c < line.data() + line.size(); ++c)
			if (*c != ' ')
				hex += *c;
		auto value = from_hex(hex);
		if (!value || value->size() != digest_size(bank))
			return bad("expected " + std::to_string(digest_size(bank)) + " bytes of hex");
		if (!values.try_emplace(index, std::move(*value)).second)
			return bad("PCR " + std::to_string(index) + " listed twice");
	}
	return values;
}

} // namespace eima::ima
