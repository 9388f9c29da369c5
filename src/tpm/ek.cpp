// The endorsement key, its certificate and TPM2_ActivateCredential: what `eima identity` and
// the node side of `eima enroll` ask of a TPM (see docs/enroll.md).
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <tss2/tss2_mu.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "tpm/esys_detail.h"
#include "tpm/tpm.h"

namespace eima::tpm {

using namespace detail;

namespace {

// TCG EK Credential Profile 2.x, "low range": where the manufacturer's certificates are.
constexpr TPM2_HANDLE rsa_ek_cert_index = 0x01c00002;
constexpr TPM2_HANDLE ecc_ek_cert_index = 0x01c0000a;

// The profile's default RSA template (L-1: RSA 2048, AES-128-CFB, policy A,
// PolicySecret(TPM_RH_ENDORSEMENT)), the EK `tpm2_createek -G rsa` and swtpm_setup make.
TPM2B_PUBLIC rsa_ek_template()
{
	TPM2B_PUBLIC ecc = ek_template(); // same attributes and policy
	TPM2B_PUBLIC t{};
	t.publicArea.type = TPM2_ALG_RSA;
	t.publicArea.nameAlg = TPM2_ALG_SHA256;
	t.publicArea.objectAttributes = ecc.publicArea.objectAttributes;
	t.publicArea.authPolicy = ecc.publicArea.authPolicy;
	auto &rsa = t.publicArea.parameters.rsaDetail;
	rsa.symmetric.algorithm = TPM2_ALG_AES;
	rsa.symmetric.keyBits.aes = 128;
	rsa.symmetric.mode.aes = TPM2_ALG_CFB;
	rsa.scheme.scheme = TPM2_ALG_NULL;
	rsa.keyBits = 2048;
	rsa.exponent = 0; // 65537
	t.publicArea.unique.rsa.size = 256; // zeros, as the profile fills them
	return t;
}

TPM2B_PUBLIC template_of(EkType type)
{
	return type == EkType::rsa2048 ? rsa_ek_template() : ek_template();
}

Result<std::string> rsa_pem(const TPM2B_PUBLIC_KEY_RSA &modulus, UINT32 exponent)
{
	std::unique_ptr<BIGNUM, decltype(&BN_free)> n(BN_bin2bn(modulus.buffer, modulus.size, nullptr),
						      BN_free);
	std::unique_ptr<BIGNUM, decltype(&BN_free)> e(BN_new(), BN_free);
	if (!n || !e || BN_set_word(e.get(), exponent ? exponent : 65537) != 1)
		return fail("EK public to PEM", "BIGNUM");
	std::unique_ptr<OSSL_PARAM_BLD, decltype(&OSSL_PARAM_BLD_free)> bld(OSSL_PARAM_BLD_new(),
									    OSSL_PARAM_BLD_free);
	if (!bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e.get()) != 1)
		return fail("EK public to PEM", "OSSL_PARAM_BLD");
	std::unique_ptr<OSSL_PARAM, decltype(&OSSL_PARAM_free)> params(
		OSSL_PARAM_BLD_to_param(bld.get()), OSSL_PARAM_free);
	std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(
		EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr), EVP_PKEY_CTX_free);
	EVP_PKEY *raw = nullptr;
	if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0 ||
	    EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) <= 0)
		return fail("EK public to PEM", "OpenSSL rejects the RSA key");
	std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(raw, EVP_PKEY_free);
	std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
	if (!bio || PEM_write_bio_PUBKEY(bio.get(), key.get()) != 1)
		return fail("EK public to PEM", "PEM_write_bio_PUBKEY");
	char *data = nullptr;
	long len = BIO_get_mem_data(bio.get(), &data);
	return std::string(data, static_cast<std::size_t>(len));
}

// ESYS_TR of an NV index, closed (not undefined: it is not an object) when done.
struct NvHandle {
	ESYS_CONTEXT *ctx = nullptr;
	ESYS_TR tr = ESYS_TR_NONE;
	NvHandle(const NvHandle &) = delete;
	explicit NvHandle(ESYS_CONTEXT *c) : ctx(c) {}
	~NvHandle()
	{
		if (tr != ESYS_TR_NONE)
			Esys_TR_Close(ctx, &tr);
	}
};

