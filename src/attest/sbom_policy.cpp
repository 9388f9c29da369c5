#include "attest/sbom_policy.h"

#include <algorithm>

namespace eima::attest {

Result<PolicyFromSbom> policy_from_sbom(const std::string &sbom_path)
{
	PolicyFromSbom out;
	out.policy.generator = "eima policy from-sbom";
	auto summary = sbom::read_sbom(sbom_path, [&](sbom::SbomFile &&f) {
		std::string key = sbom::normalise_path(f.path);
		if (key.empty())
			return;
		std::vector<PolicyDigest> allowed;
		for (auto &d : f.digests) {
			// SBOMs write SHA-3 as "SHA3-256"; the kernel's name is "sha3_256".
			std::string algo = d.algo;
			std::replace(algo.begin(), algo.end(), '-', '_');
			auto digest = parse_policy_digest(algo + ":" + d.hex);
			if (!digest) {
				++out.digests_skipped;
				continue;
			}
			allowed.push_back(std::move(*digest));
		}
		if (allowed.empty())
			return;
		auto &list = out.policy.digests["/" + key];
		for (auto &d : allowed)
			if (std::find(list.begin(), list.end(), d) == list.end())
				list.push_back(std::move(d));
	});
	if (!summary)
		return std::unexpected(summary.error());
	out.sbom = *summary;
	out.paths = out.policy.digests.size();
	out.digests = digest_count(out.policy.digests);
	return out;
}

} // namespace eima::attest
