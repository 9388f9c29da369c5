#include "attest/runtime_policy.h"

#include <charconv>
#include <optional>

#include <fnmatch.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <regex>

#include <openssl/x509.h>

#include "attest/json_input.h"
#include "attest/measurer_record.h"
#include "common/json_text.h"
#include "ima/hash_algo.h"
#include "ima/template_entry.h"

namespace eima::attest {

namespace {

using nlohmann::json;

std::string pointer_token(std::string_view key) { return json_pointer_token(key); }

std::unexpected<Error> bad(const std::string &source, const std::string &pointer,
			   const std::string &why)
{
	return json_error("parse runtime policy", source, pointer, why);
}

// The algorithm Keylime's bare hex implies: the one of that length eima hashes with.
std::optional<std::string> algo_of_length(std::size_t bytes)
{
	switch (bytes) {
	case 20:
		return "sha1";
	case 32:
		return "sha256";
	case 48:
		return "sha384";
	case 64:
		return "sha512";
	default:
		return std::nullopt;
	}
}

Result<DigestMap> digest_map_from_json(const json &j, const std::string &source,
				       const std::string &pointer)
{
	if (!j.is_object())
		return bad(source, pointer, "not an object of name -> [digests]");
	DigestMap out;
	for (auto &[name, list] : j.items()) {
		std::string p = pointer + "/" + pointer_token(name);
		if (!list.is_array())
			return bad(source, p, "not an array of digests");
		if (list.empty())
			return bad(source, p, "no digests (leave the name out instead)");
		auto &digests = out[name];
		for (std::size_t i = 0; i < list.size(); ++i) {
			std::string pi = p + "/" + std::to_string(i);
			if (!list[i].is_string())
				return bad(source, pi, "not a string");
			auto d = parse_policy_digest(list[i].get<std::string>());
			if (!d)
				return bad(source, pi, d.error().context);
			if (std::find(digests.begin(), digests.end(), *d) == digests.end())
				digests.push_back(*d);
		}
	}
	return out;
}

json digest_map_to_json(const DigestMap &map)
{
	json out = json::object();
	for (auto &[name, digests] : map) {
		json list = json::array();
		for (auto &d : digests)
			list.push_back(d.to_string());
		out[name] = list;
	}
	return out;
}

Result<std::vector<std::string>> strings_from_json(const json &j, const std::string &source,
						   const std::string &pointer)
{
	return json_strings(j, "parse runtime policy", source, pointer);
}

// libstdc++'s std::regex copies the repeated atom once per count when it compiles {n,m}:
// a count of millions takes its memory and time, and one past LONG_MAX overflows inside it
// (undefined behaviour, found by fuzz/keylime_policy). Keylime's excludes are short path
// patterns; a count over this is refused, naming the pattern.
constexpr unsigned long regex_count_max = 1000;

// The offset of the first {n}, {n,} or {n,m} (an unescaped '{') or back-reference \N with
// a number over regex_count_max.
std::optional<std::size_t> oversized_count(std::string_view pattern)
{
	for (std::size_t i = 0; i < pattern.size(); ++i) {
		if (pattern[i] == '\\') {
			// A back-reference \N: libstdc++ overflows on a huge N as on a huge count.
			std::size_t end = i + 1;
			while (end < pattern.size() && pattern[end] >= '0' && pattern[end] <= '9')
				++end;
			unsigned long n = 0;
			if (end > i + 1 &&
			    (std::from_chars(pattern.data() + i + 1, pattern.data() + end, n).ec !=
				     std::errc() ||
			     n > regex_count_max))
				return i;
			++i; // an escaped character, '{' included, is a literal
			continue;
		}
		if (pattern[i] != '{')
			continue;
		for (std::size_t k = i + 1; k < pattern.size() && pattern[k] != '}'; ++k) {
			if (pattern[k] == ',')
				continue;
			if (pattern[k] < '0' || pattern[k] > '9')
				break;
			std::size_t end = k;
			while (end < pattern.size() && pattern[end] >= '0' && pattern[end] <= '9')
				++end;
			std::string_view digits = pattern.substr(k, end - k);
			unsigned long n = 0;
			auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
			if (ec != std::errc() || n > regex_count_max)
				return i;
			k = end - 1;
		}
	}
	return std::nullopt;
}

// std::regex reports a bad pattern by throwing; this is the one place that catches it.
Result<std::regex> compile_regex(const std::string &pattern)
{
	if (auto at = oversized_count(pattern))
		return fail("compile regex", pattern + ": a repetition count or back-reference at offset " +
						     std::to_string(*at) + " is over " +
						     std::to_string(regex_count_max));
	try {
		return std::regex(pattern, std::regex::ECMAScript | std::regex::optimize);
	} catch (const std::regex_error &e) {
		return fail("compile regex", pattern + ": " + e.what());
	}
}

// Keylime's get_pubkey: the buffer of a KEY_CHECK entry is a DER certificate or key.
bool is_key(std::span<const std::uint8_t> buf)
{
	if (buf.empty() || buf[0] != 0x30 || buf.size() > std::numeric_limits<long>::max())
		return false;
	const unsigned char *p = buf.data();
	if (X509 *cert = d2i_X509(nullptr, &p, static_cast<long>(buf.size()))) {
		X509_free(cert);
		return true;
	}
	p = buf.data();
	if (EVP_PKEY *key = d2i_PUBKEY(nullptr, &p, static_cast<long>(buf.size()))) {
		EVP_PKEY_free(key);
		return true;
	}
	return false;
}

bool allows(const std::vector<PolicyDigest> &allowed, const ima::DigestView &d)
{
	return std::any_of(allowed.begin(), allowed.end(), [&](const PolicyDigest &p) {
		return std::equal(p.value.begin(), p.value.end(), d.digest.begin(), d.digest.end()) &&
		       (!p.explicit_algo || p.algo == d.algo_name);
	});
}

} // namespace

std::string PolicyDigest::to_string() const
{
	return explicit_algo ? algo + ":" + to_hex(value) : to_hex(value);
}

Result<PolicyDigest> parse_policy_digest(std::string_view text)
{
	PolicyDigest d;
	std::string_view hex = text;
	if (auto colon = text.find(':'); colon != std::string_view::npos) {
		d.algo = std::string(text.substr(0, colon));
		d.explicit_algo = true;
		hex = text.substr(colon + 1);
		if (!ima::kernel_digest_size(d.algo))
			return fail("parse digest", "unknown hash algorithm '" + d.algo + "'");
	}
	auto bytes = from_hex(hex);
	if (!bytes || bytes->empty())
		return fail("parse digest", "not hex: '" + std::string(text.substr(0, 140)) + "'");
	d.value = std::move(*bytes);
	if (d.explicit_algo) {
		if (*ima::kernel_digest_size(d.algo) != d.value.size())
			return fail("parse digest", d.algo + " digest of " +
							    std::to_string(d.value.size()) + " bytes, not " +
							    std::to_string(*ima::kernel_digest_size(d.algo)));
	} else {
		auto algo = algo_of_length(d.value.size());
		if (!algo)
			return fail("parse digest", "no algorithm has " + std::to_string(hex.size()) +
							    "-digit digests; write alg:hex");
		d.algo = *algo;
	}
	return d;
}

std::size_t digest_count(const DigestMap &map)
{
	std::size_t n = 0;
	for (auto &[name, list] : map)
		n += list.size();
	return n;
}

Result<void> check_excludes(const RuntimePolicy &policy, const std::string &source)
{
	for (std::size_t i = 0; i < policy.exclude_regexes.size(); ++i)
		if (auto r = compile_regex(policy.exclude_regexes[i]); !r)
			return bad(source, "/excludes/regex/" + std::to_string(i),
				   r.error().context);
	return {};
}

Result<RuntimePolicy> runtime_policy_from_json(const json &j, const std::string &source)
{
	if (!j.is_object())
		return bad(source, "", "not a JSON object");
	static constexpr std::string_view known[] = {"meta",	 "digests",  "excludes",
						     "keyrings", "ima_buf",  "ignored_keyrings",
						     "keylime"};
	for (auto &[key, value] : j.items())
		if (std::find(std::begin(known), std::end(known), key) == std::end(known))
			return bad(source, "/" + pointer_token(key),
				   "unknown field (a Keylime policy? use eima policy import-keylime)");
	RuntimePolicy p;
	if (!j.contains("meta") || !j["meta"].is_object())
		return bad(source, "/meta", "missing or not an object");
	auto &meta = j["meta"];
	if (!meta.contains("version") || !meta["version"].is_number_integer())
		return bad(source, "/meta/version", "missing or not an integer");
	if (meta["version"].get<std::int64_t>() != runtime_policy_version)
		return bad(source, "/meta/version",
			   "version " + json_dump(meta["version"]) + " (this eima reads version " +
				   std::to_string(runtime_policy_version) + ")");
	for (auto [field, target] : {std::pair{"generator", &p.generator}, {"timestamp", &p.timestamp}})
		if (meta.contains(field)) {
			if (!meta[field].is_string())
				return bad(source, std::string("/meta/") + field, "not a string");
			*target = meta[field].get<std::string>();
		}
	for (auto [field, target] : {std::pair{"digests", &p.digests},
				     {"keyrings", &p.keyrings},
				     {"ima_buf", &p.ima_buf}})
		if (j.contains(field)) {
			auto m = digest_map_from_json(j[field], source, std::string("/") + field);
			if (!m)
				return std::unexpected(m.error());
			*target = std::move(*m);
		}
	if (j.contains("excludes")) {
		auto &ex = j["excludes"];
		if (!ex.is_object())
			return bad(source, "/excludes", "not an object {\"regex\": [..], \"glob\": [..]}");
		for (auto &[key, value] : ex.items()) {
			auto list = strings_from_json(value, source, "/excludes/" + pointer_token(key));
			if (!list)
				return std::unexpected(list.error());
			if (key == "regex")
				p.exclude_regexes = std::move(*list);
			else if (key == "glob")
				p.exclude_globs = std::move(*list);
			else
				return bad(source, "/excludes/" + pointer_token(key),
					   "unknown field (regex or glob)");
		}
	}
	if (j.contains("ignored_keyrings")) {
		auto list = strings_from_json(j["ignored_keyrings"], source, "/ignored_keyrings");
		if (!list)
			return std::unexpected(list.error());
		p.ignored_keyrings = std::move(*list);
	}
	if (j.contains("keylime")) {
		auto &k = j["keylime"];
		if (!k.is_object())
			return bad(source, "/keylime", "not an object");
		for (auto &[key, value] : k.items()) {
			std::string ptr = "/keylime/" + pointer_token(key);
			if (key == "release" || key == "generator") {
				if (!value.is_number_integer())
					return bad(source, ptr, "not an integer");
				(key == "release" ? p.keylime.release : p.keylime.generator) =
					value.get<std::int64_t>();
			} else if (key == "log_hash_alg" || key == "verification_keys") {
				if (!value.is_string())
					return bad(source, ptr, "not a string");
				(key == "log_hash_alg" ? p.keylime.log_hash_alg
						       : p.keylime.verification_keys) =
					value.get<std::string>();
			} else if (key == "dm_policy") {
				p.keylime.dm_policy = value;
			} else {
				return bad(source, ptr, "unknown field");
			}
		}
	}
	if (auto r = check_excludes(p, source); !r)
		return std::unexpected(r.error());
	return p;
}

Result<RuntimePolicy> parse_runtime_policy(std::string_view json_text, const std::string &source)
{
	// nlohmann's message names line and column.
	auto j = json_parse(json_text, source);
	if (!j)
		return fail("parse runtime policy", j.error().context);
	return runtime_policy_from_json(*j, source);
}

json runtime_policy_to_json(const RuntimePolicy &p)
{
	json j;
	j["meta"] = {{"version", p.version}, {"generator", p.generator}};
	if (!p.timestamp.empty())
		j["meta"]["timestamp"] = p.timestamp;
	j["digests"] = digest_map_to_json(p.digests);
	j["excludes"] = {{"regex", p.exclude_regexes}, {"glob", p.exclude_globs}};
	j["keyrings"] = digest_map_to_json(p.keyrings);
	j["ima_buf"] = digest_map_to_json(p.ima_buf);
	j["ignored_keyrings"] = p.ignored_keyrings;
	j["keylime"] = {{"release", p.keylime.release},
			{"generator", p.keylime.generator},
			{"log_hash_alg", p.keylime.log_hash_alg},
			{"dm_policy", p.keylime.dm_policy},
			{"verification_keys", p.keylime.verification_keys}};
	return j;
}

struct PolicyEvaluator::Impl {
	RuntimePolicy policy;
	std::vector<std::regex> regexes;
};

PolicyEvaluator::PolicyEvaluator(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PolicyEvaluator::PolicyEvaluator(PolicyEvaluator &&) noexcept = default;
PolicyEvaluator &PolicyEvaluator::operator=(PolicyEvaluator &&) noexcept = default;
PolicyEvaluator::~PolicyEvaluator() = default;

Result<PolicyEvaluator> PolicyEvaluator::create(const RuntimePolicy &policy)
{
	auto impl = std::make_unique<Impl>();
	impl->policy = policy;
	for (auto &pattern : policy.exclude_regexes) {
		auto re = compile_regex(pattern);
		if (!re)
			return std::unexpected(re.error());
		impl->regexes.push_back(std::move(*re));
	}
	return PolicyEvaluator(std::move(impl));
}

bool PolicyEvaluator::excluded(std::string_view path) const
{
	std::string p(path); // fnmatch needs a NUL-terminated string
	for (auto &glob : impl_->policy.exclude_globs)
		if (fnmatch(glob.c_str(), p.c_str(), 0) == 0)
			return true;
	for (auto &re : impl_->regexes) {
		// libstdc++ matches by recursion and throws error_complexity/error_stack when a
		// pattern explodes on a long path; such a path is not excluded (it is judged).
		try {
			if (std::regex_search(p, re, std::regex_constants::match_continuous))
				return true;
		} catch (const std::regex_error &) {
		}
	}
	return false;
}

namespace
{

bool is_measurer_record(std::string_view name)
{
	return name == policy_entry_name || !bpf_prog_entry_program(name).empty();
}

// For an eimad record whose digest the policy does not allow: what it says now, so that
// the failure names the program (and its tag and object) or the policy that differs.
std::string measurer_difference(const ima::TemplateEntry &e, std::string_view name,
				std::size_t index)
{
	if (name == policy_entry_name)
		return ": eimad runs another compiled policy than the one pinned";
	if (bpf_prog_entry_program(name).empty())
		return {};
	auto layout = ima::template_layout(e.template_name);
	auto buf = layout ? layout->index_of("buf") : std::nullopt;
	if (!buf || *buf >= e.fields.size())
		return {};
	auto r = parse_bpf_prog_record(e.fields[*buf], "entry " + std::to_string(index));
	if (!r)
		return ": " + r.error().message();
	return ": eimad's BPF program " + r->name + " differs from the one pinned (tag " +
	       to_hex(r->tag) + ", " + r->object + " sha256 " + to_hex(r->object_sha256) +
	       (r->is_signed ? ", signed by " + r->signer : ", unsigned") + ")";
}

} // namespace

std::vector<PolicyFailure> PolicyEvaluator::evaluate(const ima::UnverifiedLog &log) const
{
	const RuntimePolicy &pol = impl_->policy;
	std::vector<PolicyFailure> out;
	for (std::size_t i = 0; i < log.entries.size(); ++i) {
		const auto &e = log.entries[i];
		auto name = ima::event_name(e);
		auto dig = ima::file_digest(e);
		if (!name || !dig) {
			out.push_back({i, name ? std::string(*name) : "", "",
				       "unreadable entry: " +
					       (name ? dig.error() : name.error()).message()});
			continue;
		}
		std::string path(*name);
		std::string digest = std::string(dig->algo_name) + ":" + to_hex(dig->digest);
		if (excluded(path))
			continue;
		const DigestMap *section = &pol.digests;
		if (auto layout = ima::template_layout(e.template_name); layout) {
			if (auto buf = layout->index_of("buf"); buf && *buf < e.fields.size()) {
				section = &pol.ima_buf;
				if (is_key(e.fields[*buf])) {
					auto &ign = pol.ignored_keyrings;
					if (std::find(ign.begin(), ign.end(), "*") != ign.end() ||
					    std::find(ign.begin(), ign.end(), path) != ign.end())
						continue;
					section = &pol.keyrings;
				}
			}
		}
		auto it = section->find(path);
		if (section == &pol.digests && path == ima::boot_aggregate_name && it == section->end())
			continue; // no boot aggregates given: nothing to check it against
		if (it != section->end() && allows(it->second, *dig))
			continue;
		std::string reason = ima::is_violation(e) ? "violation"
				     : it == section->end() ? "not in policy"
							    : "digest not allowed";
		if (section == &pol.keyrings && reason == "not in policy")
			reason = "keyring not in policy";
		else if (section == &pol.ima_buf && reason == "not in policy")
			reason = "ima-buf name not in policy";
		else if (section == &pol.ima_buf && reason == "digest not allowed")
			reason += measurer_difference(e, path, i);
		out.push_back({i, path, digest, reason});
	}
	// The records of the code that measures (docs/measurer.md) are pinned by being named:
	// an eimad that left one out (or never measured itself) would otherwise pass.
	for (auto &[name, allowed] : pol.ima_buf) {
		if (!is_measurer_record(name) || excluded(name))
			continue;
		bool present = std::any_of(log.entries.begin(), log.entries.end(), [&](auto &e) {
			auto n = ima::event_name(e);
			return n && *n == name;
		});
		if (!present)
			out.push_back({log.entries.size(), name, "",
				       "pinned by the policy, missing from the list (eimad did not "
				       "record this part of the code that measures)"});
	}
	return out;
}

std::vector<PolicyFailure> evaluate(const RuntimePolicy &policy, const ima::UnverifiedLog &log)
{
	auto ev = PolicyEvaluator::create(policy);
	if (!ev)
		return {{SIZE_MAX, "", "", "policy excludes do not compile: " + ev.error().message()}};
	return ev->evaluate(log);
}

void apply_runtime_policy(const RuntimePolicy &policy, const ima::UnverifiedLog &log,
			  LogReport &report)
{
	report.policy_failures = evaluate(policy, log);
}

Result<PolicyFromLog> policy_from_log(const ima::UnverifiedLog &log)
{
	PolicyFromLog out;
	out.policy.generator = "eima policy from-log";
	for (std::size_t i = 0; i < log.entries.size(); ++i) {
		const auto &e = log.entries[i];
		++out.entries;
		if (ima::is_violation(e)) {
			++out.violations_skipped;
			continue;
		}
		auto name = ima::event_name(e);
		auto dig = ima::file_digest(e);
		if (!name || !dig)
			return fail("policy from log",
				    "entry " + std::to_string(i) + ": " +
					    (name ? dig.error() : name.error()).message());
		// d-ng lets a violation carry 20 zero bytes whatever its algorithm; an entry that
		// is not a violation with such a digest has no digest a policy can hold (fuzz/
		// ascii_log: from-log wrote a policy eima could not read back).
		if (auto size = ima::kernel_digest_size(dig->algo_name);
		    size && *size != dig->digest.size())
			return fail("policy from log",
				    "entry " + std::to_string(i) + ": a " + std::string(dig->algo_name) +
					    " digest of " + std::to_string(dig->digest.size()) +
					    " bytes in an entry that is not a violation");
		DigestMap *section = &out.policy.digests;
		if (auto layout = ima::template_layout(e.template_name); layout)
			if (auto buf = layout->index_of("buf"); buf && *buf < e.fields.size())
				section = is_key(e.fields[*buf]) ? &out.policy.keyrings
								 : &out.policy.ima_buf;
		PolicyDigest d{std::string(dig->algo_name), Bytes(dig->digest.begin(), dig->digest.end()),
			       true};
		auto &allowed = (*section)[std::string(*name)];
		if (std::find(allowed.begin(), allowed.end(), d) == allowed.end())
			allowed.push_back(std::move(d));
	}
	return out;
}

} // namespace eima::attest
