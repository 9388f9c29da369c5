#include "attest/keylime_policy.h"

#include <algorithm>
#include <cctype>
#include <string>

#include "attest/json_input.h"
#include "common/json_text.h"


namespace eima::attest {

namespace {

using nlohmann::json;

std::string pointer_token(std::string_view key) { return json_pointer_token(key); }

std::unexpected<Error> bad(const std::string &source, const std::string &where,
			   const std::string &why)
{
	return json_error("import keylime policy", source, where, why);
}

std::string_view trim(std::string_view s)
{
	while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
		s.remove_prefix(1);
	while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
		s.remove_suffix(1);
	return s;
}

// Calls f(line_no, trimmed line) for every line that is neither blank nor a '#' comment;
// stops at the first error f returns.
template <typename F> Result<void> for_each_line(std::string_view text, F &&f)
{
	std::size_t line_no = 0;
	while (!text.empty()) {
		auto nl = text.find('\n');
		std::string_view line = text.substr(0, nl);
		text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
		++line_no;
		line = trim(line);
		if (line.empty() || line.front() == '#')
			continue;
		if (auto r = f(line_no, line); !r)
			return r;
	}
	return {};
}

bool is_hex_token(std::string_view s)
{
	return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
		return std::isxdigit(static_cast<unsigned char>(c));
	});
}

// "HEX<blanks>PATH": the digest and the path (the rest of the line, as Keylime's split(None, 1)).
std::optional<std::pair<std::string_view, std::string_view>> split_allowlist_line(std::string_view line)
{
	auto blank = line.find_first_of(" \t");
	if (blank == std::string_view::npos)
		return std::nullopt;
	return std::pair{line.substr(0, blank), trim(line.substr(blank))};
}

Result<void> add_digest(DigestMap &map, const std::string &name, std::string_view hex,
			const std::string &source, const std::string &where)
{
	// Keylime's schema: ^[0-9a-f]{40,128}$, no algorithm prefix.
	if (!is_hex_token(hex))
		return bad(source, where, "not a hex digest: '" + std::string(hex.substr(0, 140)) + "'");
	auto d = parse_policy_digest(hex);
	if (!d)
		return bad(source, where, d.error().context);
	auto &list = map[name];
	if (std::find(list.begin(), list.end(), *d) == list.end())
		list.push_back(*d);
	return {};
}

Result<DigestMap> digest_map(const json &j, const std::string &source, const std::string &pointer)
{
	if (!j.is_object())
		return bad(source, pointer, "not an object of name -> [hex digests]");
	DigestMap out;
	for (auto &[name, list] : j.items()) {
		std::string p = pointer + "/" + pointer_token(name);
		if (!list.is_array())
			return bad(source, p, "not an array of digests");
		if (list.empty())
			return bad(source, p, "no digests (Keylime requires at least one)");
		for (std::size_t i = 0; i < list.size(); ++i) {
			std::string pi = p + "/" + std::to_string(i);
			if (!list[i].is_string())
				return bad(source, pi, "not a string");
			if (auto r = add_digest(out, name, list[i].get<std::string>(), source, pi); !r)
				return std::unexpected(r.error());
		}
	}
	return out;
}

Result<std::vector<std::string>> strings(const json &j, const std::string &source,
					 const std::string &pointer)
{
	return json_strings(j, "import keylime policy", source, pointer);
}

Result<std::int64_t> integer(const json &j, const std::string &source, const std::string &pointer)
{
	if (!j.is_number_integer() || j.get<std::int64_t>() < 0)
		return bad(source, pointer, "not a non-negative integer");
	return j.get<std::int64_t>();
}

constexpr std::string_view log_hash_algs[] = {"sha1", "sha256", "sha384", "sha512"};

