// Evidence from a running eimad: ask it for a quote over its control socket, then read the
// lists that quote covers. What `eima quote` writes, and what a long-lived verifier on the
// node (bench/attest_loop.cpp) asks for round after round.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "attest/evidence.h"
#include "common/error.h"
#include "common/hex.h"

namespace eima::attest {

struct EvidenceRequest {
	std::string run_dir;			// eimad's RUN: RUN/eimad.sock and the lists under it
	Bytes nonce;				// the verifier's, 1 to 64 bytes
	std::string bank = "sha256";		// the PCR bank quoted
	std::vector<std::uint32_t> pcrs;	// the PCRs quoted
	std::string container;			// a container id (its vTPM's quote and list, with
						// the host quote binding it), or empty for the host
};

// One quote through eimad, as evidence: the lists are read after eimad's reply (they only
// grow) and cut to the entries the quote covers. Errors name eimad's reply or the list file.
Result<Evidence> request_evidence(const EvidenceRequest &request);

} // namespace eima::attest
