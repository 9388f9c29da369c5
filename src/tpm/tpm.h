// A TPM 2.0 through tpm2-tss ESYS: what eimad needs to extend measurements, read PCRs,
// compute the kernel's boot_aggregate and sign quotes. One Tpm is one ESYS context over one
// TCTI; it is not thread-safe (eimad's TpmExtender serialises every call).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "common/error.h"
#include "common/hex.h"
#include "ima/hash_algo.h"

namespace eima::tpm {

// PCR indices a TPM 2.0 PC client has: 0..23.
inline constexpr std::uint32_t max_pcr = 23;

// A quote in the files tpm2-tools use, so that
//   tpm2_checkquote -u ak.pem -m attest -s signature -f pcr_values -l BANK:LIST -q NONCE
// verifies it (see tests/unit/tpm/quote_test.cpp).
struct Quote {
	Bytes attest;    // TPMS_ATTEST exactly as signed (TPM2B_ATTEST's buffer: tpm2_quote -m)
	Bytes signature; // TPMT_SIGNATURE marshalled (tpm2_quote -s, "tss" format)
	std::string ak_pem;     // AK public key, SubjectPublicKeyInfo PEM
	Bytes ak_public;        // AK TPM2B_PUBLIC marshalled (for its TPM name)
	ima::HashAlgo bank = ima::HashAlgo::sha256; // the PCR bank quoted
	std::map<std::uint32_t, Bytes> pcrs; // values read right after the quote, same context
	// The PCR values concatenated in ascending PCR order: tpm2_checkquote's -f file when
	// it is given -l BANK:LIST (the same layout tpm2_pcrread -o writes).
	Bytes pcr_values_file() const;
};

// Who a TPM is: its endorsement key (the TCG profile's default ECC P-256 EK, the key a
// manufacturer certifies) and the attestation key that signs eima's quotes. Both are
// endorsement-hierarchy primaries, so both are fixed for the TPM's life (swtpm: its state).
struct Identity {
	std::string ek_pem, ak_pem; // SubjectPublicKeyInfo PEM
	Bytes ek_public, ak_public; // TPM2B_PUBLIC marshalled
};

// The EKs eima knows (TCG EK Credential Profile, low range): their templates and the NV
// index a manufacturer writes the certificate to. See tpm/ek.cpp.
enum class EkType { rsa2048, ecc_p256 };
const char *ek_type_name(EkType t); // "rsa2048", "ecc-p256"

// SubjectPublicKeyInfo PEM of a marshalled TPM2B_PUBLIC (RSA, or ECC P-256).
Result<std::string> public_key_pem(std::span<const std::uint8_t> tpm2b_public);
// A key's TPM name from its marshalled TPM2B_PUBLIC: nameAlg (SHA-256 only) || H(TPMT_PUBLIC).
Result<Bytes> public_name(std::span<const std::uint8_t> tpm2b_public);

struct EndorsementKey {
	EkType type = EkType::rsa2048;
	Bytes public_area;  // TPM2B_PUBLIC marshalled
	std::string pem;    // SubjectPublicKeyInfo PEM
	Bytes certificate;  // DER from the profile's NV index; empty when the TPM has none
};

// A credential made by TPM2_MakeCredential (or its software equivalent) for an EK and a key
// name: TPM2B_ID_OBJECT and TPM2B_ENCRYPTED_SECRET, each marshalled with its size.
struct Credential {
	Bytes credential_blob, encrypted_secret;
};

class Tpm {
public:
	// tcti: a tctildr configuration: "device:/dev/tpmrm0", "swtpm:path=/run/eima/tpm/sock",
	// "mssim:host=127.0.0.1,port=2321". Sends TPM2_Startup (STATE, else CLEAR) to a
	// simulator, accepting one that is already started (the usual case: the firmware, the
	// kernel or swtpm did it).
	static Result<Tpm> open(const std::string &tcti);
	// TPM2_Shutdown(STATE): the TPM saves its state, PCRs included, for the
	// TPM2_Startup(STATE) of its next start (a simulator restarted by its owner).
	Result<void> save_state();
	Tpm(Tpm &&) noexcept;
	Tpm &operator=(Tpm &&) noexcept;
	~Tpm();