Result<RuntimePolicy> from_runtime_policy(const json &j, const std::string &source, bool legacy)
{
	RuntimePolicy p;
	p.generator = "keylime";
	if (j.contains("meta")) {
		auto &meta = j["meta"];
		if (!meta.is_object())
			return bad(source, "/meta", "not an object");
		if (meta.contains("version"))
			if (auto v = integer(meta["version"], source, "/meta/version"); !v)
				return std::unexpected(v.error());
		if (meta.contains("generator")) {
			auto g = integer(meta["generator"], source, "/meta/generator");
			if (!g)
				return std::unexpected(g.error());
			p.keylime.generator = *g;
		}
		if (meta.contains("timestamp")) {
			if (!meta["timestamp"].is_string())
				return bad(source, "/meta/timestamp", "not a string");
			p.timestamp = meta["timestamp"].get<std::string>();
		}
	} else if (!legacy) {
		return bad(source, "/meta", "missing");
	}
	if (legacy)
		p.keylime.generator = 3; // RUNTIME_POLICY_GENERATOR.LegacyAllowList
	if (j.contains("release")) {
		auto r = integer(j["release"], source, "/release");
		if (!r)
			return std::unexpected(r.error());
		p.keylime.release = *r;
	}
	const char *digests_key = legacy ? "hashes" : "digests";
	for (auto [field, target] : {std::pair{digests_key, &p.digests},
				     {"keyrings", &p.keyrings},
				     {"ima-buf", &p.ima_buf}})
		if (j.contains(field)) {
			auto m = digest_map(j[field], source, std::string("/") + field);
			if (!m)
				return std::unexpected(m.error());
			*target = std::move(*m);
		}
	if (j.contains("excludes")) {
		auto ex = strings(j["excludes"], source, "/excludes");
		if (!ex)
			return std::unexpected(ex.error());
		p.exclude_regexes = std::move(*ex);
	}
	if (j.contains("ima")) {
		auto &ima = j["ima"];
		if (!ima.is_object())
			return bad(source, "/ima", "not an object");
		if (ima.contains("ignored_keyrings")) {
			auto ig = strings(ima["ignored_keyrings"], source, "/ima/ignored_keyrings");
			if (!ig)
				return std::unexpected(ig.error());
			p.ignored_keyrings = std::move(*ig);
		}
		if (ima.contains("log_hash_alg")) {
			auto &a = ima["log_hash_alg"];
			if (!a.is_string() ||
			    std::find(std::begin(log_hash_algs), std::end(log_hash_algs),
				      a.get<std::string>()) == std::end(log_hash_algs))
				return bad(source, "/ima/log_hash_alg",
					   "not one of sha1, sha256, sha384, sha512");
			p.keylime.log_hash_alg = a.get<std::string>();
		}
		if (ima.contains("dm_policy"))
			p.keylime.dm_policy = ima["dm_policy"];
	}
	if (j.contains("verification-keys")) {
		auto &vk = j["verification-keys"];
		if (!vk.is_string())
			return bad(source, "/verification-keys",
				   "not a string (Keylime embeds the keyring JSON as a string)");
		p.keylime.verification_keys = vk.get<std::string>();
		if (!p.keylime.verification_keys.empty() &&
		    !json::accept(p.keylime.verification_keys))
			return bad(source, "/verification-keys", "the string is not a JSON document");
	}
	if (auto r = check_excludes(p, source); !r) {
		Error e = r.error();
		// check_excludes names eima's pointer; Keylime's list is /excludes.
		if (auto pos = e.context.find("/excludes/regex/"); pos != std::string::npos)
			e.context.replace(pos, 16, "/excludes/");
		return std::unexpected(e);
	}
	return p;
}

Result<RuntimePolicy> from_flat_allowlist(std::string_view text, const std::string &source)
{
	RuntimePolicy p;
	p.generator = "keylime";
	p.keylime.generator = 3; // what convert_runtime_policy writes for a flat allowlist
	auto r = for_each_line(text, [&](std::size_t line_no, std::string_view line) -> Result<void> {
		std::string where = "line " + std::to_string(line_no);
		auto parts = split_allowlist_line(line);
		if (!parts || parts->second.empty())
			return bad(source, where, "not 'HEX PATH'");
		auto [hex, path] = *parts;
		constexpr std::string_view keyring_prefix = "%keyring:";
		if (path.starts_with(keyring_prefix))
			return add_digest(p.keyrings, std::string(path.substr(keyring_prefix.size())),
					  hex, source, where);
		return add_digest(p.digests, std::string(path), hex, source, where);
	});
	if (!r)
		return std::unexpected(r.error());
	return p;
}

