#include "ima/binary_log.h"

#include <algorithm>
#include <cstring>
#include <string>

namespace eima::ima {

namespace {

std::uint32_t load_u32_le(const std::uint8_t *p)
{
	return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
	       static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}

void put_u32_le(Bytes &out, std::uint32_t v)
{
	const std::uint8_t le[4] = {static_cast<std::uint8_t>(v), static_cast<std::uint8_t>(v >> 8),
				    static_cast<std::uint8_t>(v >> 16),
				    static_cast<std::uint8_t>(v >> 24)};
	out.insert(out.end(), le, le + 4);
}

std::optional<HashAlgo> algo_of_size(std::uint32_t size)
{
	switch (size) {
	case 20: return HashAlgo::sha1;
	case 32: return HashAlgo::sha256;
	case 48: return HashAlgo::sha384;
	case 64: return HashAlgo::sha512;
	default: return std::nullopt;
	}
}

bool plausible_template_name(std::span<const std::uint8_t> bytes, std::size_t at)
{
	if (bytes.size() < at + 4)
		return false;
	std::uint32_t len = load_u32_le(bytes.data() + at);
	if (len == 0 || len > template_name_len_max || bytes.size() - at - 4 < len)
		return false;
	return std::all_of(bytes.begin() + at + 4, bytes.begin() + at + 4 + len,
			   [](std::uint8_t c) { return c > 0x20 && c < 0x7f; });
}

// Cursor over one record; every take() is bounded by what remains of the buffer.
struct Cursor {
	std::span<const std::uint8_t> bytes;
	std::size_t pos;
	std::size_t index;

	std::size_t remaining() const { return bytes.size() - pos; }

