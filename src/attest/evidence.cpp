#include "attest/evidence.h"

#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <climits>

#include "ima/binary_log.h"

namespace eima::attest
{

namespace
{

using nlohmann::json;

Result<std::string> get_string(const json &j, const char *key, const std::string &where)
{
	auto it = j.find(key);
	if (it == j.end() || !it->is_string())
		return fail("parse evidence",
			    where + ": \"" + key + "\" is missing or not a string");
	return it->get<std::string>();
}

Result<Bytes> get_hex(const json &j, const char *key, const std::string &where,
		      bool allow_empty = false)
{
	auto s = get_string(j, key, where);
	if (!s)
		return std::unexpected(s.error());
	auto b = from_hex(*s);
	if (!b || (!allow_empty && b->empty()))
		return fail("parse evidence", where + ": \"" + key + "\" is not non-empty hex");
	return *b;
}

Result<std::map<std::uint32_t, Bytes>> get_pcrs(const json &j, const std::string &where,
						ima::HashAlgo bank)
{
	auto it = j.find("pcrs");
	if (it == j.end() || !it->is_object() || it->empty())
		return fail("parse evidence", where + ": \"pcrs\" is missing or empty");
	std::map<std::uint32_t, Bytes> out;
	for (auto &[k, v] : it->items()) {
		// PCR indices 0..23, written as decimal strings.
		if (k.empty() || k.size() > 2 ||
		    k.find_first_not_of("0123456789") != std::string::npos || std::stoul(k) > 23)
			return fail("parse evidence",
				    where + ": PCR index \"" + k + "\" is not 0..23");
		auto b = v.is_string() ? from_hex(v.get<std::string>()) : std::nullopt;
		if (!b || b->size() != ima::digest_size(bank))
			return fail("parse evidence",
				    where + ": PCR " + k + " is not a " +
					    std::string(ima::hash_algo_name(bank)) +
					    " digest in hex");
		out[static_cast<std::uint32_t>(std::stoul(k))] = std::move(*b);
	}
	return out;
}

} // namespace

Bytes Evidence::pcr_values_file() const
{
	Bytes out;
	for (auto &[index, value] : pcrs) // std::map: ascending PCR order
		out.insert(out.end(), value.begin(), value.end());
	return out;
}

Result<Bytes> cut_binary_list(std::span<const std::uint8_t> list, std::size_t entries)
{
	ima::BinaryLogReader reader(list, ima::BinaryHeaderMode::kernel);
	ima::TemplateEntry e;
	for (std::size_t i = 0; i < entries; ++i) {
		auto more = reader.next(e);
		if (!more)
			return std::unexpected(more.error());
		if (!*more)
			return fail(ENODATA, "cut list",
				    "the list holds " + std::to_string(i) +
					    " entries, the quote covers " +
					    std::to_string(entries));
	}
	return Bytes(list.begin(), list.begin() + static_cast<std::ptrdiff_t>(reader.offset()));
}

Result<Evidence> evidence_from_quote_reply(const json &reply,
					   std::span<const std::uint8_t> host_list)
{
	const std::string where = "eimad's quote reply";
	if (!reply.is_object())
		return fail("parse evidence", where + ": not an object");
	Evidence e;
	auto bank_name = get_string(reply, "bank", where);
	if (!bank_name)
		return std::unexpected(bank_name.error());
	auto bank = ima::hash_algo_from_name(*bank_name);
	if (!bank)
		return fail("parse evidence", where + ": unknown bank " + *bank_name);
	e.bank = *bank;
	auto attest = get_hex(reply, "attest", where);
	auto sig = get_hex(reply, "signature", where);
	auto nonce = get_hex(reply, "nonce", where);
	auto ak_pem = get_string(reply, "ak_pem", where);
	auto ak_public = get_hex(reply, "ak_public", where, true);
	auto pcrs = get_pcrs(reply, where, e.bank);
	for (auto *err : {attest ? nullptr : &attest.error(), sig ? nullptr : &sig.error(),
			  nonce ? nullptr : &nonce.error(),
			  ak_public ? nullptr : &ak_public.error(), pcrs ? nullptr : &pcrs.error()})
		if (err)
			return std::unexpected(*err);
	if (!ak_pem)
		return std::unexpected(ak_pem.error());
	auto n = reply.find("entries");
	if (n == reply.end() || !n->is_number_unsigned())
		return fail("parse evidence", where + ": \"entries\" is missing");
	e.attest = std::move(*attest);
	e.signature = std::move(*sig);
	e.nonce = std::move(*nonce);
	e.ak_pem = std::move(*ak_pem);
	e.ak_public = std::move(*ak_public);
	e.pcrs = std::move(*pcrs);
	e.entries = n->get<std::size_t>();
	auto cut = cut_binary_list(host_list, e.entries);
	if (!cut)
		return std::unexpected(cut.error());
	e.list = std::move(*cut);
	char host[HOST_NAME_MAX + 1] = {};
	if (::gethostname(host, sizeof(host) - 1) == 0)
		e.hostname = host;
	return e;
}

json evidence_to_json(const Evidence &e)
{
	json pcrs = json::object();
	for (auto &[i, v] : e.pcrs)
		pcrs[std::to_string(i)] = to_hex(v);
	return {{"format", evidence_format},
		{"version", evidence_version},
		{"source", e.source},
		{"run_dir", e.run_dir},
		{"hostname", e.hostname},
		{"nonce", to_hex(e.nonce)},
		{"quote",
		 {{"attest", to_hex(e.attest)},
		  {"signature", to_hex(e.signature)},
		  {"bank", ima::hash_algo_name(e.bank)},
		  {"pcrs", pcrs}}},
		{"ak", {{"pem", e.ak_pem}, {"public", to_hex(e.ak_public)}}},
		{"list",
		 {{"format", "binary"},
		  {"encoding", "base64"},
		  {"entries", e.entries},
		  {"data", base64_encode(e.list)}}}};
}

Result<Evidence> evidence_from_json(const json &j, const std::string &source)
{
	if (!j.is_object())
		return fail("parse evidence", source + ": not a JSON object");
	if (j.value("format", "") != evidence_format)
		return fail("parse evidence", source + ": \"format\" is not \"eima-evidence\"");
	auto v = j.find("version");
	if (v == j.end() || !v->is_number_integer() || v->get<int>() != evidence_version)
		return fail("parse evidence",
			    source + ": unsupported \"version\" (this eima reads 1)");
	Evidence e;
	auto src = get_string(j, "source", source);
	if (!src)
		return std::unexpected(src.error());
	e.source = *src;
	e.run_dir = j.value("run_dir", "");
	e.hostname = j.value("hostname", "");
	auto nonce = get_hex(j, "nonce", source);
	if (!nonce)
		return std::unexpected(nonce.error());
	e.nonce = std::move(*nonce);

	auto q = j.find("quote");
	if (q == j.end() || !q->is_object())
		return fail("parse evidence", source + ": \"quote\" is missing");
	const std::string qw = source + ": quote";
	auto bank_name = get_string(*q, "bank", qw);
	if (!bank_name)
		return std::unexpected(bank_name.error());
	auto bank = ima::hash_algo_from_name(*bank_name);
	if (!bank)
		return fail("parse evidence", qw + ": unknown bank " + *bank_name);
	e.bank = *bank;
	auto attest = get_hex(*q, "attest", qw);
	if (!attest)
		return std::unexpected(attest.error());
	auto sig = get_hex(*q, "signature", qw);
	if (!sig)
		return std::unexpected(sig.error());
	auto pcrs = get_pcrs(*q, qw, e.bank);
	if (!pcrs)
		return std::unexpected(pcrs.error());
	e.attest = std::move(*attest);
	e.signature = std::move(*sig);
	e.pcrs = std::move(*pcrs);

	auto ak = j.find("ak");
	if (ak == j.end() || !ak->is_object())
		return fail("parse evidence", source + ": \"ak\" is missing");
	auto pem = get_string(*ak, "pem", source + ": ak");
	if (!pem)
		return std::unexpected(pem.error());
	e.ak_pem = *pem;
	auto pub = get_hex(*ak, "public", source + ": ak", true);
	if (!pub)
		return std::unexpected(pub.error());
	e.ak_public = std::move(*pub);

	auto l = j.find("list");
	if (l == j.end() || !l->is_object())
		return fail("parse evidence", source + ": \"list\" is missing");
	if (l->value("format", "") != "binary" || l->value("encoding", "") != "base64")
		return fail("parse evidence", source + ": list: only format \"binary\", encoding "
						       "\"base64\" are read");
	auto n = l->find("entries");
	if (n == l->end() || !n->is_number_unsigned())
		return fail("parse evidence", source + ": list: \"entries\" is missing");
	e.entries = n->get<std::size_t>();
	auto data = get_string(*l, "data", source + ": list");
	if (!data)
		return std::unexpected(data.error());
	auto bytes = base64_decode(*data);
	if (!bytes)
		return fail("parse evidence", source + ": list: \"data\" is not base64");
	e.list = std::move(*bytes);
	return e;
}

Result<Evidence> parse_evidence(std::string_view text, const std::string &source)
{
	json j = json::parse(text, nullptr, false);
	if (j.is_discarded())
		return fail("parse evidence", source + ": not valid JSON");
	return evidence_from_json(j, source);
}

std::string base64_encode(std::span<const std::uint8_t> bytes)
{
	std::string out;
	// EVP_EncodeBlock takes an int length: encode in chunks of a multiple of 3 bytes.
	constexpr std::size_t chunk = 3 * 1024 * 1024;
	out.reserve((bytes.size() + 2) / 3 * 4);
	std::string buf;
	for (std::size_t off = 0; off < bytes.size(); off += chunk) {
		std::size_t n = std::min(chunk, bytes.size() - off);
		buf.resize((n + 2) / 3 * 4 + 1);
		int w = EVP_EncodeBlock(reinterpret_cast<unsigned char *>(buf.data()),
					bytes.data() + off, static_cast<int>(n));
		out.append(buf.data(), static_cast<std::size_t>(w));
	}
	return out;
}

std::optional<Bytes> base64_decode(std::string_view text)
{
	if (text.size() % 4 != 0)
		return std::nullopt;
	// Only the last quartet may be padded; EVP_DecodeBlock does not say how much was.
	auto pad_at = text.find('=');
	if (pad_at != std::string_view::npos && pad_at < text.size() - 2)
		return std::nullopt;
	std::size_t pad = text.ends_with("==") ? 2 : text.ends_with("=") ? 1 : 0;
	if (pad_at != std::string_view::npos && pad_at != text.size() - pad)
		return std::nullopt;
	Bytes out;
	out.reserve(text.size() / 4 * 3);
	constexpr std::size_t chunk = 4 * 1024 * 1024;
	Bytes buf;
	for (std::size_t off = 0; off < text.size(); off += chunk) {
		std::size_t n = std::min(chunk, text.size() - off);
		buf.resize(n / 4 * 3);
		int w = EVP_DecodeBlock(buf.data(),
					reinterpret_cast<const unsigned char *>(text.data() + off),
					static_cast<int>(n));
		if (w < 0 || static_cast<std::size_t>(w) != buf.size())
			return std::nullopt;
		out.insert(out.end(), buf.begin(), buf.end());
	}
	out.resize(out.size() - pad);
	return out;
}

} // namespace eima::attest
