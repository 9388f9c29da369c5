#include "attest/log_verifier.h"

#include <algorithm>
#include <set>

#include "common/hex.h"
#include "ima/ascii_log.h"
#include "ima/binary_log.h"

namespace eima::attest {

Result<ima::UnverifiedLog> read_any_log(std::string_view bytes, const std::string &source)
{
	// An ascii list starts with a PCR number in decimal and a space; a binary one with a
	// little-endian u32 PCR, whose bytes are not digits.
	bool ascii = bytes.size() >= 2 && ((bytes[0] >= '0' && bytes[0] <= '9') || bytes[0] == ' ');
	auto log = ascii ? ima::read_ascii_log(bytes)
			 : ima::read_binary_log({reinterpret_cast<const std::uint8_t *>(bytes.data()),
						 bytes.size()});
	if (!log) {
		Error e = log.error();
		e.context = source + (e.context.empty() ? "" : ": " + e.context);
		return std::unexpected(e);
	}
	return log;
}

LogReport verify_log(const ima::UnverifiedLog &log,
		     const std::map<ima::HashAlgo, ima::PcrValues> &pcrs)
{
	LogReport rep;
	rep.entries = log.entries.size();
	for (std::size_t i = 0; i < log.entries.size(); ++i) {
		const auto &e = log.entries[i];
		++rep.templates[e.template_name];
		if (ima::is_violation(e)) {
			++rep.violations;
			continue;
		}
		auto want = ima::expected_header_digest(
			e, log.header.typed.value_or(ima::HashAlgo::sha1));
		if (!want)
			rep.template_hash_errors.emplace_back(i, want.error().message());
		else if (*want != e.template_hash_sha1)
			rep.template_hash_errors.emplace_back(
				i, "header digest " + to_hex(e.template_hash_sha1) +
					   " is not the template hash " + to_hex(*want));
	}
	std::vector<ima::HashAlgo> banks{ima::HashAlgo::sha1, ima::HashAlgo::sha256};
	for (auto &[bank, values] : pcrs)
		if (std::find(banks.begin(), banks.end(), bank) == banks.end())
			banks.push_back(bank);
	std::set<std::uint32_t> touched;
	for (auto &e : log.entries)
		touched.insert(e.pcr);
	for (auto bank : banks) {
		auto r = ima::Replayer::create(bank);
		if (!r)
			continue;
		auto given = pcrs.find(bank);
		for (std::size_t i = 0; i < log.entries.size(); ++i) {
			if (!r->extend(log.entries[i]))
				break;
			// A match before the end means entries were appended after the quote.
			if (given != pcrs.end() && i + 1 < log.entries.size() &&
			    !rep.early_match.contains(bank)) {
				// Compare every PCR the whole list touches: one the prefix
				// has not touched yet is still zeros.
				bool all = true;
				Bytes zeros(ima::digest_size(bank), 0);
				for (auto pcr : touched) {
					auto have = r->values().find(pcr);
					auto g = given->second.find(pcr);
					all = all && g != given->second.end() &&
					      g->second == (have == r->values().end() ? zeros
										   : have->second);
				}
				if (all)
					rep.early_match[bank] = i;
			}
		}
		rep.replay[bank] = r->values();
		if (given != pcrs.end()) {
			for (auto &[pcr, v] : r->values()) {
				auto g = given->second.find(pcr);
				if (g == given->second.end() || g->second != v)
					rep.pcr_mismatches[bank].push_back(pcr);
			}
			bool match = !rep.pcr_mismatches.contains(bank);
			rep.pcr_match = rep.pcr_match.value_or(true) && match;
		}
	}
	return rep;
}

nlohmann::json LogReport::to_json() const
{
	nlohmann::json j;
	j["entries"] = entries;
	j["templates"] = templates;
	j["violations"] = violations;
	j["template_hash_errors"] = nlohmann::json::array();
	for (auto &[i, why] : template_hash_errors)
		j["template_hash_errors"].push_back({{"entry", i}, {"error", why}});
	for (auto &[bank, values] : replay)
		for (auto &[pcr, v] : values)
			j["replay"][std::string(ima::hash_algo_name(bank))][std::to_string(pcr)] = to_hex(v);
	j["pcr_match"] = pcr_match ? nlohmann::json(*pcr_match) : nlohmann::json(nullptr);
	for (auto &[bank, list] : pcr_mismatches)
		j["pcr_mismatches"][std::string(ima::hash_algo_name(bank))] = list;
	for (auto &[bank, i] : early_match)
		j["early_match"][std::string(ima::hash_algo_name(bank))] = i;
	j["policy_failures"] = nlohmann::json::array();
	j["ok"] = ok();
	return j;
}

} // namespace eima::attest