	// One TPM2_PCR_Extend with a digest per bank; banks not given are not extended. Each
	// digest must have its algorithm's size; at most 5 banks, each once.
	Result<void> extend(std::uint32_t pcr,
			    const std::vector<std::pair<ima::HashAlgo, Bytes>> &digests);
	// Reads PCRs (0..23, any order, duplicates ignored) of one bank. A TPM answers at most
	// 8 digests per TPM2_PCR_Read, so this loops until every one is read; ENOENT if the
	// bank is not allocated.
	Result<std::map<std::uint32_t, Bytes>> read_pcrs(ima::HashAlgo bank,
							 const std::vector<std::uint32_t> &pcrs);
	// Banks with at least one PCR allocated, among those eima hashes with.
	Result<std::vector<ima::HashAlgo>> active_banks();
	// Allocates all 24 PCRs in exactly these banks and none in the others the TPM has
	// (TPM2_PCR_Allocate). Needs the platform hierarchy with an empty auth value: swtpm
	// and simulators have it, a machine's TPM does not after its firmware ran. Takes
	// effect at the next TPM reset (swtpm: restart). Returns false, sending nothing, when
	// the allocation already is this one; ENOTSUP for a bank the TPM does not implement.
	Result<bool> allocate_banks(const std::vector<ima::HashAlgo> &banks);

	// The digest the kernel's ima_calc_boot_aggregate() records as the first entry of the
	// measurement list, over this bank: H(PCR0 || .. || PCR7) for sha1, and
	// H(PCR0 || .. || PCR9) for every other bank (PCRs 8-9 added in Linux 5.8).
	Result<Bytes> boot_aggregate(ima::HashAlgo bank);

	// TPM2_Quote over pcrs of bank with qualifying data nonce (at most 64 bytes), signed by
	// eima's attestation key: a restricted ECDSA P-256/SHA-256 signing key created as a
	// primary in the endorsement hierarchy. Being a primary, it is the same key for as long
	// as the TPM's endorsement seed lives (swtpm: its state directory), so verifiers can
	// pin it. The first quote creates it and it stays loaded in this context (one of the
	// TPM's transient object slots, of which swtpm has 3) until the Tpm closes: creating a
	// primary is most of a quote's cost. If it was flushed behind this context's back (a
	// TPM restart, a tpm2_flushcontext without a resource manager), the quote fails and is
	// made once more with the key created again.
	Result<Quote> quote(ima::HashAlgo bank, const std::vector<std::uint32_t> &pcrs,
			    std::span<const std::uint8_t> nonce);

	// The EK and AK public keys (each created as a primary and flushed again).
	Result<Identity> identity();

	// tpm/ek.cpp. The EK of this type (created from the profile's template, flushed again)
	// and its certificate from NV, if the index exists.
	Result<EndorsementKey> endorsement_key(EkType type);
	// TPM2_ActivateCredential: the secret of a credential made for the EK of this type and
	// eima's AK, unwrapped by the EK (under its policy: PolicySecret on the endorsement
	// hierarchy) only if the AK named in it is loaded in this TPM.
	Result<Bytes> activate_credential(EkType type, const Credential &credential);

private:
	struct LoadedAk; // tpm.cpp: the AK's handle and public parts while it stays loaded
	Tpm();
	void close();
	using EsysObject = std::uint32_t; // ESYS_TR, without tpm2-tss in this header
	// The loaded AK, created first if needed: an ESYS_TR and the public area's parts. keep:
	// other objects the caller holds loaded (detail::EndorsementPrimary::create).
	Result<const LoadedAk *> attestation_key(std::initializer_list<EsysObject> keep = {});
	// The objects this context keeps loaded (its AK), and also.
	std::vector<EsysObject> held(std::initializer_list<EsysObject> also = {}) const;
	void *esys_ = nullptr; // ESYS_CONTEXT*
	void *tcti_ = nullptr; // TSS2_TCTI_CONTEXT*
	std::unique_ptr<LoadedAk> ak_;
};

// "0x... (decoded text)" for a TSS2_RC, e.g. "0x902 (tpm:warn(2.0): out of memory for
// object contexts)".
std::string tss_error(std::uint32_t rc);

} // namespace eima::tpm
