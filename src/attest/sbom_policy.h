// `eima policy from-sbom`: a runtime policy allowing, for each file an SBOM lists, exactly the
// digests it declares, so that a measurement list can be judged against the SBOM (and, with
// export_keylime, Keylime can judge it).
#pragma once

#include <string>

#include "attest/runtime_policy.h"
#include "sbom/sbom.h"

namespace eima::attest {

struct PolicyFromSbom {
	RuntimePolicy policy;
	sbom::SbomSummary sbom;
	std::size_t paths = 0;   // files with at least one digest in the policy
	std::size_t digests = 0; // digests in the policy
	// Real digests of algorithms the kernel's IMA does not know (blake2b, blake3): a list
	// can never hold them, so they allow nothing and are left out.
	std::size_t digests_skipped = 0;
};

// Each file's path becomes "/" + sbom::normalise_path (the path inside the root the SBOM
// describes, as a container's list names it); its real digests are written with their
// algorithm explicit (sha3-256 as the kernel's sha3_256). Placeholder and invalid digests
// were dropped by the reader: a file with only those is not in the policy, so it is "not in
// policy" when it runs.
Result<PolicyFromSbom> policy_from_sbom(const std::string &sbom_path);

} // namespace eima::attest
