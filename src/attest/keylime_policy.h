// Keylime's policy files, to and from eima's runtime policy:
//  - the runtime policy (keylime/ima/ima.py RUNTIME_POLICY_SCHEMA: "meta", "release",
//    "digests", "excludes", "keyrings", "ima", "ima-buf", "verification-keys");
//  - the JSON allowlist of Keylime before 6.6 ({"meta": .., "hashes": {path: [hex]}, ..});
//  - the flat allowlist, sha256sum-style lines "HEX  PATH" ("%keyring:NAME" paths are
//    keyrings), with '#' comment lines;
//  - the exclude list, one regex per line, with '#' comment lines.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "attest/runtime_policy.h"
#include "common/error.h"

namespace eima::attest {

enum class KeylimeFormat { runtime_policy, json_allowlist, flat_allowlist, exclude_list };

std::string_view keylime_format_name(KeylimeFormat format);

// Tells the formats apart by content: JSON with "digests" or "hashes"; text whose first
// line (past comments and blank lines) is a hex digest, blanks and a path; other text is an
// exclude list. Errors for JSON that is neither kind of policy.
Result<KeylimeFormat> detect_keylime_format(std::string_view text, const std::string &source);

struct KeylimeImport {
	KeylimeFormat format;
	RuntimePolicy policy;
};

// Reads any of the four formats. Errors name the source and the JSON pointer or the
// 1-based line of the bad input.
Result<KeylimeImport> import_keylime(std::string_view text, const std::string &source);

// Adds another import to a policy: digests per name are merged without duplicates,
// excludes and ignored keyrings appended (an allowlist and an exclude list make one policy,
// as keylime convert_runtime_policy -a ... -e ... does).
void merge_policy(RuntimePolicy &into, const RuntimePolicy &from);

// A runtime policy Keylime's verifier accepts (the schema above). Digests are written as
// bare lowercase hex (Keylime compares hex only); globs become regexes anchored at the end.
// meta.timestamp is written only when the policy has one. Errors for what Keylime cannot
// express: digests shorter than 40 or longer than 128 digits, other log_hash_algs.
Result<nlohmann::json> export_keylime(const RuntimePolicy &policy);

// An fnmatch(3) glob (flags 0) as an ECMAScript/Python regex matching the same strings.
std::string glob_to_regex(std::string_view glob);

} // namespace eima::attest