	std::unexpected<Error> error(std::string what, std::size_t at) const
	{
		return fail("parse binary measurement list",
			    "entry " + std::to_string(index) + " at offset " + std::to_string(at) +
				": " + std::move(what));
	}
	Result<std::uint32_t> u32(const char *what)
	{
		if (remaining() < 4)
			return error(std::string("truncated ") + what + " (" +
					 std::to_string(remaining()) + " bytes left, need 4)",
				     pos);
		std::uint32_t v = load_u32_le(bytes.data() + pos);
		pos += 4;
		return v;
	}
	Result<std::span<const std::uint8_t>> take(std::size_t n, const char *what, std::size_t len_at)
	{
		if (remaining() < n)
			return error(std::string(what) + " length " + std::to_string(n) + " exceeds the " +
					 std::to_string(remaining()) + " bytes left",
				     len_at);
		auto s = bytes.subspan(pos, n);
		pos += n;
		return s;
	}
};

} // namespace

BinaryLogReader::BinaryLogReader(std::span<const std::uint8_t> bytes, BinaryHeaderMode mode)
    : bytes_(bytes)
{
	if (mode == BinaryHeaderMode::typed) {
		// The algorithm comes from each record's size; remember the first for writing.
		format_.typed = bytes.size() >= 8 ? algo_of_size(load_u32_le(bytes.data() + 4))
						  : std::nullopt;
		if (!format_.typed)
			format_.typed = HashAlgo::sha256;
	} else if (mode == BinaryHeaderMode::detect && bytes.size() >= 8) {
		std::uint32_t size = load_u32_le(bytes.data() + 4);
		auto algo = algo_of_size(size);
		bool kernel_ok = plausible_template_name(bytes, 4 + sha1_digest_size);
		if (algo && !kernel_ok && plausible_template_name(bytes, 8 + size))
			format_.typed = algo;
	}
}

Result<bool> BinaryLogReader::next(TemplateEntry &entry)
{
	if (offset_ == bytes_.size())
		return false;
	Cursor c{bytes_, offset_, index_};

	auto pcr = c.u32("pcr");
	if (!pcr)
		return std::unexpected(pcr.error());
	entry.pcr = *pcr;

	std::size_t header_size = sha1_digest_size;
	std::size_t header_len_at = c.pos;
	if (format_.typed) {
		auto size = c.u32("header digest size");
		if (!size)
			return std::unexpected(size.error());
		if (!algo_of_size(*size))
			return c.error("header digest size " + std::to_string(*size) +
					   " is not a digest size",
				       header_len_at);
		header_size = *size;
	}
	auto header = c.take(header_size, "header digest", header_len_at);
	if (!header)
		return std::unexpected(header.error());
	entry.template_hash_sha1.assign(header->begin(), header->end());

	std::size_t name_len_at = c.pos;
	auto name_len = c.u32("template name length");
	if (!name_len)
		return std::unexpected(name_len.error());
	if (*name_len == 0 || *name_len > template_name_len_max)
		return c.error("template name length " + std::to_string(*name_len) +
				   " outside 1.." + std::to_string(template_name_len_max),
			       name_len_at);
	auto name = c.take(*name_len, "template name", name_len_at);
	if (!name)
		return std::unexpected(name.error());
	entry.template_name.assign(reinterpret_cast<const char *>(name->data()), name->size());

	if (entry.template_name == "ima") {
		// No data_len: a 20-byte digest, then u32 strlen and the name without its NUL.
		entry.fields.resize(2);
		auto d = c.take(sha1_digest_size, "ima digest", c.pos);
		if (!d)
			return std::unexpected(d.error());
		entry.fields[0].assign(d->begin(), d->end());
		std::size_t len_at = c.pos;
		auto n_len = c.u32("ima event name length");
		if (!n_len)
			return std::unexpected(n_len.error());
		if (*n_len > event_name_len_max)
			return c.error("ima event name length " + std::to_string(*n_len) + " over " +
					   std::to_string(event_name_len_max),
				       len_at);
		auto n = c.take(*n_len, "ima event name", len_at);
		if (!n)
			return std::unexpected(n.error());
		if (std::find(n->begin(), n->end(), std::uint8_t{0}) != n->end())
			return c.error("ima event name contains a NUL byte", len_at);
		entry.fields[1].assign(n->begin(), n->end());
		entry.fields[1].push_back(0);
	} else {
		std::size_t data_len_at = c.pos;
		auto data_len = c.u32("template data length");
		if (!data_len)
			return std::unexpected(data_len.error());
		auto data = c.take(*data_len, "template data", data_len_at);
		if (!data)
			return std::unexpected(data.error());
		// Fields: `u32 len | bytes` until the data ends exactly (ENFORCE_BUFEND). A known
		// template must have exactly its number of fields (ENFORCE_FIELDS); an unknown one
		// (research kernels) is read generically, up to IMA_TEMPLATE_NUM_FIELDS_MAX.
		auto layout = template_layout(entry.template_name);
		std::size_t expected = layout ? layout->count : 0;
		Cursor f{bytes_.first(c.pos), c.pos - data->size(), index_};
		std::size_t count = 0;
		std::size_t field_at[template_fields_max];
		while (f.remaining() > 0) {
			if (count == template_fields_max)
				return f.error("more than " + std::to_string(template_fields_max) +
						   " fields",
					       f.pos);
			std::size_t len_at = f.pos;
			field_at[count] = len_at;
			auto len = f.u32("field length");
			if (!len)
				return std::unexpected(len.error());
			auto field = f.take(*len, "field", len_at);
			if (!field)
				return std::unexpected(field.error());
			if (entry.fields.size() <= count)
				entry.fields.emplace_back();
			entry.fields[count++].assign(field->begin(), field->end());
		}
		entry.fields.resize(count);
		if (layout && count != expected)
			return c.error("template " + entry.template_name + " has " +
					   std::to_string(expected) + " fields, record has " +
					   std::to_string(count),
				       data_len_at);
		// Digest fields must name a kernel hash algorithm and hold a digest of its size,
		// so that nothing downstream meets "unknown:" digests from a binary list either.
		for (std::size_t i = 0; layout && i < count; ++i) {
			if (layout->fields[i].kind != FieldKind::digest_ng || entry.fields[i].empty())
				continue;
			if (auto d = parse_digest_ng(entry.fields[i]); !d)
				return c.error("field " + std::string(layout->fields[i].id) + ": " +
						   d.error().context,
					       field_at[i]);
		}
	}
	offset_ = c.pos;
	++index_;
	return true;
}

Result<UnverifiedLog> read_binary_log(std::span<const std::uint8_t> bytes, BinaryHeaderMode mode)
{
	BinaryLogReader reader(bytes, mode);
	UnverifiedLog log;
	log.header = reader.header_format();
	// A record is at least 4 + 20 + 4 + 1 + 4 bytes: cap the reservation by that.
	log.entries.reserve(std::min<std::size_t>(bytes.size() / 33, 1u << 20));
	for (;;) {
		TemplateEntry e;
		auto more = reader.next(e);
		if (!more)
			return std::unexpected(more.error());
		if (!*more)
			break;
		log.entries.push_back(std::move(e));
	}
	return log;
}

Result<void> append_binary_entry(Bytes &out, const TemplateEntry &entry,
				 const HeaderDigestFormat &format)
{
	auto bad = [&](std::string why) {
		return fail("write binary measurement list", std::move(why));
	};
	const auto &header = entry.template_hash_sha1;
	if (format.typed) {
		if (header.size() != digest_size(*format.typed))
			return bad("header digest of " + std::to_string(header.size()) +
				   " bytes in a " + std::string(hash_algo_name(*format.typed)) + " log");
	} else if (header.size() != sha1_digest_size) {
		return bad("header digest of " + std::to_string(header.size()) +
			   " bytes; the kernel format holds 20");
	}
	if (entry.template_name.empty() || entry.template_name.size() > template_name_len_max)
		return bad("template name of " + std::to_string(entry.template_name.size()) + " bytes");
	const bool ima = is_ima_template(entry);
	if (ima && (entry.fields.size() != 2 || entry.fields[0].size() != sha1_digest_size))
		return bad("'ima' entry needs a 20-byte digest and a name");
	// Nothing is appended before every check has passed: a failed call leaves `out` as it was.

	std::size_t data_len = 0;
	for (const Bytes &f : entry.fields)
		data_len += 4 + f.size();
	if (data_len > UINT32_MAX)
		return bad("template data over 4 GiB");

	put_u32_le(out, entry.pcr);
	if (format.typed)
		put_u32_le(out, static_cast<std::uint32_t>(header.size()));
	out.insert(out.end(), header.begin(), header.end());
	put_u32_le(out, static_cast<std::uint32_t>(entry.template_name.size()));
	out.insert(out.end(), entry.template_name.begin(), entry.template_name.end());

	if (ima) {
		const Bytes &n = entry.fields[1];
		// IMA_SHOW_BINARY_OLD_STRING_FMT: strlen(name), without the NUL.
		std::size_t len = strnlen(reinterpret_cast<const char *>(n.data()), n.size());
		out.insert(out.end(), entry.fields[0].begin(), entry.fields[0].end());
		put_u32_le(out, static_cast<std::uint32_t>(len));
		out.insert(out.end(), n.begin(), n.begin() + static_cast<std::ptrdiff_t>(len));
		return {};
	}
	put_u32_le(out, static_cast<std::uint32_t>(data_len));
	for (const Bytes &f : entry.fields) {
		put_u32_le(out, static_cast<std::uint32_t>(f.size()));
		out.insert(out.end(), f.begin(), f.end());
	}
	return {};
}

Result<Bytes> write_binary_log(const UnverifiedLog &log)
{
	Bytes out;
	for (std::size_t i = 0; i < log.entries.size(); ++i)
		if (auto r = append_binary_entry(out, log.entries[i], log.header); !r)
			return fail(r.error().err, r.error().op,
				    "entry " + std::to_string(i) + ": " + r.error().context);
	return out;
}

} // namespace eima::ima
