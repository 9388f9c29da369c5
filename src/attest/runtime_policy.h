// eima's runtime policy: which file digests a measurement list may hold, per path, and which
// paths are not judged at all. The JSON format is in docs/runtime-policy.md; the rules follow
// Keylime's (keylime/ima/ima.py _validate_ima_ng, _validate_ima_buf) so that a Keylime policy
// imported with attest/keylime_policy.h judges a list as Keylime would.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "attest/log_verifier.h"
#include "common/error.h"
#include "common/hex.h"
#include "ima/unverified_log.h"

namespace eima::attest {

inline constexpr int runtime_policy_version = 1;

// One allowed digest. "sha256:hex" names its algorithm (explicit_algo); bare hex gets the
// algorithm its length says (40 sha1, 64 sha256, 96 sha384, 128 sha512) and then matches
// an entry's digest of any algorithm with the same bytes, as Keylime compares hex only
// (a 64-digit sm3_256 digest is written bare by Keylime too).
struct PolicyDigest {
	std::string algo; // the kernel's name: "sha256", "sm3_256", "md5", ...
	Bytes value;
	bool explicit_algo = false;

	// "alg:hex" when explicit_algo, else bare hex: what parse_policy_digest read.
	std::string to_string() const;
	bool operator==(const PolicyDigest &) const = default;
};

// Any algorithm of the kernel's hash_algo_name[] table, with a digest of its size.
Result<PolicyDigest> parse_policy_digest(std::string_view text);

// Name (path, keyring, ima-buf name) -> allowed digests, never empty.
using DigestMap = std::map<std::string, std::vector<PolicyDigest>>;

// Keylime fields without meaning to eima, kept so an import exports back unchanged.
struct KeylimeExtras {
	std::int64_t release = 0;
	std::int64_t generator = 0;	  // meta.generator: 0 unknown .. 3 legacy allowlist
	std::string log_hash_alg = "sha1"; // ima.log_hash_alg
	nlohmann::json dm_policy = nullptr; // ima.dm_policy, verbatim
	std::string verification_keys;	  // a JSON document in a string, verbatim

	bool operator==(const KeylimeExtras &) const = default;
};

struct RuntimePolicy {
	int version = runtime_policy_version;
	std::string generator = "eima";
	std::string timestamp; // free text (Keylime writes "2024-08-05 16:06:40.614573")
	DigestMap digests;     // per path; "boot_aggregate" holds the boot aggregates
	// A path matching any of these is not judged. Regexes are ECMAScript (std::regex) and
	// match at the start of the path like Python's re.match (Keylime); globs are
	// fnmatch(3) patterns without FNM_PATHNAME, so '*' also matches '/'.
	std::vector<std::string> exclude_regexes;
	std::vector<std::string> exclude_globs;
	DigestMap keyrings; // ima-buf entries holding a key (KEY_CHECK), by keyring name
	DigestMap ima_buf;  // other ima-buf entries, by buffer name
	// Keyrings whose keys are not judged; "*" means all.
	std::vector<std::string> ignored_keyrings;
	KeylimeExtras keylime;

	bool operator==(const RuntimePolicy &) const = default;
};

// Parses eima's JSON format. Errors name the source and the JSON pointer of the bad field
// ("policy.json: /digests/~1usr~1bin~1ls/0: not hex").
Result<RuntimePolicy> parse_runtime_policy(std::string_view json_text, const std::string &source);
Result<RuntimePolicy> runtime_policy_from_json(const nlohmann::json &j, const std::string &source);
nlohmann::json runtime_policy_to_json(const RuntimePolicy &policy);

// Checks the regexes of a policy built in code (parsing already does).
Result<void> check_excludes(const RuntimePolicy &policy, const std::string &source);

// A policy ready to judge lists: regexes compiled once.
class PolicyEvaluator {
public:
	static Result<PolicyEvaluator> create(const RuntimePolicy &policy);
	PolicyEvaluator(PolicyEvaluator &&) noexcept;
	PolicyEvaluator &operator=(PolicyEvaluator &&) noexcept;
	~PolicyEvaluator();

	bool excluded(std::string_view path) const;
	// Every entry the policy does not allow, in list order:
	//  - an excluded path passes (any template, violations too);
	//  - boot_aggregate is checked against digests["boot_aggregate"] when present;
	//  - a violation fails ("violation") unless the path allows the zero digest;
	//  - ima-buf entries whose buffer is a key (X.509 or SubjectPublicKeyInfo DER) are
	//    checked against keyrings unless the keyring is ignored; other ima-buf entries
	//    against ima_buf;
	//  - eimad's records of itself (attest/measurer_record.h): a refused one's reason says
	//    what differs, and one that ima_buf pins but the list lacks fails (entry = the
	//    list's length, "pinned by the policy, missing from the list");
	//  - any other entry against digests: "not in policy" for an unknown name,
	//    "digest not allowed" for a digest not listed (signatures are not checked: an
	//    ima-sig entry is judged by its digest, as Keylime does without keyrings).
	std::vector<PolicyFailure> evaluate(const ima::UnverifiedLog &log) const;

private:
	struct Impl;
	explicit PolicyEvaluator(std::unique_ptr<Impl> impl);
	std::unique_ptr<Impl> impl_;
};

// One-shot evaluation. A policy whose excludes do not compile (only possible for one built
// in code) yields a single failure with entry = SIZE_MAX and reason naming the regex.
std::vector<PolicyFailure> evaluate(const RuntimePolicy &policy, const ima::UnverifiedLog &log);

// Fills report.policy_failures (so report.ok() and report.to_json() account for them).
void apply_runtime_policy(const RuntimePolicy &policy, const ima::UnverifiedLog &log,
			  LogReport &report);

// A policy that allows exactly what a known-good list holds: each entry's digest under its
// name, in the section evaluate() judges it by (digests, keyrings, ima_buf), algorithm
// explicit. Violations allow nothing (a violation is not a known-good state): they are
// counted in `violations_skipped`.
struct PolicyFromLog {
	RuntimePolicy policy;
	std::size_t entries = 0, violations_skipped = 0;
};
Result<PolicyFromLog> policy_from_log(const ima::UnverifiedLog &log);

// Number of digests over all names of a map.
std::size_t digest_count(const DigestMap &map);

} // namespace eima::attest
