// What tpm.cpp and ek.cpp share about ESYS: output ownership, endorsement-hierarchy primaries
// and the key templates. Internal to eima_tpm (it exposes tpm2-tss types).
#pragma once

#include <tss2/tss2_esys.h>

#include <span>
#include <string>

#include "common/error.h"
#include "common/hex.h"
#include "tpm/tpm.h"

namespace eima::tpm::detail {

// op is the ESYS call; context says on what ("PCR 10", the TCTI string).
std::unexpected<Error> tss_fail(const char *op, TSS2_RC rc, const std::string &context = {});

// ESYS hands out outputs allocated with calloc; this frees them on every path.
template <typename T>
struct EsysPtr {
	T *p = nullptr;
	EsysPtr() = default;
	EsysPtr(const EsysPtr &) = delete;
	~EsysPtr() { Esys_Free(p); }
	T **out() { return &p; }
	T *operator->() const { return p; }
};

// The AK: restricted ECDSA P-256/SHA-256 signing key, an endorsement-hierarchy primary.
TPM2B_PUBLIC ak_template();
// The TCG EK Credential Profile's default ECC P-256 EK template (L-2, policy A).
TPM2B_PUBLIC ek_template();
Result<Bytes> marshal_public(const TPM2B_PUBLIC &pub);
// SubjectPublicKeyInfo PEM of a TPM ECC P-256 public key.
Result<std::string> ecc_p256_pem(const TPMS_ECC_POINT &point);

// Flushes the transient objects loaded in the TPM except those in keep; returns how many.
// Without a resource manager (swtpm's socket, /dev/tpm0) an object outlives the process that
// loaded it: each eimad killed with -9 leaves its AK behind, and three of them fill swtpm's
// slots. Called only when the TPM says it is full; behind /dev/tpmrm0 a connection sees its
// own objects only, so nothing of another client's is touched there.
std::size_t flush_stale_objects(ESYS_CONTEXT *ctx, std::span<const ESYS_TR> keep);

// A primary key in the endorsement hierarchy, flushed when this goes out of scope: without
// a resource manager a transient object stays loaded until flushed, and three of them fill
// swtpm's slots (TPM_RC_OBJECT_MEMORY, 0x902).
struct EndorsementPrimary {
	ESYS_CONTEXT *ctx = nullptr;
	ESYS_TR handle = ESYS_TR_NONE;
	EsysPtr<TPM2B_PUBLIC> pub;
	EndorsementPrimary() = default;
	EndorsementPrimary(const EndorsementPrimary &) = delete;
	~EndorsementPrimary()
	{
		if (handle != ESYS_TR_NONE)
			Esys_FlushContext(ctx, handle);
	}
	// keep: the objects the caller holds loaded, spared if stale ones must go to make room.
	Result<void> create(ESYS_CONTEXT *c, const TPM2B_PUBLIC &tmpl, const char *what,
			    std::span<const ESYS_TR> keep = {})
	{
		ctx = c;
		TPM2B_SENSITIVE_CREATE sensitive{};
		TPM2B_DATA outside{};
		TPML_PCR_SELECTION creation_pcrs{};
		for (bool retried = false;; retried = true) {
			EsysPtr<TPM2B_CREATION_DATA> creation_data;
			EsysPtr<TPM2B_DIGEST> creation_hash;
			EsysPtr<TPMT_TK_CREATION> creation_ticket;
			TSS2_RC rc = Esys_CreatePrimary(ctx, ESYS_TR_RH_ENDORSEMENT,
							ESYS_TR_PASSWORD, ESYS_TR_NONE,
							ESYS_TR_NONE, &sensitive, &tmpl, &outside,
							&creation_pcrs, &handle, pub.out(),
							creation_data.out(), creation_hash.out(),
							creation_ticket.out());
			if (rc == TSS2_RC_SUCCESS)
				return {};
			if (rc != TPM2_RC_OBJECT_MEMORY || retried ||
			    flush_stale_objects(ctx, keep) == 0)
				return tss_fail("Esys_CreatePrimary", rc, what);
		}
	}
};

} // namespace eima::tpm::detail

namespace eima::tpm {

// The AK while it stays loaded in a Tpm's context (Tpm::quote in tpm.h).
struct Tpm::LoadedAk {
	ESYS_TR handle = ESYS_TR_NONE;
	Bytes public_area; // TPM2B_PUBLIC marshalled
	std::string pem;
};

} // namespace eima::tpm
