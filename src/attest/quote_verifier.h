// Verifies host evidence (attest/evidence.h) the way a remote verifier must: nothing in the
// evidence is believed until the quote's signature checks out under an AK the verifier
// already trusts, the quote answers the verifier's own nonce, the PCR values are the ones
// the TPM signed, and the measurement list replays to exactly those values at its last
// entry.
//
// Checks, in this order (the first that fails is the verdict):
//   ak               the evidence's AK is the trusted AK (same public key)
//   signature        the TPMT_SIGNATURE (ECDSA, or RSASSA) over the attest blob verifies
//                    under the trusted AK
//   attest           TPMS_ATTEST parses whole, magic TPM_GENERATED_VALUE, type ATTEST_QUOTE
//   nonce            its extraData is the verifier's nonce
//   pcr_digest       its PCR selection is the evidence's bank and PCRs, and its pcrDigest
//                    is H(quoted PCR values, ascending) with the signature's hash
//   parse            the list parses whole and holds the evidence's entry count
//   template_hash    every entry's header digest matches its template data
//   appended_entries the replay does not already match before the last entry
//   replay           the replay in the quoted bank equals every quoted PCR (zeros for a PCR
//                    the list never touches), and the list touches no PCR the quote leaves out
// A check that cannot run because one it depends on failed is "skipped".
#pragma once

#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "attest/evidence.h"
#include "common/error.h"

namespace eima::attest
{

enum class CheckVerdict { pass, fail, skipped };

struct QuoteCheck {
	std::string name;
	CheckVerdict verdict = CheckVerdict::skipped;
	std::string why; // empty on pass
};

struct QuoteReport {
	std::vector<QuoteCheck> checks; // every check above, in order
	std::size_t entries = 0;	// list entries parsed

	bool ok() const;
	// The name of the first check that did not pass; empty when ok().
	std::string first_failure() const;
	const QuoteCheck *check(std::string_view name) const;
	// {"ok", "first_failure", "entries", "checks": {name: {"result": "pass"|"fail"|"skipped",
	//  "why"}}, "check_order": [names]}
	nlohmann::json to_json() const;
};

// Fails only when trusted_ak_pem is not a public key OpenSSL can read; everything wrong
// with the evidence is in the report.
Result<QuoteReport> verify_evidence(const Evidence &evidence, std::span<const std::uint8_t> nonce,
				    const std::string &trusted_ak_pem);

} // namespace eima::attest
