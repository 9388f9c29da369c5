#include "ima/ascii_log.h"

#include <algorithm>
#include <charconv>
#include <cstring>

namespace eima::ima {

namespace {

std::unexpected<Error> line_error(std::size_t line_no, std::string what)
{
	return fail("parse ascii measurement list", "line " + std::to_string(line_no) + ": " +
							 std::move(what));
}

void append_hex(std::string &out, std::span<const std::uint8_t> bytes)
{
	static constexpr char digits[] = "0123456789abcdef";
	std::size_t at = out.size();
	out.resize(at + 2 * bytes.size());
	for (std::uint8_t b : bytes) {
		out[at++] = digits[b >> 4];
		out[at++] = digits[b & 0xf];
	}
}

std::string shorten(std::string_view s)
{
	return s.size() <= 40 ? std::string(s) : std::string(s.substr(0, 37)) + "...";
}

Result<void> parse_field(const FieldSpec &spec, std::string_view text, Bytes &out,
			 std::size_t line_no)
{
	out.clear();
	switch (spec.kind) {
	case FieldKind::digest:
	case FieldKind::hex:
		if (!from_hex_into(text, out))
			return line_error(line_no, "field " + std::string(spec.id) + ": bad hex '" +
						       shorten(text) + "'");
		return {};
	case FieldKind::string:
		out.assign(text.begin(), text.end());
		// n and n-ng always carry their NUL; other string fields may be absent (len 0).
		if (!text.empty() || spec.id == "n" || spec.id == "n-ng")
			out.push_back(0);
		return {};
	case FieldKind::uint: {
		if (text.empty())
			return {};
		std::uint64_t v = 0;
		auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
		std::uint64_t limit = spec.uint_size >= 8 ? UINT64_MAX : (1ull << (8 * spec.uint_size)) - 1;
		if (ec != std::errc() || p != text.data() + text.size() || v > limit)
			return line_error(line_no, "field " + std::string(spec.id) + ": bad number '" +
						       shorten(text) + "'");
		for (std::size_t i = 0; i < spec.uint_size; ++i)
			out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
		return {};
	}
	case FieldKind::digest_ng: {
		if (text.empty()) // d-modsig of a file without an appended signature
			return {};
		std::size_t colon = text.rfind(':');
		if (colon == std::string_view::npos)
			return line_error(line_no, "field " + std::string(spec.id) + ": no 'algo:' in '" +
						       shorten(text) + "'");
		std::string_view prefix = text.substr(0, colon);
		std::string_view algo = prefix.substr(prefix.rfind(':') == std::string_view::npos
							  ? 0
							  : prefix.rfind(':') + 1);
		auto size = kernel_digest_size(algo);
		if (!size)
			return line_error(line_no, "unknown digest algorithm '" + shorten(algo) + "'");
		out.assign(prefix.begin(), prefix.end());
		out.push_back(':');
		out.push_back(0);
		std::size_t at = out.size();
		Bytes digest;
		if (!from_hex_into(text.substr(colon + 1), digest))
			return line_error(line_no, "field " + std::string(spec.id) + ": bad hex in '" +
						       shorten(text) + "'");
		// A violation's digest is 20 zero bytes whatever the algorithm (IMA_DIGEST_SIZE).
		bool violation_zeros =
		    digest.size() == sha1_digest_size &&
		    std::all_of(digest.begin(), digest.end(), [](std::uint8_t b) { return b == 0; });
		if (digest.size() != *size && !violation_zeros)
			return line_error(line_no, std::string(algo) + " digest of " +
						       std::to_string(digest.size()) + " bytes, expected " +
						       std::to_string(*size));
		out.resize(at + digest.size());
		std::memcpy(out.data() + at, digest.data(), digest.size());
		return {};
	}
	}
	return {};
}

void print_field(std::string &out, const FieldSpec &spec, const Bytes &f)
{
	switch (spec.kind) {
	case FieldKind::digest:
	case FieldKind::hex:
		append_hex(out, f);
		return;
	case FieldKind::string:
		out.append(reinterpret_cast<const char *>(f.data()),
			   strnlen(reinterpret_cast<const char *>(f.data()), f.size()));
		return;
	case FieldKind::uint: {
		std::uint64_t v = 0;
		if (f.size() != 1 && f.size() != 2 && f.size() != 4 && f.size() != 8)
			return; // the kernel prints nothing for other widths
		for (std::size_t i = 0; i < f.size(); ++i)
			v |= static_cast<std::uint64_t>(f[i]) << (8 * i);
		out += std::to_string(v);
		return;
	}
	case FieldKind::digest_ng: {
		// Text up to the NUL ("sha256:"), then the digest after the NUL in hex.
		std::size_t nul = strnlen(reinterpret_cast<const char *>(f.data()), f.size());
		out.append(reinterpret_cast<const char *>(f.data()), nul);
		if (nul < f.size())
			append_hex(out, std::span<const std::uint8_t>(f).subspan(nul + 1));
		return;
	}
	}
}

} // namespace

Result<TemplateEntry> parse_ascii_line(std::string_view line, std::size_t line_no,
				       HeaderDigestFormat &header, bool first_line)
{
	TemplateEntry e;
	// "%2d ": a single-digit PCR is padded with a space.
	std::size_t pos = 0;
	while (pos < line.size() && line[pos] == ' ')
		++pos;
	std::size_t sp = line.find(' ', pos);
	if (sp == std::string_view::npos)
		return line_error(line_no, "expected 'PCR digest template fields'");
	std::string_view pcr_text = line.substr(pos, sp - pos);
	auto [p, ec] = std::from_chars(pcr_text.data(), pcr_text.data() + pcr_text.size(), e.pcr);
	if (ec != std::errc() || p != pcr_text.data() + pcr_text.size())
		return line_error(line_no, "bad PCR '" + shorten(pcr_text) + "'");

	pos = sp + 1;
	sp = line.find(' ', pos);
	if (sp == std::string_view::npos)
		return line_error(line_no, "no template name");
	std::string_view digest_text = line.substr(pos, sp - pos);
	std::optional<HashAlgo> typed;
	if (std::size_t colon = digest_text.find(':'); colon != std::string_view::npos) {
		typed = hash_algo_from_name(digest_text.substr(0, colon));
		if (!typed)
			return line_error(line_no, "unknown header digest algorithm '" +
						       shorten(digest_text.substr(0, colon)) + "'");
		digest_text.remove_prefix(colon + 1);
	}
	if (!from_hex_into(digest_text, e.template_hash_sha1))
		return line_error(line_no, "bad header digest hex '" + shorten(digest_text) + "'");
	std::size_t n = e.template_hash_sha1.size();
	if (typed ? n != digest_size(*typed) : n != 20 && n != 32 && n != 48 && n != 64)
		return line_error(line_no, "header digest of " + std::to_string(n) + " bytes");
	if (first_line)
		header.typed = typed;
	else if (header.typed != typed)
		return line_error(line_no, "header digest format differs from the first line");

	pos = sp + 1;
	sp = line.find(' ', pos);
	if (sp == std::string_view::npos)
		sp = line.size();
	e.template_name.assign(line.substr(pos, sp - pos));
	auto layout = template_layout(e.template_name);
	if (!layout)
		return line_error(line_no, layout.error().op + " " + layout.error().context);
	pos = sp;

	e.fields.resize(layout->count);
	for (std::size_t i = 0; i < layout->count; ++i) {
		const FieldSpec &spec = layout->fields[i];
		const bool last = i + 1 == layout->count;
		if (pos >= line.size()) {
			// Kernels that do not print the separator of an empty trailing field
			// (ima-sig without a signature): only hex/number fields may be missing.
			if (spec.kind == FieldKind::hex || spec.kind == FieldKind::uint)
				continue;
			return line_error(line_no, "missing field " + std::to_string(i + 1) + " (" +
						       std::string(spec.id) + ") of " + e.template_name);
		}
		++pos; // the ' ' before every field
		std::size_t end = last ? line.size() : line.find(' ', pos);
		if (end == std::string_view::npos)
			end = line.size();
		if (last && spec.kind != FieldKind::string && line.find(' ', pos) != std::string_view::npos)
			return line_error(line_no, "extra text after the last field of " + e.template_name);
		if (auto r = parse_field(spec, line.substr(pos, end - pos), e.fields[i], line_no); !r)
			return std::unexpected(r.error());
		pos = end;
	}
	return e;
}

Result<UnverifiedLog> read_ascii_log(std::string_view text)
{
	UnverifiedLog log;
	std::size_t line_no = 0;
	std::size_t pos = 0;
	while (pos < text.size()) {
		std::size_t nl = text.find('\n', pos);
		std::size_t end = nl == std::string_view::npos ? text.size() : nl;
		++line_no;
		auto e = parse_ascii_line(text.substr(pos, end - pos), line_no, log.header,
					  log.entries.empty());
		if (!e)
			return std::unexpected(e.error());
		log.entries.push_back(std::move(*e));
		pos = end + 1;
	}
	return log;
}

Result<void> append_ascii_entry(std::string &out, const TemplateEntry &entry,
				const HeaderDigestFormat &header)
{
	auto layout = template_layout(entry.template_name);
	if (!layout)
		return std::unexpected(layout.error());
	if (layout->count != entry.fields.size())
		return fail("write ascii measurement list",
			    "template " + entry.template_name + " has " + std::to_string(layout->count) +
				" fields, entry has " + std::to_string(entry.fields.size()));
	if (entry.pcr < 10)
		out += ' ';
	out += std::to_string(entry.pcr);
	out += ' ';
	if (header.typed) {
		out += hash_algo_name(*header.typed);
		out += ':';
	}
	append_hex(out, entry.template_hash_sha1);
	out += ' ';
	out += entry.template_name;
	for (std::size_t i = 0; i < layout->count; ++i) {
		out += ' ';
		if (!entry.fields[i].empty())
			print_field(out, layout->fields[i], entry.fields[i]);
	}
	out += '\n';
	return {};
}

Result<std::string> write_ascii_log(const UnverifiedLog &log)
{
	std::string out;
	for (std::size_t i = 0; i < log.entries.size(); ++i)
		if (auto r = append_ascii_entry(out, log.entries[i], log.header); !r)
			return fail(r.error().err, r.error().op,
				    "entry " + std::to_string(i) + ": " + r.error().context);
	return out;
}

} // namespace eima::ima
