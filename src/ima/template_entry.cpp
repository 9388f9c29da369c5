#include "ima/template_entry.h"

#include <algorithm>
#include <cstring>

namespace eima::ima {

namespace {

constexpr FieldSpec field_specs[] = {
    {"d", FieldKind::digest},
    {"n", FieldKind::string},
    {"d-ng", FieldKind::digest_ng},
    {"d-ngv2", FieldKind::digest_ng},
    {"n-ng", FieldKind::string},
    {"sig", FieldKind::hex},
    {"buf", FieldKind::hex},
    {"d-modsig", FieldKind::digest_ng},
    {"modsig", FieldKind::hex},
    {"evmsig", FieldKind::hex},
    {"iuid", FieldKind::uint, 4},
    {"igid", FieldKind::uint, 4},
    {"imode", FieldKind::uint, 2},
    {"xattrnames", FieldKind::string},
    {"xattrlengths", FieldKind::hex},
    {"xattrvalues", FieldKind::hex},
    // Research fields of the embrave "ima-dep-cgn" kernel: the exec dependency chain and the
    // cgroup name, both NUL-terminated strings (checked against its binary list).
    {"dep", FieldKind::string},
    {"cgn", FieldKind::string},
};

struct NamedTemplate {
	std::string_view name;
	std::string_view fmt;
};

constexpr NamedTemplate builtin_templates[] = {
    {"ima", "d|n"},
    {"ima-ng", "d-ng|n-ng"},
    {"ima-sig", "d-ng|n-ng|sig"},
    {"ima-ngv2", "d-ngv2|n-ng"},
    {"ima-sigv2", "d-ngv2|n-ng|sig"},
    {"ima-buf", "d-ng|n-ng|buf"},
    {"ima-modsig", "d-ng|n-ng|sig|d-modsig|modsig"},
    {"evm-sig", "d-ng|n-ng|evmsig|xattrnames|xattrlengths|xattrvalues|iuid|igid|imode"},
    {"ima-dep-cgn", "dep|cgn|d-ng|n-ng"},
};

std::optional<FieldSpec> lookup_field(std::string_view id)
{
	for (const auto &f : field_specs)
		if (f.id == id)
			return f;
	return std::nullopt;
}

Result<TemplateLayout> parse_fmt(std::string_view fmt, std::string_view name)
{
	TemplateLayout layout;
	std::size_t pos = 0;
	for (;;) {
		std::size_t bar = fmt.find('|', pos);
		std::string_view id = fmt.substr(pos, bar == std::string_view::npos ? fmt.npos : bar - pos);
		auto spec = lookup_field(id);
		if (!spec)
			return fail("unknown template", "'" + std::string(name) + "' (field '" +
							    std::string(id) + "')");
		if (layout.count == template_fields_max)
			return fail("unknown template", "'" + std::string(name) + "' (too many fields)");
		layout.fields[layout.count++] = *spec;
		if (bar == std::string_view::npos)
			break;
		pos = bar + 1;
	}
	return layout;
}

Bytes string_field(std::string_view s)
{
	Bytes out(s.begin(), s.end());
	// ima_write_template_field_data(): spaces become '_' so the ascii list splits on ' '.
	std::replace(out.begin(), out.end(), std::uint8_t{' '}, std::uint8_t{'_'});
	out.push_back(0);
	return out;
}

Bytes digest_ng_field(std::string_view algo_name, std::span<const std::uint8_t> digest)
{
	Bytes out;
	out.reserve(algo_name.size() + 2 + digest.size());
	out.insert(out.end(), algo_name.begin(), algo_name.end());
	out.push_back(':');
	out.push_back(0);
	out.insert(out.end(), digest.begin(), digest.end());
	return out;
}

Result<void> check_digest(HashAlgo algo, std::span<const std::uint8_t> digest)
{
	if (digest.size() != digest_size(algo))
		return fail("make template entry", std::string(hash_algo_name(algo)) + " digest of " +
						       std::to_string(digest.size()) + " bytes, expected " +
						       std::to_string(digest_size(algo)));
	return {};
}

std::string_view until_nul(std::span<const std::uint8_t> field)
{
	const auto *p = reinterpret_cast<const char *>(field.data());
	return std::string_view(p, strnlen(p, field.size()));
}

} // namespace

std::optional<std::size_t> TemplateLayout::index_of(std::string_view id) const
{
	for (std::size_t i = 0; i < count; ++i)
		if (fields[i].id == id)
			return i;
	return std::nullopt;
}

Result<TemplateLayout> template_layout(std::string_view template_name)
{
	for (const auto &t : builtin_templates)
		if (t.name == template_name)
			return parse_fmt(t.fmt, template_name);
	if (template_name.empty())
		return fail("unknown template", "(empty name)");
	return parse_fmt(template_name, template_name);
}

bool is_ima_template(const TemplateEntry &entry) { return entry.template_name == "ima"; }

bool is_violation(const TemplateEntry &entry)
{
	return !entry.template_hash_sha1.empty() &&
	       std::all_of(entry.template_hash_sha1.begin(), entry.template_hash_sha1.end(),
			   [](std::uint8_t b) { return b == 0; });
}

// ima_calc_field_array_hash_tfm(): for 'ima' no length prefixes and the 'n' field copied
// into a zeroed IMA_EVENT_NAME_LEN_MAX + 1 buffer. Readers bound 'ima' names to 255 bytes
// plus NUL; a longer hand-built name is cut at 256 bytes here rather than overflowing.
template <typename Sink>
static void emit_template_data(const TemplateEntry &entry, Sink &&sink)
{
	if (is_ima_template(entry)) {
		static constexpr std::uint8_t zeros[event_name_len_max + 1] = {};
		for (std::size_t i = 0; i < entry.fields.size(); ++i) {
			const Bytes &f = entry.fields[i];
			if (i == 1) {
				std::size_t n = std::min(f.size(), event_name_len_max + 1);
				sink(std::span<const std::uint8_t>(f.data(), n));
				sink(std::span<const std::uint8_t>(zeros, event_name_len_max + 1 - n));
			} else {
				sink(std::span<const std::uint8_t>(f));
			}
		}
		return;
	}
	for (const Bytes &f : entry.fields) {
		const auto len = static_cast<std::uint32_t>(f.size());
		const std::uint8_t le[4] = {static_cast<std::uint8_t>(len),
					    static_cast<std::uint8_t>(len >> 8),
					    static_cast<std::uint8_t>(len >> 16),
					    static_cast<std::uint8_t>(len >> 24)};
		sink(std::span<const std::uint8_t>(le));
		sink(std::span<const std::uint8_t>(f));
	}
}

Bytes template_data(const TemplateEntry &entry)
{
	Bytes out;
	emit_template_data(entry, [&](std::span<const std::uint8_t> b) {
		out.insert(out.end(), b.begin(), b.end());
	});
	return out;
}

void hash_template_data(const TemplateEntry &entry, Hasher &h)
{
	emit_template_data(entry, [&](std::span<const std::uint8_t> b) { h.update(b); });
}

Result<void> template_hash(const TemplateEntry &entry, Hasher &h, std::span<std::uint8_t> out)
{
	if (out.size() < h.size())
		return fail(EINVAL, "template hash", "output buffer too small");
	if (is_violation(entry)) {
		std::fill_n(out.begin(), h.size(), std::uint8_t{0xff});
		return {};
	}
	hash_template_data(entry, h);
	return h.finish(out);
}

Result<Bytes> template_hash(const TemplateEntry &entry, HashAlgo bank)
{
	auto h = Hasher::create(bank);
	if (!h)
		return std::unexpected(h.error());
	Bytes out(digest_size(bank));
	if (auto r = template_hash(entry, *h, out); !r)
		return std::unexpected(r.error());
	return out;
}

Result<Bytes> expected_header_digest(const TemplateEntry &entry, HashAlgo header_algo)
{
	if (is_violation(entry))
		return Bytes(entry.template_hash_sha1.size(), 0);
	auto h = Hasher::create(header_algo);
	if (!h)
		return std::unexpected(h.error());
	hash_template_data(entry, *h);
	return h->finish();
}

Result<DigestView> parse_digest_ng(std::span<const std::uint8_t> field)
{
	// "<prefix>:" '\0' digest, prefix "sha256" (d-ng) or "ima:sha256" (d-ngv2).
	auto nul = std::find(field.begin(), field.end(), std::uint8_t{0});
	if (nul == field.end() || nul == field.begin() || *(nul - 1) != ':')
		return fail("parse d-ng field", "no \"algo:\\0\" prefix");
	std::size_t prefix_len = static_cast<std::size_t>(nul - field.begin()) - 1;
	DigestView v;
	v.prefix = std::string_view(reinterpret_cast<const char *>(field.data()), prefix_len);
	std::size_t colon = v.prefix.rfind(':');
	v.algo_name = colon == std::string_view::npos ? v.prefix : v.prefix.substr(colon + 1);
	v.algo = hash_algo_from_name(v.algo_name);
	v.digest = field.subspan(prefix_len + 2);
	auto size = kernel_digest_size(v.algo_name);
	if (!size)
		return fail("parse d-ng field", "unknown digest algorithm '" + std::string(v.algo_name) + "'");
	// A violation's digest is IMA_DIGEST_SIZE (20) zero bytes whatever the algorithm.
	const bool violation_zeros =
	    v.digest.size() == sha1_digest_size &&
	    std::all_of(v.digest.begin(), v.digest.end(), [](std::uint8_t b) { return b == 0; });
	if (v.digest.size() != *size && !violation_zeros)
		return fail("parse d-ng field", std::string(v.algo_name) + " digest of " +
						    std::to_string(v.digest.size()) + " bytes, expected " +
						    std::to_string(*size));
	return v;
}

Result<DigestView> file_digest(const TemplateEntry &entry)
{
	auto layout = template_layout(entry.template_name);
	if (!layout)
		return std::unexpected(layout.error());
	if (layout->count != entry.fields.size())
		return fail("file digest", "template " + entry.template_name + " expects " +
					       std::to_string(layout->count) + " fields, entry has " +
					       std::to_string(entry.fields.size()));
	if (auto i = layout->index_of("d")) {
		// The 'ima' template's digest is SHA-1, or the hash truncated/padded to its 20
		// bytes (ima_template_lib.c): any other size is not a list the kernel wrote.
		if (entry.fields[*i].size() != 20)
			return fail("file digest", "the 'd' field holds " +
							   std::to_string(entry.fields[*i].size()) +
							   " bytes, not 20");
		DigestView v;
		v.prefix = v.algo_name = "sha1";
		v.algo = HashAlgo::sha1;
		v.digest = entry.fields[*i];
		return v;
	}
	for (std::string_view id : {"d-ng", "d-ngv2"})
		if (auto i = layout->index_of(id))
			return parse_digest_ng(entry.fields[*i]);
	return fail("file digest", "template " + entry.template_name + " has no digest field");
}

Result<std::string_view> event_name(const TemplateEntry &entry)
{
	auto layout = template_layout(entry.template_name);
	if (!layout)
		return std::unexpected(layout.error());
	for (std::string_view id : {"n-ng", "n"})
		if (auto i = layout->index_of(id); i && *i < entry.fields.size())
			return until_nul(entry.fields[*i]);
	return fail("event name", "template " + entry.template_name + " has no name field");
}

Result<std::span<const std::uint8_t>> signature(const TemplateEntry &entry)
{
	auto layout = template_layout(entry.template_name);
	if (!layout)
		return std::unexpected(layout.error());
	if (auto i = layout->index_of("sig"); i && *i < entry.fields.size())
		return std::span<const std::uint8_t>(entry.fields[*i]);
	return fail("signature", "template " + entry.template_name + " has no sig field");
}

Result<void> seal_header_digest(TemplateEntry &entry)
{
	auto h = Hasher::create(HashAlgo::sha1);
	if (!h)
		return std::unexpected(h.error());
	hash_template_data(entry, *h);
	auto d = h->finish();
	if (!d)
		return std::unexpected(d.error());
	entry.template_hash_sha1 = std::move(*d);
	return {};
}

static Result<TemplateEntry> sealed(TemplateEntry e)
{
	if (auto r = seal_header_digest(e); !r)
		return std::unexpected(r.error());
	return e;
}

Result<TemplateEntry> make_ima_ng(HashAlgo algo, std::span<const std::uint8_t> digest,
				  std::string_view path, std::uint32_t pcr)
{
	if (auto r = check_digest(algo, digest); !r)
		return std::unexpected(r.error());
	return sealed({pcr, {}, "ima-ng", {digest_ng_field(hash_algo_name(algo), digest), string_field(path)}});
}

Result<TemplateEntry> make_ima_sig(HashAlgo algo, std::span<const std::uint8_t> digest,
				   std::string_view path, std::span<const std::uint8_t> sig,
				   std::uint32_t pcr)
{
	if (auto r = check_digest(algo, digest); !r)
		return std::unexpected(r.error());
	return sealed({pcr,
		       {},
		       "ima-sig",
		       {digest_ng_field(hash_algo_name(algo), digest), string_field(path),
			Bytes(sig.begin(), sig.end())}});
}

static std::string_view ima_event_name(std::string_view path)
{
	// ima_eventname_init_common(): over IMA_EVENT_NAME_LEN_MAX the kernel records the
	// dentry's own name instead (NAME_MAX = 255, so that always fits).
	if (path.size() <= event_name_len_max)
		return path;
	std::size_t slash = path.rfind('/');
	std::string_view base = slash == std::string_view::npos ? path : path.substr(slash + 1);
	return base.substr(0, event_name_len_max);
}

Result<TemplateEntry> make_ima(std::span<const std::uint8_t> sha1_digest, std::string_view path,
			       std::uint32_t pcr)
{
	if (auto r = check_digest(HashAlgo::sha1, sha1_digest); !r)
		return std::unexpected(r.error());
	return sealed({pcr,
		       {},
		       "ima",
		       {Bytes(sha1_digest.begin(), sha1_digest.end()), string_field(ima_event_name(path))}});
}

Result<TemplateEntry> make_ima_buf(HashAlgo algo, std::span<const std::uint8_t> digest,
				   std::string_view name, std::span<const std::uint8_t> buf,
				   std::uint32_t pcr)
{
	if (auto r = check_digest(algo, digest); !r)
		return std::unexpected(r.error());
	return sealed({pcr,
		       {},
		       "ima-buf",
		       {digest_ng_field(hash_algo_name(algo), digest), string_field(name),
			Bytes(buf.begin(), buf.end())}});
}

Result<TemplateEntry> make_violation(std::string_view template_name, HashAlgo algo,
				     std::string_view path, std::uint32_t pcr)
{
	auto layout = template_layout(template_name);
	if (!layout)
		return std::unexpected(layout.error());
	TemplateEntry e{pcr, Bytes(sha1_digest_size, 0), std::string(template_name), {}};
	static constexpr std::uint8_t zero_digest[sha1_digest_size] = {};
	for (const FieldSpec &f : layout->specs()) {
		if (f.id == "d")
			e.fields.emplace_back(sha1_digest_size, 0);
		else if (f.id == "d-ng")
			e.fields.push_back(digest_ng_field(hash_algo_name(algo), zero_digest));
		else if (f.id == "d-ngv2")
			e.fields.push_back(
			    digest_ng_field("ima:" + std::string(hash_algo_name(algo)), zero_digest));
		else if (f.id == "n")
			e.fields.push_back(string_field(ima_event_name(path)));
		else if (f.id == "n-ng")
			e.fields.push_back(string_field(path));
		else
			e.fields.emplace_back();
	}
	return e;
}

Result<TemplateEntry> make_boot_aggregate(HashAlgo algo, std::span<const std::uint8_t> digest,
					  std::string_view template_name)
{
	if (template_name == "ima-ng")
		return make_ima_ng(algo, digest, boot_aggregate_name);
	if (template_name == "ima-sig")
		return make_ima_sig(algo, digest, boot_aggregate_name, {});
	if (template_name == "ima") {
		if (algo != HashAlgo::sha1)
			return fail("make boot_aggregate", "the 'ima' template holds sha1 only");
		return make_ima(digest, boot_aggregate_name);
	}
	return fail("make boot_aggregate", "unsupported template '" + std::string(template_name) + "'");
}

Result<Bytes> compute_boot_aggregate(HashAlgo bank, std::span<const Bytes> pcrs)
{
	const std::size_t count = bank == HashAlgo::sha1 ? 8 : 10;
	if (pcrs.size() < count)
		return fail("boot_aggregate", std::string(hash_algo_name(bank)) + " needs PCR0-" +
						  std::to_string(count - 1) + ", got " +
						  std::to_string(pcrs.size()) + " values");
	auto h = Hasher::create(bank);
	if (!h)
		return std::unexpected(h.error());
	for (std::size_t i = 0; i < count; ++i) {
		if (pcrs[i].size() != digest_size(bank))
			return fail("boot_aggregate", "PCR" + std::to_string(i) + " is not a " +
							  std::string(hash_algo_name(bank)) + " value");
		h->update(pcrs[i]);
	}
	return h->finish();
}

} // namespace eima::ima