// The certificate in an NV index: empty when the index is not defined. The index may be
// longer than the DER (padding), so the certificate's own length decides.
Result<Bytes> read_certificate(ESYS_CONTEXT *ctx, TPM2_HANDLE index)
{
	std::string where = "NV index 0x" + to_hex(Bytes{std::uint8_t(index >> 24),
							  std::uint8_t(index >> 16),
							  std::uint8_t(index >> 8), std::uint8_t(index)});
	// Asked first, so that an absent index is an answer, not an ESYS error in the log.
	TPMI_YES_NO more = TPM2_NO;
	EsysPtr<TPMS_CAPABILITY_DATA> caps;
	TSS2_RC rc = Esys_GetCapability(ctx, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
					TPM2_CAP_HANDLES, index, 1, &more, caps.out());
	if (rc != TSS2_RC_SUCCESS)
		return tss_fail("Esys_GetCapability", rc, where);
	auto &handles = caps->data.handles;
	if (handles.count == 0 || handles.handle[0] != index)
		return Bytes{};
	NvHandle nv(ctx);
	rc = Esys_TR_FromTPMPublic(ctx, index, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &nv.tr);
	if (rc != TSS2_RC_SUCCESS)
		return tss_fail("Esys_TR_FromTPMPublic", rc, where);
	EsysPtr<TPM2B_NV_PUBLIC> pub;
	EsysPtr<TPM2B_NAME> name;
	rc = Esys_NV_ReadPublic(ctx, nv.tr, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, pub.out(),
				name.out());
	if (rc != TSS2_RC_SUCCESS)
		return tss_fail("Esys_NV_ReadPublic", rc, where);
	UINT16 size = pub->nvPublic.dataSize;
	// The profile's indexes are readable with their own (empty) auth or the owner's.
	ESYS_TR auth = (pub->nvPublic.attributes & TPMA_NV_AUTHREAD) ? nv.tr : ESYS_TR_RH_OWNER;
	Bytes out;
	constexpr UINT16 chunk = 512; // below every TPM's TPM2_PT_NV_BUFFER_MAX
	while (out.size() < size) {
		UINT16 n = static_cast<UINT16>(std::min<std::size_t>(chunk, size - out.size()));
		EsysPtr<TPM2B_MAX_NV_BUFFER> data;
		rc = Esys_NV_Read(ctx, auth, nv.tr, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, n,
				  static_cast<UINT16>(out.size()), data.out());
		if (rc != TSS2_RC_SUCCESS)
			return tss_fail("Esys_NV_Read", rc, where);
		if (data->size == 0)
			break;
		out.insert(out.end(), data->buffer, data->buffer + data->size);
	}
	const unsigned char *p = out.data();
	std::unique_ptr<X509, decltype(&X509_free)> cert(
		d2i_X509(nullptr, &p, static_cast<long>(out.size())), X509_free);
	if (!cert)
		return fail("read EK certificate", where + ": not a DER X.509 certificate");
	out.resize(static_cast<std::size_t>(p - out.data()));
	return out;
}

} // namespace

// Exactly one marshalled TPM2B_PUBLIC, nothing after it.
static Result<TPM2B_PUBLIC> unmarshal_public(std::span<const std::uint8_t> b, const char *op)
{
	TPM2B_PUBLIC pub{};
	std::size_t off = 0;
	if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(b.data(), b.size(), &off, &pub) != TSS2_RC_SUCCESS ||
	    off != b.size())
		return fail(EINVAL, op, "not one TPM2B_PUBLIC");
	return pub;
}

Result<std::string> public_key_pem(std::span<const std::uint8_t> tpm2b_public)
{
	auto pub = unmarshal_public(tpm2b_public, "read TPM public key");
	if (!pub)
		return std::unexpected(pub.error());
	auto &area = pub->publicArea;
	if (area.type == TPM2_ALG_RSA)
		return rsa_pem(area.unique.rsa, area.parameters.rsaDetail.exponent);
	if (area.type == TPM2_ALG_ECC && area.parameters.eccDetail.curveID == TPM2_ECC_NIST_P256)
		return ecc_p256_pem(area.unique.ecc);
	return fail(ENOTSUP, "read TPM public key", "neither RSA nor ECC P-256");
}

Result<Bytes> public_name(std::span<const std::uint8_t> tpm2b_public)
{
	auto pub = unmarshal_public(tpm2b_public, "TPM name");
	if (!pub)
		return std::unexpected(pub.error());
	if (pub->publicArea.nameAlg != TPM2_ALG_SHA256)
		return fail(ENOTSUP, "TPM name", "name algorithm is not SHA-256");
	// Name = nameAlg || H(TPMT_PUBLIC): the marshalled area without TPM2B's size.
	Bytes name{0x00, 0x0b};
	name.resize(2 + 32);
	if (EVP_Digest(tpm2b_public.data() + 2, tpm2b_public.size() - 2, name.data() + 2, nullptr,
		       EVP_sha256(), nullptr) != 1)
		return fail("TPM name", "SHA-256");
	return name;
}

const char *ek_type_name(EkType t) { return t == EkType::rsa2048 ? "rsa2048" : "ecc-p256"; }

