// Establishing trust in a node's AK from its TPM's endorsement key (docs/enroll.md): the
// node's identity as JSON, the EK certificate checked against a CA, and TPM2_MakeCredential
// done in software (TPM 2.0 Part 1 §24) so that only the TPM holding both the EK and the AK
// can recover the secret. Everything here but node_identity() is the verifier's side and
// needs no TPM.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/hex.h"
#include "tpm/tpm.h"

namespace eima::attest {

inline constexpr int identity_version = 1;
inline constexpr int challenge_version = 1;

// What `eima identity --json` reports of a node: its EKs (with their certificates where
// the TPM has them) and eima's AK.
struct NodeIdentity {
	std::vector<tpm::EndorsementKey> eks;
	Bytes ak_public; // TPM2B_PUBLIC marshalled
	const tpm::EndorsementKey *ek(tpm::EkType type) const;
};

// The node's side: both EKs (certificates where the TPM has them) and the AK of this TPM.
Result<NodeIdentity> node_identity(tpm::Tpm &t);

nlohmann::json identity_json(const NodeIdentity &id);
// Untrusted input: every field is checked (hex, sizes, that the PEM and names agree with
// the public areas); errors name source and the JSON pointer.
Result<NodeIdentity> parse_identity(std::string_view text, const std::string &source);

// The AK must be what eima's template makes: a restricted ECDSA P-256 signing key that never
// leaves its TPM (fixedTPM, fixedParent, sensitiveDataOrigin), named with SHA-256.
// Returns its PEM, computed from the public area.
Result<std::string> check_attestation_key(const Bytes &ak_public);

// The EK's certificate chains to a certificate in ca_pem (PEM text, any number of
// certificates, all trusted) and certifies exactly this EK's public key, which must be a
// restricted decryption key fixed to its TPM.
Result<void> check_ek_certificate(const tpm::EndorsementKey &ek, const std::string &ca_pem,
				  const std::string &ca_source);

// TPM2_MakeCredential in software for an RSA EK (TPM2B_PUBLIC marshalled) and a key name:
// a random seed encrypted to the EK with OAEP(SHA-256, "IDENTITY\0"); the secret encrypted
// with AES-128-CFB under KDFa(seed, "STORAGE", name) and protected by an HMAC under
// KDFa(seed, "INTEGRITY"). secret: 1 to 32 bytes.
Result<tpm::Credential> make_credential(const Bytes &ek_public, const Bytes &name,
					const Bytes &secret);

// The challenge a verifier sends a node.
struct Challenge {
	tpm::EkType ek = tpm::EkType::rsa2048;
	Bytes ak_name;
	tpm::Credential credential;
};
nlohmann::json challenge_json(const Challenge &c);
Result<Challenge> parse_challenge(std::string_view text, const std::string &source);

// Said when TPM2_ActivateCredential refuses a challenge.
inline constexpr const char *activate_failed_hint =
	" (the challenge was not made for this TPM's EK and AK, or was altered)";

// The node's answer: the secret its TPM recovered.
nlohmann::json response_json(const Bytes &secret);
Result<Bytes> parse_response(std::string_view text, const std::string &source);

} // namespace eima::attest
