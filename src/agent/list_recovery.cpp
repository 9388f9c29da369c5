#include "agent/list_recovery.h"

#include <fmt/format.h>

namespace eima::agent {

std::optional<std::size_t> extended_prefix(const std::vector<ExtendRecord> &records,
					   const PcrBanks &tpm)
{
	// Replay state of the PCRs the list touches, per bank; a PCR the list never extends
	// is not compared (another user of the TPM may own it).
	PcrBanks replay;
	for (auto &rec : records)
		for (auto &[bank, digest] : rec.digests)
			replay[bank].try_emplace(rec.pcr, Bytes(ima::digest_size(bank), 0));
	std::size_t mismatched = 0;
	std::map<std::pair<ima::HashAlgo, std::uint32_t>, bool> matches;
	for (auto &[bank, pcrs] : replay) {
		auto have = tpm.find(bank);
		if (have == tpm.end())
			continue; // a bank the caller did not read
		for (auto &[pcr, value] : pcrs) {
			auto t = have->second.find(pcr);
			bool same = t != have->second.end() && t->second == value;
			matches[{bank, pcr}] = same;
			mismatched += !same;
		}
	}
	if (mismatched == 0)
		return 0;
	for (std::size_t k = 0; k < records.size(); ++k) {
		auto &rec = records[k];
		for (auto &[bank, digest] : rec.digests) {
			auto have = tpm.find(bank);
			if (have == tpm.end())
				continue;
			Bytes &value = replay[bank][rec.pcr];
			Bytes both = value;
			both.insert(both.end(), digest.begin(), digest.end());
			auto next = ima::digest(bank, both);
			if (!next)
				return std::nullopt;
			value = std::move(*next);
			auto t = have->second.find(rec.pcr);
			bool same = t != have->second.end() && t->second == value;
			bool &was = matches[{bank, rec.pcr}];
			mismatched += was && !same;
			mismatched -= !was && same;
			was = same;
		}
		if (mismatched == 0)
			return k + 1;
	}
	return std::nullopt;
}

Result<ima::TemplateEntry> interruption_entry(std::string_view template_name,
					      ima::HashAlgo algo, std::uint32_t pcr,
					      std::uint64_t from_ns, std::uint64_t to_ns)
{
	return ima::make_violation(template_name, algo,
				   fmt::format("eima-interrupted:{}-{}", from_ns, to_ns), pcr);
}

Result<PcrBanks> read_all_pcrs(tpm::Tpm &t, const std::vector<ima::HashAlgo> &banks)
{
	std::vector<std::uint32_t> all;
	for (std::uint32_t i = 0; i <= tpm::max_pcr; ++i)
		all.push_back(i);
	PcrBanks out;
	for (auto bank : banks) {
		auto v = t.read_pcrs(bank, all);
		if (!v)
			return std::unexpected(v.error());
		out[bank] = std::move(*v);
	}
	return out;
}

std::uint64_t wall_ns(std::chrono::system_clock::time_point t)
{
	return static_cast<std::uint64_t>(
		std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}

} // namespace eima::agent