Result<RuntimePolicy> from_exclude_list(std::string_view text, const std::string &source)
{
	RuntimePolicy p;
	p.generator = "keylime";
	auto r = for_each_line(text, [&](std::size_t, std::string_view line) -> Result<void> {
		p.exclude_regexes.emplace_back(line);
		return {};
	});
	if (!r)
		return std::unexpected(r.error());
	// Name the line of a regex that does not compile.
	if (auto c = check_excludes(p, source); !c) {
		std::size_t idx = 0, line_no = 0;
		const std::string &context = c.error().context;
		auto pos = context.find("/excludes/regex/");
		if (pos != std::string::npos)
			idx = std::stoul(context.substr(pos + 16));
		// The pattern and why it does not compile, after "/excludes/regex/N: ".
		auto why_at = pos == std::string::npos ? pos : context.find(": ", pos);
		std::string why = why_at == std::string::npos ? p.exclude_regexes[idx]
							      : context.substr(why_at + 2);
		std::size_t seen = 0;
		(void)for_each_line(text, [&](std::size_t n, std::string_view) -> Result<void> {
			if (seen++ == idx)
				line_no = n;
			return {};
		});
		return bad(source, "line " + std::to_string(line_no),
			   "not a regex: " + why);
	}
	return p;
}

Result<json> export_map(const DigestMap &map, const std::string &section)
{
	json out = json::object();
	for (auto &[name, digests] : map) {
		json list = json::array();
		for (auto &d : digests) {
			std::string hex = to_hex(d.value);
			if (hex.size() < 40 || hex.size() > 128)
				return fail("export keylime policy",
					    section + "/" + name + ": " + d.to_string() +
						    ": Keylime takes digests of 40 to 128 hex digits");
			if (std::find(list.begin(), list.end(), hex) == list.end())
				list.push_back(hex);
		}
		if (!list.empty())
			out[name] = list;
	}
	return out;
}

} // namespace

std::string_view keylime_format_name(KeylimeFormat format)
{
	switch (format) {
	case KeylimeFormat::runtime_policy:
		return "keylime runtime policy";
	case KeylimeFormat::json_allowlist:
		return "keylime JSON allowlist";
	case KeylimeFormat::flat_allowlist:
		return "keylime flat allowlist";
	case KeylimeFormat::exclude_list:
		return "keylime exclude list";
	}
	return "?";
}

Result<KeylimeFormat> detect_keylime_format(std::string_view text, const std::string &source)
{
	std::string_view body = trim(text);
	if (body.starts_with('{')) {
		auto parsed = json_parse(body, source);
		if (!parsed)
			return fail("import keylime policy", parsed.error().context);
		const json &j = *parsed;
		if (j.contains("digests"))
			return KeylimeFormat::runtime_policy;
		if (j.contains("hashes"))
			return KeylimeFormat::json_allowlist;
		if (j.contains("payload"))
			return fail("import keylime policy",
				    source + ": a DSSE-signed policy; import its payload");
		return fail("import keylime policy",
			    source + ": JSON without \"digests\" or \"hashes\": not a Keylime policy");
	}
	KeylimeFormat format = KeylimeFormat::exclude_list;
	bool decided = false;
	(void)for_each_line(text, [&](std::size_t, std::string_view line) -> Result<void> {
		if (decided)
			return {};
		decided = true;
		// A digest is at least 40 digits (sha1); a regex that long and all hex is not
		// followed by blanks and a path in any exclude list.
		auto parts = split_allowlist_line(line);
		if (parts && parts->first.size() >= 40 && is_hex_token(parts->first) &&
		    !parts->second.empty())
			format = KeylimeFormat::flat_allowlist;
		return {};
	});
	return format;
}

Result<KeylimeImport> import_keylime(std::string_view text, const std::string &source)
{
	auto format = detect_keylime_format(text, source);
	if (!format)
		return std::unexpected(format.error());
	Result<RuntimePolicy> p;
	switch (*format) {
	case KeylimeFormat::runtime_policy:
	case KeylimeFormat::json_allowlist: {
		auto j = json_parse(text, source);
		if (!j)
			return fail("import keylime policy", j.error().context);
		p = from_runtime_policy(*j, source, *format == KeylimeFormat::json_allowlist);
		break;
	}
	case KeylimeFormat::flat_allowlist:
		p = from_flat_allowlist(text, source);
		break;
	case KeylimeFormat::exclude_list:
		p = from_exclude_list(text, source);
		break;
	}
	if (!p)
		return std::unexpected(p.error());
	return KeylimeImport{*format, std::move(*p)};
}

