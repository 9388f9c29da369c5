#include "attest/evidence.h"

#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <optional>

#include "common/file_io.h"
#include "common/json_text.h"
#include "ima/binary_log.h"

namespace eima::attest
{

namespace
{

using nlohmann::json;

// Where a member is: the document (a path, or "eimad's quote reply") and the dotted path of
// the object being read ("" at the top, "host.quote." inside), so that an error says
// "ev.json: host.quote.attest: ..." however deep the member is.
struct Where {
	std::string source;
	std::string path;

	Where member(std::string_view key) const { return {source, path + std::string(key) + "."}; }
	std::unexpected<Error> error(std::string_view key, const std::string &why) const
	{
		return fail("parse evidence", source + ": " + path + std::string(key) + ": " + why);
	}
	// An error about the object itself.
	std::unexpected<Error> error(const std::string &why) const
	{
		if (path.empty())
			return fail("parse evidence", source + ": " + why);
		return fail("parse evidence",
			    source + ": " + path.substr(0, path.size() - 1) + ": " + why);
	}
};

Result<std::string> get_string(const json &j, const char *key, const Where &w)
{
	auto it = j.find(key);
	if (it == j.end() || !it->is_string())
		return w.error(key, "missing or not a string");
	return it->get<std::string>();
}

// A string that may be absent (""), but is a string when present.
Result<std::string> get_optional_string(const json &j, const char *key, const Where &w)
{
	if (!j.contains(key))
		return std::string();
	return get_string(j, key, w);
}

Result<Bytes> get_hex(const json &j, const char *key, const Where &w, bool allow_empty = false)
{
	auto s = get_string(j, key, w);
	if (!s)
		return std::unexpected(s.error());
	auto b = from_hex(*s);
	if (!b || (!allow_empty && b->empty()))
		return w.error(key, allow_empty ? "not hex" : "not non-empty hex");
	return *b;
}

Result<const json *> get_object(const json &j, const char *key, const Where &w)
{
	auto it = j.find(key);
	if (it == j.end() || !it->is_object())
		return w.error(key, "missing or not an object");
	return &*it;
}

Result<std::size_t> get_count(const json &j, const char *key, const Where &w)
{
	auto it = j.find(key);
	if (it == j.end() || !it->is_number_unsigned())
		return w.error(key, "missing or not a count");
	return it->get<std::size_t>();
}

Result<ima::HashAlgo> get_bank(const json &j, const Where &w)
{
	auto name = get_string(j, "bank", w);
	if (!name)
		return std::unexpected(name.error());
	auto bank = ima::hash_algo_from_name(*name);
	if (!bank)
		return w.error("bank", "unknown bank " + *name);
	return *bank;
}

Result<std::map<std::uint32_t, Bytes>> get_pcrs(const json &j, const Where &w, ima::HashAlgo bank)
{
	auto it = j.find("pcrs");
	if (it == j.end() || !it->is_object() || it->empty())
		return w.error("pcrs", "missing or empty");
	std::map<std::uint32_t, Bytes> out;
	for (auto &[k, v] : it->items()) {
		// PCR indices 0..23, written as decimal strings.
		if (k.empty() || k.size() > 2 ||
		    k.find_first_not_of("0123456789") != std::string::npos || std::stoul(k) > 23)
			return w.error("pcrs", "PCR index \"" + k + "\" is not 0..23");
		auto b = v.is_string() ? from_hex(v.get<std::string>()) : std::nullopt;
		if (!b || b->size() != ima::digest_size(bank))
			return w.error("pcrs." + k, "not a " +
							    std::string(ima::hash_algo_name(bank)) +
							    " digest in hex");
		out[static_cast<std::uint32_t>(std::stoul(k))] = std::move(*b);
	}
	return out;
}

// How a list reaches evidence: its bytes, cut to the reply's `entries`, or (no bytes) the
// name of the file that holds them.
struct ListSource {
	std::optional<std::span<const std::uint8_t>> bytes;
	std::string name; // for errors; the file when there are no bytes
};

// The quote fields of one of eimad's quote replies (host, or a container's vTPM), with its
// list.
Result<Evidence> quote_reply_fields(const json &reply, const Where &w, const ListSource &list)
{
	if (!reply.is_object())
		return w.error("not an object");
	tpm::Quote q;
	auto bank = get_bank(reply, w);
	if (!bank)
		return std::unexpected(bank.error());
	q.bank = *bank;
	auto attest = get_hex(reply, "attest", w);
	if (!attest)
		return std::unexpected(attest.error());
	auto sig = get_hex(reply, "signature", w);
	if (!sig)
		return std::unexpected(sig.error());
	auto nonce = get_hex(reply, "nonce", w);
	if (!nonce)
		return std::unexpected(nonce.error());
	auto ak_pem = get_string(reply, "ak_pem", w);
	if (!ak_pem)
		return std::unexpected(ak_pem.error());
	auto ak_public = get_hex(reply, "ak_public", w, true);
	if (!ak_public)
		return std::unexpected(ak_public.error());
	auto pcrs = get_pcrs(reply, w, q.bank);
	if (!pcrs)
		return std::unexpected(pcrs.error());
	auto n = get_count(reply, "entries", w);
	if (!n)
		return std::unexpected(n.error());
	q.attest = std::move(*attest);
	q.signature = std::move(*sig);
	q.ak_pem = std::move(*ak_pem);
	q.ak_public = std::move(*ak_public);
	q.pcrs = std::move(*pcrs);
	if (list.bytes)
		return evidence_from_quote(std::move(q), *nonce, *n, *list.bytes, list.name);
	auto e = evidence_from_quote(std::move(q), *nonce, 0, {}, list.name);
	if (e) {
		e->entries = *n;
		e->list_file = list.name;
	}
	return e;
}

// One evidence object; `nested` for the host evidence inside container evidence.
Result<Evidence> evidence_object(const json &j, const Where &w, bool nested)
{
	if (!j.is_object())
		return w.error("not a JSON object");
	if (!j.contains("format") || j["format"] != evidence_format)
		return w.error("format", "not \"eima-evidence\"");
	auto v = j.find("version");
	if (v == j.end() || !v->is_number_integer() || v->get<int>() != evidence_version)
		return w.error("version", "unsupported (this eima reads 1)");
	Evidence e;
	auto src = get_string(j, "source", w);
	if (!src)
		return std::unexpected(src.error());
	e.source = *src;
	if (nested && e.source != evidence_source_host)
		return w.error("source", "\"" + e.source +
						 "\": the host evidence of a container "
						 "must be \"host\"");
	if (e.source != evidence_source_host && e.source != evidence_source_kernel &&
	    e.source != evidence_source_container)
		return w.error("source", "\"" + e.source + "\" is not host, kernel or container");
	bool container = e.source == evidence_source_container;
	if (!container)
		for (const char *key : {"container", "host"})
			if (j.contains(key))
				return w.error(key, "only container evidence has it");
	for (auto [key, out] : {std::pair{"run_dir", &e.run_dir}, std::pair{"hostname", &e.hostname}}) {
		auto value = get_optional_string(j, key, w);
		if (!value)
			return std::unexpected(value.error());
		*out = std::move(*value);
	}
	auto nonce = get_hex(j, "nonce", w);
	if (!nonce)
		return std::unexpected(nonce.error());
	e.nonce = std::move(*nonce);

	auto q = get_object(j, "quote", w);
	if (!q)
		return std::unexpected(q.error());
	const Where qw = w.member("quote");
	auto bank = get_bank(**q, qw);
	if (!bank)
		return std::unexpected(bank.error());
	e.bank = *bank;
	auto attest = get_hex(**q, "attest", qw);
	if (!attest)
		return std::unexpected(attest.error());
	auto sig = get_hex(**q, "signature", qw);
	if (!sig)
		return std::unexpected(sig.error());
	auto pcrs = get_pcrs(**q, qw, e.bank);
	if (!pcrs)
		return std::unexpected(pcrs.error());
	e.attest = std::move(*attest);
	e.signature = std::move(*sig);
	e.pcrs = std::move(*pcrs);

	auto ak = get_object(j, "ak", w);
	if (!ak)
		return std::unexpected(ak.error());
	const Where aw = w.member("ak");
	auto pem = get_string(**ak, "pem", aw);
	if (!pem)
		return std::unexpected(pem.error());
	e.ak_pem = *pem;
	auto pub = get_hex(**ak, "public", aw, true);
	if (!pub)
		return std::unexpected(pub.error());
	e.ak_public = std::move(*pub);

	auto l = get_object(j, "list", w);
	if (!l)
		return std::unexpected(l.error());
	const Where lw = w.member("list");
	if ((*l)->value("format", "") != "binary")
		return lw.error("format", "only \"binary\" is read");
	auto n = get_count(**l, "entries", lw);
	if (!n)
		return std::unexpected(n.error());
	e.entries = *n;
	if ((*l)->contains("file")) {
		if ((*l)->contains("data"))
			return lw.error("file", "a list has data or a file, not both");
		auto file = get_string(**l, "file", lw);
		if (!file)
			return std::unexpected(file.error());
		if (file->empty())
			return lw.error("file", "empty");
		e.list_file = *file;
	} else {
		if ((*l)->value("encoding", "") != "base64")
			return lw.error("encoding", "only \"base64\" is read");
		auto data = get_string(**l, "data", lw);
		if (!data)
			return std::unexpected(data.error());
		auto bytes = base64_decode(*data);
		if (!bytes)
			return lw.error("data", "not base64");
		e.list = std::move(*bytes);
	}

	if (container) {
		auto id = get_string(j, "container", w);
		if (!id)
			return std::unexpected(id.error());
		if (id->empty())
			return w.error("container", "empty");
		e.container = *id;
		auto h = get_object(j, "host", w);
		if (!h)
			return std::unexpected(h.error());
		auto host = evidence_object(**h, w.member("host"), true);
		if (!host)
			return std::unexpected(host.error());
		e.host = std::make_shared<const Evidence>(std::move(*host));
	}
	return e;
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

Result<Evidence> evidence_from_quote(tpm::Quote q, std::span<const std::uint8_t> nonce,
				     std::size_t entries, std::span<const std::uint8_t> list,
				     const std::string &list_name)
{
	Evidence e;
	e.bank = q.bank;
	e.nonce.assign(nonce.begin(), nonce.end());
	e.attest = std::move(q.attest);
	e.signature = std::move(q.signature);
	e.ak_pem = std::move(q.ak_pem);
	e.ak_public = std::move(q.ak_public);
	e.pcrs = std::move(q.pcrs);
	e.entries = entries;
	auto cut = cut_binary_list(list, entries);
	if (!cut) {
		Error err = cut.error();
		err.context = list_name + ": " + err.context;
		return std::unexpected(err);
	}
	e.list = std::move(*cut);
	char host[HOST_NAME_MAX + 1] = {};
	if (::gethostname(host, sizeof(host) - 1) == 0)
		e.hostname = host;
	return e;
}

json quote_reply(const tpm::Quote &q, std::span<const std::uint8_t> nonce, std::size_t entries)
{
	json out = {{"attest", to_hex(q.attest)},
		    {"signature", to_hex(q.signature)},
		    {"ak_pem", q.ak_pem},
		    {"ak_public", to_hex(q.ak_public)},
		    {"bank", ima::hash_algo_name(q.bank)},
		    {"nonce", to_hex(nonce)},
		    {"entries", entries}};
	for (auto &[pcr, v] : q.pcrs)
		out["pcrs"][std::to_string(pcr)] = to_hex(v);
	return out;
}

Result<Evidence> evidence_from_quote_reply(const json &reply,
					   std::span<const std::uint8_t> host_list)
{
	return quote_reply_fields(reply, {"eimad's quote reply", ""}, {host_list, "host list"});
}

namespace {

Result<Evidence> container_evidence(const json &reply, const ListSource &container_list,
				    const ListSource &host_list)
{
	const Where w{"eimad's quote reply", ""};
	if (!reply.is_object())
		return w.error("not an object");
	auto id = get_string(reply, "container", w);
	if (!id)
		return std::unexpected(id.error());
	if (id->empty())
		return w.error("container", "empty");
	auto h = get_object(reply, "host", w);
	if (!h)
		return std::unexpected(h.error());
	auto host = quote_reply_fields(**h, w.member("host"), host_list);
	if (!host)
		return std::unexpected(host.error());
	auto e = quote_reply_fields(reply, w, container_list);
	if (!e)
		return std::unexpected(e.error());
	e->source = evidence_source_container;
	e->container = *id;
	e->host = std::make_shared<const Evidence>(std::move(*host));
	return e;
}

} // namespace

Result<Evidence> evidence_from_container_quote_reply(const json &reply,
						     std::span<const std::uint8_t> container_list,
						     std::span<const std::uint8_t> host_list,
						     const std::string &container_list_name,
						     const std::string &host_list_name)
{
	return container_evidence(reply, {container_list, container_list_name},
				  {host_list, host_list_name});
}

void set_run_dir(Evidence &e, const std::string &run_dir)
{
	e.run_dir = run_dir;
	if (e.host) {
		auto host = std::make_shared<Evidence>(*e.host);
		host->run_dir = run_dir;
		e.host = std::move(host);
	}
}

Result<Evidence> read_container_evidence(const json &reply, const std::string &run_dir,
					 HostList host_list)
{
	auto log_dir = reply.find("log_dir");
	if (log_dir == reply.end() || !log_dir->is_string() || log_dir->get<std::string>().empty())
		return fail("eimad", "the quote reply has no \"log_dir\"");
	std::string path = log_dir->get<std::string>() + "/binary_runtime_measurements";
	std::string host_path = run_dir + "/host/binary_runtime_measurements";
	auto list = read_file(path);
	if (!list)
		return std::unexpected(list.error());
	Result<Evidence> ev;
	if (host_list == HostList::by_file) {
		ev = container_evidence(reply, {as_bytes(*list), path}, {std::nullopt, host_path});
	} else {
		auto host = read_file(host_path);
		if (!host)
			return std::unexpected(host.error());
		ev = container_evidence(reply, {as_bytes(*list), path}, {as_bytes(*host), host_path});
	}
	if (ev)
		set_run_dir(*ev, run_dir);
	return ev;
}

namespace {

Result<void> load_list_file(Evidence &e, const std::string &file)
{
	// The name comes from untrusted evidence: only a regular file is read (not a device or
	// a pipe that never ends).
	struct stat st;
	if (::stat(file.c_str(), &st) != 0)
		return fail(errno, "stat", file);
	if (!S_ISREG(st.st_mode))
		return fail(EINVAL, "read list", file + ": not a regular file");
	auto bytes = read_file(file);
	if (!bytes)
		return std::unexpected(bytes.error());
	auto cut = cut_binary_list(as_bytes(*bytes), e.entries);
	if (!cut) {
		Error err = cut.error();
		err.context = file + ": " + err.context;
		return std::unexpected(err);
	}
	e.list = std::move(*cut);
	return {};
}

} // namespace

Result<void> load_list_files(Evidence &e, const std::string &host_list_file)
{
	if (!e.list_file.empty())
		if (auto r = load_list_file(e, e.list_file); !r)
			return r;
	if (e.host && (!e.host->list_file.empty() || !host_list_file.empty())) {
		auto host = std::make_shared<Evidence>(*e.host);
		if (auto r = load_list_file(*host, host_list_file.empty() ? host->list_file
									   : host_list_file);
		    !r)
			return r;
		e.host = std::move(host);
	}
	return {};
}

json evidence_to_json(const Evidence &e)
{
	json pcrs = json::object();
	for (auto &[i, v] : e.pcrs)
		pcrs[std::to_string(i)] = to_hex(v);
	json j = {{"format", evidence_format},
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
		   e.list_file.empty() ? json{{"format", "binary"},
					      {"encoding", "base64"},
					      {"entries", e.entries},
					      {"data", base64_encode(e.list)}}
				       : json{{"format", "binary"},
					      {"entries", e.entries},
					      {"file", e.list_file}}}};
	if (e.source == evidence_source_container) {
		j["container"] = e.container;
		j["host"] = e.host ? evidence_to_json(*e.host) : json(nullptr);
	}
	return j;
}

Result<Evidence> evidence_from_json(const json &j, const std::string &source)
{
	return evidence_object(j, {source, ""}, false);
}

Result<Evidence> parse_evidence(std::string_view text, const std::string &source)
{
	auto j = json_parse(text, source);
	if (!j)
		return fail("parse evidence", j.error().context);
	return evidence_from_json(*j, source);
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
