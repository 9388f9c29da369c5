// Verifies evidence (attest/evidence.h) the way a remote verifier must: nothing in the
// evidence is believed until the quote's signature checks out under an AK the verifier
// already trusts, the quote answers the verifier's own nonce, the PCR values are the ones
// the TPM signed, and the measurement list replays to exactly those values at its last
// entry. The verifier trusts one key: the host TPM's AK.
//
// Host and kernel evidence, checks in this order (the first that fails is the verdict):
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
//   policy           every entry of the list is allowed by the runtime policy
//                    (attest/runtime_policy.h); each one that is not is in policy_failures
//
// Container evidence: its vTPM's AK is trusted only because the verified host list binds it
// to the container (attest/vtpm_binding.h). Checks, in this order:
//   host.ak ... host.replay   the checks above on the host evidence, against the trusted AK
//   signature ... replay      the same on the container's quote and list, except that there
//                             is no `ak` check and the signature is verified under the
//                             container evidence's own AK (trusted only once `binding` holds)
//   binding          the verified host list holds an ima-buf entry "eima-vtpm:<id>" (the
//                    last one if there are several: a vTPM replaced later), whose d-ng digest
//                    is the hash of its buffer, whose buffer is a binding record for the same
//                    container, and whose AK is the container evidence's AK. Skipped when a
//                    host.* check failed: an unverified host list binds nothing.
//   policy           as above, on the container's list
//
// A check that cannot run because one it depends on failed is "skipped" and counts as not
// passed. A check the verifier did not ask for (policy without a policy) is skipped with the
// why "no policy given" and is not asked: it does not count against ok().
#pragma once

#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "attest/evidence.h"
#include "attest/log_verifier.h"
#include "attest/runtime_policy.h"
#include "common/error.h"

namespace eima::attest
{

enum class CheckVerdict { pass, fail, skipped };

struct QuoteCheck {
	std::string name;
	CheckVerdict verdict = CheckVerdict::skipped;
	std::string why; // why it failed or was skipped; on pass empty or a note
	// false for a check the verifier did not ask for (skipped, not held against ok()).
	bool asked = true;
};

struct QuoteReport {
	std::vector<QuoteCheck> checks; // every check above, in order
	std::string source;		// the evidence's: host, kernel or container
	std::string container;		// container evidence: its id
	std::size_t entries = 0;	// entries parsed of the evidence's list (a container's
					// own list for container evidence)
	std::size_t host_entries = 0;	// container evidence: entries parsed of the host list
	std::vector<PolicyFailure> policy_failures; // every entry the policy does not allow

	// Every check passed, or was skipped as not asked for.
	bool ok() const;
	// The name of the first check that failed or was skipped for a failure; empty when ok().
	std::string first_failure() const;
	const QuoteCheck *check(std::string_view name) const;
	// {"ok", "first_failure", "source", ["container",] "entries", ["host_entries",]
	//  "checks": {name: {"result": "pass"|"fail"|"skipped", "why"}}, "check_order": [names],
	//  "policy_failures": [{"entry", "path", "digest", "reason"}]}
	nlohmann::json to_json() const;
};

// Fails only when trusted_ak_pem is not a public key OpenSSL can read, or when container
// evidence lacks its host evidence or id (parse_evidence never yields such); everything
// wrong with the evidence is in the report. `policy` may be null (the policy check is then
// not asked for).
Result<QuoteReport> verify_evidence(const Evidence &evidence, std::span<const std::uint8_t> nonce,
				    const std::string &trusted_ak_pem,
				    const RuntimePolicy *policy = nullptr);

} // namespace eima::attest