void merge_policy(RuntimePolicy &into, const RuntimePolicy &from)
{
	for (auto [dst, src] : {std::pair{&into.digests, &from.digests},
				{&into.keyrings, &from.keyrings},
				{&into.ima_buf, &from.ima_buf}})
		for (auto &[name, list] : *src) {
			auto &d = (*dst)[name];
			for (auto &digest : list)
				if (std::find(d.begin(), d.end(), digest) == d.end())
					d.push_back(digest);
		}
	auto append = [](std::vector<std::string> &dst, const std::vector<std::string> &src) {
		for (auto &s : src)
			if (std::find(dst.begin(), dst.end(), s) == dst.end())
				dst.push_back(s);
	};
	append(into.exclude_regexes, from.exclude_regexes);
	append(into.exclude_globs, from.exclude_globs);
	append(into.ignored_keyrings, from.ignored_keyrings);
	if (into.timestamp.empty())
		into.timestamp = from.timestamp;
	if (into.keylime.verification_keys.empty())
		into.keylime.verification_keys = from.keylime.verification_keys;
}

std::string glob_to_regex(std::string_view glob)
{
	std::string re;
	for (std::size_t i = 0; i < glob.size(); ++i) {
		char c = glob[i];
		if (c == '*') {
			re += ".*";
		} else if (c == '?') {
			re += '.';
		} else if (c == '\\' && i + 1 < glob.size()) {
			// fnmatch without FNM_NOESCAPE: a backslash quotes the next character.
			c = glob[++i];
			if (std::string_view(".^$*+?()[]{}|\\").find(c) != std::string_view::npos)
				re += '\\';
			re += c;
		} else if (c == '[') {
			// A bracket expression runs to the first ']' after its first character; without
			// one the '[' is literal.
			std::size_t j = i + 1;
			if (j < glob.size() && (glob[j] == '!' || glob[j] == '^'))
				++j;
			if (j < glob.size() && glob[j] == ']')
				++j;
			while (j < glob.size() && glob[j] != ']')
				++j;
			if (j >= glob.size()) {
				re += "\\[";
				continue;
			}
			re += '[';
			std::size_t k = i + 1;
			if (glob[k] == '!' || glob[k] == '^') {
				re += '^';
				++k;
			}
			for (; k < j; ++k) {
				if (glob[k] == '\\' || glob[k] == '[' || glob[k] == ']')
					re += '\\';
				re += glob[k];
			}
			re += ']';
			i = j;
		} else {
			if (std::string_view(".^$+()[]{}|").find(c) != std::string_view::npos)
				re += '\\';
			re += c;
		}
	}
	return re + "$";
}

Result<json> export_keylime(const RuntimePolicy &p)
{
	json out;
	out["meta"] = {{"version", 1}, {"generator", std::clamp<std::int64_t>(p.keylime.generator, 0, 3)}};
	// meta.timestamp is optional in Keylime's schema; one the policy lacks is not invented,
	// so exporting the same policy twice gives the same bytes.
	if (!p.timestamp.empty())
		out["meta"]["timestamp"] = p.timestamp;
	out["release"] = p.keylime.release;
	for (auto [field, map] : {std::pair{"digests", &p.digests},
				  {"keyrings", &p.keyrings},
				  {"ima-buf", &p.ima_buf}}) {
		auto m = export_map(*map, field);
		if (!m)
			return std::unexpected(m.error());
		out[field] = std::move(*m);
	}
	json excludes = p.exclude_regexes;
	for (auto &g : p.exclude_globs)
		excludes.push_back(glob_to_regex(g));
	out["excludes"] = excludes;
	std::string alg = p.keylime.log_hash_alg;
	if (std::find(std::begin(log_hash_algs), std::end(log_hash_algs), alg) == std::end(log_hash_algs))
		return fail("export keylime policy", "log_hash_alg " + alg +
							     ": Keylime takes sha1, sha256, sha384, sha512");
	out["ima"] = {{"ignored_keyrings", p.ignored_keyrings},
		      {"log_hash_alg", alg},
		      {"dm_policy", p.keylime.dm_policy}};
	out["verification-keys"] = p.keylime.verification_keys;
	return out;
}

} // namespace eima::attest
