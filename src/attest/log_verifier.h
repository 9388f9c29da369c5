// Checks a measurement list on its own terms: every entry's header digest against its
// template data, and the replay per bank against PCR values (when given). Parsing is not
// trusting: only a replay that matches the PCRs exactly at the last entry says the list
// is the one the TPM saw. A list that matches at an earlier entry and then goes on has
// entries appended after the fact (evmctl 1.4 stops at the first match and misses that).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "ima/replay.h"
#include "ima/unverified_log.h"

namespace eima::attest
{

// Reads an ascii or binary list, telling them apart by content.
Result<ima::UnverifiedLog> read_any_log(std::string_view bytes, const std::string &source);

// An entry a runtime policy (attest/runtime_policy.h) does not allow.
struct PolicyFailure {
	std::size_t entry = 0; // 0-based index in the list
	std::string path;      // the event name: a path, "boot_aggregate", a keyring
	std::string digest;    // "alg:hex" as the entry carries it
	std::string reason;    // "not in policy", "digest not allowed", "violation", ...

	bool operator==(const PolicyFailure &) const = default;
};

// [{"entry", "path", "digest", "reason"}, ...]
nlohmann::json policy_failures_json(const std::vector<PolicyFailure> &failures);

struct LogReport {
	std::size_t entries = 0;
	std::map<std::string, std::size_t> templates;
	std::size_t violations = 0;
	std::vector<std::pair<std::size_t, std::string>> template_hash_errors; // (index, why)
	std::map<ima::HashAlgo, ima::PcrValues> replay;
	// Per bank given in `pcrs`: PCRs (touched by the list) whose value differs.
	std::map<ima::HashAlgo, std::vector<std::uint32_t>> pcr_mismatches;
	// Per bank: the index of an earlier entry after which the replay already matched
	// (an appended-to list), if any.
	std::map<ima::HashAlgo, std::size_t> early_match;
	std::optional<bool> pcr_match; // nullopt when no PCRs were given
	// Set when the list stopped parsing: the reader's message, naming the entry and byte
	// offset (binary) or the line (ascii). The entries before it were checked and
	// replayed; `entries` counts them. An empty list is a parse error too.
	std::optional<std::string> parse_error;
	// Filled by attest::apply_runtime_policy; empty when no policy was checked.
	std::vector<PolicyFailure> policy_failures;

	bool ok() const
	{
		return !parse_error && template_hash_errors.empty() && early_match.empty() &&
		       pcr_match.value_or(true) && policy_failures.empty();
	}
	// The first check that failed, in the order they apply: "parse", "template_hash",
	// "appended_entries" (the PCRs matched before the last entry), "pcr_replay", "policy";
	// empty when ok(). to_json() adds it as "first_failure" with every check's verdict
	// under "checks".
	std::string first_failure() const;
	nlohmann::json to_json() const;
};

// Banks replayed: sha1, sha256 and every bank of `pcrs` (a bank OpenSSL lacks is left out
// of `replay`). Header digests are checked with SHA-1 (kernel format), the typed format's
// algorithm, or, for an ascii list whose bare header digests are not 20 bytes (Keylime's
// sm3_256 fixture), the algorithm of that size whose template hash the first entry matches.
LogReport verify_log(const ima::UnverifiedLog &log,
		     const std::map<ima::HashAlgo, ima::PcrValues> &pcrs);

// The same checks streamed straight from a list's bytes (ascii or binary, told apart as
// read_any_log does): no UnverifiedLog is built and nothing is allocated per binary entry.
// Parse errors end up in LogReport::parse_error. With two or more CPUs and a list over
// 4 MiB, the sha1 bank (with the header checks) and the other banks run on two threads,
// each parsing the list on its own.
LogReport verify_log_bytes(std::string_view bytes,
			   const std::map<ima::HashAlgo, ima::PcrValues> &pcrs);

// Maps the file read-only and runs verify_log_bytes on it. Fails only when the file
// cannot be opened, stat'ed or mapped (an empty file is a report with a parse error).
Result<LogReport> verify_log_file(const std::string &path,
				  const std::map<ima::HashAlgo, ima::PcrValues> &pcrs);

} // namespace eima::attest
