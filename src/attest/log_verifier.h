// Checks a measurement list on its own terms: every entry's header digest against its
// template data, and the replay per bank against PCR values (when given). Parsing is not
// trusting: only a replay that matches the PCRs exactly at the last entry says the list
// is the one the TPM saw. A list that matches at an earlier entry and then goes on has
// entries appended after the fact (evmctl 1.4 stops at the first match and misses that).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "ima/replay.h"
#include "ima/unverified_log.h"

namespace eima::attest {

// Reads an ascii or binary list, telling them apart by content.
Result<ima::UnverifiedLog> read_any_log(std::string_view bytes, const std::string &source);

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

	bool ok() const { return template_hash_errors.empty() && pcr_match.value_or(true); }
	nlohmann::json to_json() const;
};

LogReport verify_log(const ima::UnverifiedLog &log,
		     const std::map<ima::HashAlgo, ima::PcrValues> &pcrs);

} // namespace eima::attest