Result<EndorsementKey> Tpm::endorsement_key(EkType type)
{
	auto *ctx = static_cast<ESYS_CONTEXT *>(esys_);
	EndorsementKey ek;
	ek.type = type;
	{
		EndorsementPrimary key;
		if (auto r = key.create(ctx, template_of(type), "endorsement key", held()); !r)
			return std::unexpected(r.error());
		auto marshalled = marshal_public(*key.pub.p);
		if (!marshalled)
			return std::unexpected(marshalled.error());
		ek.public_area = std::move(*marshalled);
		auto pem = public_key_pem(ek.public_area);
		if (!pem)
			return std::unexpected(pem.error());
		ek.pem = std::move(*pem);
	}
	auto cert = read_certificate(
		ctx, type == EkType::rsa2048 ? rsa_ek_cert_index : ecc_ek_cert_index);
	if (!cert)
		return std::unexpected(cert.error());
	ek.certificate = std::move(*cert);
	return ek;
}

Result<Bytes> Tpm::activate_credential(EkType type, const Credential &credential)
{
	const char *op = "Esys_ActivateCredential";
	TPM2B_ID_OBJECT blob{};
	TPM2B_ENCRYPTED_SECRET secret{};
	std::size_t off = 0;
	if (Tss2_MU_TPM2B_ID_OBJECT_Unmarshal(credential.credential_blob.data(),
					      credential.credential_blob.size(), &off,
					      &blob) != TSS2_RC_SUCCESS ||
	    off != credential.credential_blob.size())
		return fail(EINVAL, op, "credential blob is not one TPM2B_ID_OBJECT");
	off = 0;
	if (Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal(credential.encrypted_secret.data(),
						     credential.encrypted_secret.size(), &off,
						     &secret) != TSS2_RC_SUCCESS ||
	    off != credential.encrypted_secret.size())
		return fail(EINVAL, op, "encrypted secret is not one TPM2B_ENCRYPTED_SECRET");

	auto *ctx = static_cast<ESYS_CONTEXT *>(esys_);
	EndorsementPrimary ek;
	if (auto r = ek.create(ctx, template_of(type), "endorsement key", held()); !r)
		return std::unexpected(r.error());
	auto ak = attestation_key({ek.handle});
	if (!ak)
		return std::unexpected(ak.error());

	// The EK's policy A: PolicySecret(TPM_RH_ENDORSEMENT) in a policy session.
	ESYS_TR session = ESYS_TR_NONE;
	TPMT_SYM_DEF symmetric{};
	symmetric.algorithm = TPM2_ALG_NULL;
	TSS2_RC rc = Esys_StartAuthSession(ctx, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
					   ESYS_TR_NONE, ESYS_TR_NONE, nullptr, TPM2_SE_POLICY,
					   &symmetric, TPM2_ALG_SHA256, &session);
	if (rc != TSS2_RC_SUCCESS)
		return tss_fail("Esys_StartAuthSession", rc, "EK policy");
	struct SessionGuard {
		ESYS_CONTEXT *ctx;
		ESYS_TR &s;
		~SessionGuard()
		{
			if (s != ESYS_TR_NONE)
				Esys_FlushContext(ctx, s);
		}
	} guard{ctx, session};
	EsysPtr<TPM2B_TIMEOUT> timeout;
	EsysPtr<TPMT_TK_AUTH> ticket;
	rc = Esys_PolicySecret(ctx, ESYS_TR_RH_ENDORSEMENT, session, ESYS_TR_PASSWORD,
			       ESYS_TR_NONE, ESYS_TR_NONE, nullptr, nullptr, nullptr, 0,
			       timeout.out(), ticket.out());
	if (rc != TSS2_RC_SUCCESS)
		return tss_fail("Esys_PolicySecret", rc, "endorsement hierarchy");
	// Not continued: the TPM ends it with this command and ESYS drops its handle.
	rc = Esys_TRSess_SetAttributes(ctx, session, 0, TPMA_SESSION_CONTINUESESSION);
	if (rc != TSS2_RC_SUCCESS)
		return tss_fail("Esys_TRSess_SetAttributes", rc, "EK policy");
	EsysPtr<TPM2B_DIGEST> cert_info;
	rc = Esys_ActivateCredential(ctx, (*ak)->handle, ek.handle, ESYS_TR_PASSWORD, session,
				     ESYS_TR_NONE, &blob, &secret, cert_info.out());
	if (rc != TSS2_RC_SUCCESS) // a failed command leaves the session: the guard flushes it
		return tss_fail(op, rc, std::string(ek_type_name(type)) + " EK");
	session = ESYS_TR_NONE; // ended by the TPM with the command
	return Bytes(cert_info->buffer, cert_info->buffer + cert_info->size);
}

} // namespace eima::tpm
