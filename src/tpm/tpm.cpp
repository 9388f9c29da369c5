#include "tpm/tpm.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <tuple>
#include <type_traits>

#include "ima/template_entry.h"
#include "tpm/esys_detail.h"

namespace eima::tpm {

// Shared with ek.cpp through tpm/esys_detail.h.
namespace detail {

TPM2_ALG_ID alg_id(ima::HashAlgo a)
{
	switch (a) {
	case ima::HashAlgo::sha1: return TPM2_ALG_SHA1;
	case ima::HashAlgo::sha256: return TPM2_ALG_SHA256;
	case ima::HashAlgo::sha384: return TPM2_ALG_SHA384;
	case ima::HashAlgo::sha512: return TPM2_ALG_SHA512;
	case ima::HashAlgo::sm3_256: return TPM2_ALG_SM3_256;
	}
	return TPM2_ALG_ERROR;
}

std::string bank_name(ima::HashAlgo a) { return std::string(ima::hash_algo_name(a)); }

std::unexpected<Error> tss_fail(const char *op, TSS2_RC rc, const std::string &context)
{
	return fail(op, (context.empty() ? "" : context + ": ") + tss_error(rc));
}

std::size_t flush_stale_objects(ESYS_CONTEXT *ctx, std::span<const ESYS_TR> keep)
{
	std::vector<TPM2_HANDLE> kept;
	for (ESYS_TR held : keep) {
		TPM2_HANDLE h = 0;
		if (held != ESYS_TR_NONE && Esys_TR_GetTpmHandle(ctx, held, &h) == TSS2_RC_SUCCESS)
			kept.push_back(h);
	}
	EsysPtr<TPMS_CAPABILITY_DATA> loaded;
	TPMI_YES_NO more = TPM2_NO;
	if (Esys_GetCapability(ctx, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_HANDLES,
			       TPM2_TRANSIENT_FIRST, TPM2_MAX_CAP_HANDLES, &more,
			       loaded.out()) != TSS2_RC_SUCCESS)
		return 0;
	std::size_t flushed = 0;
	const TPML_HANDLE &handles = loaded->data.handles;
	for (UINT32 i = 0; i < handles.count; ++i) {
		TPM2_HANDLE h = handles.handle[i];
		if (std::find(kept.begin(), kept.end(), h) != kept.end())
			continue;
		ESYS_TR stale = ESYS_TR_NONE;
		if (Esys_TR_FromTPMPublic(ctx, h, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &stale) ==
			    TSS2_RC_SUCCESS &&
		    Esys_FlushContext(ctx, stale) == TSS2_RC_SUCCESS)
			++flushed;
	}
	return flushed;
}

// Bitmap of PCRs for a TPMS_PCR_SELECTION of a PC client TPM (24 PCRs, 3 bytes).
TPMS_PCR_SELECTION selection(ima::HashAlgo bank, const std::vector<std::uint32_t> &pcrs)
{
	TPMS_PCR_SELECTION s{};
	s.hash = alg_id(bank);
	s.sizeofSelect = 3;
	for (auto p : pcrs)
		s.pcrSelect[p / 8] |= static_cast<BYTE>(1u << (p % 8));
	return s;
}

// Sorted, without duplicates, every index 0..23; EINVAL otherwise.
Result<std::vector<std::uint32_t>> pcr_list(const char *op, std::vector<std::uint32_t> pcrs)
{
	std::sort(pcrs.begin(), pcrs.end());
	pcrs.erase(std::unique(pcrs.begin(), pcrs.end()), pcrs.end());
	if (!pcrs.empty() && pcrs.back() > max_pcr)
		return fail(EINVAL, op, "PCR " + std::to_string(pcrs.back()) + " (a TPM has 0..23)");
	return pcrs;
}

// SubjectPublicKeyInfo PEM of a TPM ECC P-256 public key.
Result<std::string> ecc_p256_pem(const TPMS_ECC_POINT &point)
{
	if (point.x.size != 32 || point.y.size != 32)
		return fail("AK public to PEM", "ECC point is not P-256");
	unsigned char pub[65];
	pub[0] = 0x04; // uncompressed
	std::memcpy(pub + 1, point.x.buffer, 32);
	std::memcpy(pub + 33, point.y.buffer, 32);
	char group[] = "prime256v1";
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
		OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub)),
		OSSL_PARAM_construct_end()};
	std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(
		EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr), EVP_PKEY_CTX_free);
	EVP_PKEY *raw = nullptr;
	if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0 ||
	    EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		return fail("AK public to PEM", "OpenSSL rejects the ECC point");
	std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(raw, EVP_PKEY_free);
	std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
	if (!bio || PEM_write_bio_PUBKEY(bio.get(), key.get()) != 1)
		return fail("AK public to PEM", "PEM_write_bio_PUBKEY");
	char *data = nullptr;
	long len = BIO_get_mem_data(bio.get(), &data);
	return std::string(data, static_cast<std::size_t>(len));
}

// The AK template: restricted ECDSA P-256 signing key with SHA-256, no auth value, exempt
// from dictionary-attack lockout (it has no auth to guess).
TPM2B_PUBLIC ak_template()
{
	TPM2B_PUBLIC t{};
	t.publicArea.type = TPM2_ALG_ECC;
	t.publicArea.nameAlg = TPM2_ALG_SHA256;
	t.publicArea.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
					TPMA_OBJECT_SENSITIVEDATAORIGIN |
					TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_NODA |
					TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT;
	auto &ecc = t.publicArea.parameters.eccDetail;
	ecc.symmetric.algorithm = TPM2_ALG_NULL;
	ecc.scheme.scheme = TPM2_ALG_ECDSA;
	ecc.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
	ecc.curveID = TPM2_ECC_NIST_P256;
	ecc.kdf.scheme = TPM2_ALG_NULL;
	return t;
}

// The TCG EK Credential Profile's default ECC template (L-2: NIST P-256, AES-128-CFB,
// policy A), so the EK is the one `tpm2_createek -G ecc` and every verifier derive from the
// endorsement seed: a storage key (restricted decrypt) usable only under that policy.
TPM2B_PUBLIC ek_template()
{
	static constexpr std::uint8_t policy_a_sha256[32] = {
		0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xb3, 0xf8, 0x1a, 0x90, 0xcc,
		0x8d, 0x46, 0xa5, 0xd7, 0x24, 0xfd, 0x52, 0xd7, 0x6e, 0x06, 0x52,
		0x0b, 0x64, 0xf2, 0xa1, 0xda, 0x1b, 0x33, 0x14, 0x69, 0xaa};
	TPM2B_PUBLIC t{};
	t.publicArea.type = TPM2_ALG_ECC;
	t.publicArea.nameAlg = TPM2_ALG_SHA256;
	t.publicArea.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
					TPMA_OBJECT_SENSITIVEDATAORIGIN |
					TPMA_OBJECT_ADMINWITHPOLICY | TPMA_OBJECT_RESTRICTED |
					TPMA_OBJECT_DECRYPT;
	t.publicArea.authPolicy.size = sizeof(policy_a_sha256);
	std::memcpy(t.publicArea.authPolicy.buffer, policy_a_sha256, sizeof(policy_a_sha256));
	auto &ecc = t.publicArea.parameters.eccDetail;
	ecc.symmetric.algorithm = TPM2_ALG_AES;
	ecc.symmetric.keyBits.aes = 128;
	ecc.symmetric.mode.aes = TPM2_ALG_CFB;
	ecc.scheme.scheme = TPM2_ALG_NULL;
	ecc.curveID = TPM2_ECC_NIST_P256;
	ecc.kdf.scheme = TPM2_ALG_NULL;
	t.publicArea.unique.ecc.x.size = 32; // zeros, as the profile fills them
	t.publicArea.unique.ecc.y.size = 32;
	return t;
}

Result<Bytes> marshal_public(const TPM2B_PUBLIC &pub)
{
	Bytes out(sizeof(TPM2B_PUBLIC));
	std::size_t off = 0;
	TSS2_RC rc = Tss2_MU_TPM2B_PUBLIC_Marshal(&pub, out.data(), out.size(), &off);
	if (rc != TSS2_RC_SUCCESS)
		return tss_fail("Tss2_MU_TPM2B_PUBLIC_Marshal", rc);
	out.resize(off);
	return out;
}

} // namespace detail

using namespace detail;

std::string tss_error(std::uint32_t rc)
{
	char hex[16];
	std::snprintf(hex, sizeof(hex), "0x%x", rc);
	return std::string(hex) + " (" + Tss2_RC_Decode(rc) + ")";
}

Bytes Quote::pcr_values_file() const
{
	Bytes out;
	for (auto &[index, value] : pcrs) // std::map: ascending PCR order
		out.insert(out.end(), value.begin(), value.end());
	return out;
}

Result<Tpm> Tpm::open(const std::string &tcti)
{
	Tpm t;
	TSS2_TCTI_CONTEXT *tctx = nullptr;
	if (TSS2_RC rc = Tss2_TctiLdr_Initialize(tcti.c_str(), &tctx); rc != TSS2_RC_SUCCESS)
		return tss_fail("Tss2_TctiLdr_Initialize", rc, "TCTI \"" + tcti + "\"");
	t.tcti_ = tctx;
	ESYS_CONTEXT *ectx = nullptr;
	if (TSS2_RC rc = Esys_Initialize(&ectx, tctx, nullptr); rc != TSS2_RC_SUCCESS)
		return tss_fail("Esys_Initialize", rc, tcti);
	t.esys_ = ectx;
	// A simulator (mssim, swtpm without startup-clear) needs TPM2_Startup; everything else
	// was started by its firmware or swtpm and answers TPM2_RC_INITIALIZE. The kernel's
	// resource manager does not pass Startup on, so devices are left alone. STATE first: a
	// TPM that was shut down with its state saved (Tpm::save_state) resumes with its PCRs,
	// as a device TPM keeps them while the host runs; one with nothing saved refuses it and
	// starts clear.
	if (!tcti.starts_with("device")) {
		TSS2_RC rc = Esys_Startup(ectx, TPM2_SU_STATE);
		if (rc != TSS2_RC_SUCCESS && rc != TPM2_RC_INITIALIZE)
			rc = Esys_Startup(ectx, TPM2_SU_CLEAR);
		if (rc != TSS2_RC_SUCCESS && rc != TPM2_RC_INITIALIZE)
			return tss_fail("Esys_Startup", rc, tcti);
	}
	return t;
}

Result<void> Tpm::save_state()
{
	if (TSS2_RC rc = Esys_Shutdown(static_cast<ESYS_CONTEXT *>(esys_), ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
				       TPM2_SU_STATE);
	    rc != TSS2_RC_SUCCESS)
		return tss_fail("Esys_Shutdown", rc, "TPM2_SU_STATE");
	return {};
}

Tpm::Tpm() = default;

Tpm::Tpm(Tpm &&o) noexcept
	: esys_(std::exchange(o.esys_, nullptr)), tcti_(std::exchange(o.tcti_, nullptr)),
	  ak_(std::move(o.ak_))
{
}

Tpm &Tpm::operator=(Tpm &&o) noexcept
{
	if (this != &o) {
		close();
		esys_ = std::exchange(o.esys_, nullptr);
		tcti_ = std::exchange(o.tcti_, nullptr);
		ak_ = std::move(o.ak_);
	}
	return *this;
}

Tpm::~Tpm() { close(); }

void Tpm::close()
{
	if (esys_ && ak_)
		Esys_FlushContext(static_cast<ESYS_CONTEXT *>(esys_), ak_->handle);
	ak_.reset();
	if (esys_) {
		auto *e = static_cast<ESYS_CONTEXT *>(esys_);
		Esys_Finalize(&e);
		esys_ = nullptr;
	}
	if (tcti_) {
		auto *t = static_cast<TSS2_TCTI_CONTEXT *>(tcti_);
		Tss2_TctiLdr_Finalize(&t);
		tcti_ = nullptr;
	}
}

Result<void> Tpm::extend(std::uint32_t pcr,
			 const std::vector<std::pair<ima::HashAlgo, Bytes>> &digests)
{
	std::string where = "PCR " + std::to_string(pcr);
	if (pcr > max_pcr)
		return fail(EINVAL, "Esys_PCR_Extend", where + " (a TPM has 0..23)");
	if (digests.empty() || digests.size() > TPM2_NUM_PCR_BANKS)
		return fail(EINVAL, "Esys_PCR_Extend",
			    where + ": " + std::to_string(digests.size()) + " digests");
	TPML_DIGEST_VALUES values{};
	for (auto &[algo, d] : digests) {
		if (d.size() != ima::digest_size(algo))
			return fail(EINVAL, "Esys_PCR_Extend",
				    where + ": " + bank_name(algo) + " digest of " +
					    std::to_string(d.size()) + " bytes");
		for (UINT32 i = 0; i < values.count; ++i)
			if (values.digests[i].hashAlg == alg_id(algo))
				return fail(EINVAL, "Esys_PCR_Extend",
					    where + ": bank " + bank_name(algo) + " given twice");
		auto &v = values.digests[values.count++];
		v.hashAlg = alg_id(algo);
		std::memcpy(&v.digest, d.data(), d.size());
	}
	TSS2_RC rc = Esys_PCR_Extend(static_cast<ESYS_CONTEXT *>(esys_), ESYS_TR_PCR0 + pcr,
				     ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &values);
	if (rc != TSS2_RC_SUCCESS)
		return tss_fail("Esys_PCR_Extend", rc, where);
	return {};
}

Result<std::map<std::uint32_t, Bytes>> Tpm::read_pcrs(ima::HashAlgo bank,
						      const std::vector<std::uint32_t> &pcrs)
{
	auto left = pcr_list("Esys_PCR_Read", pcrs);
	if (!left)
		return std::unexpected(left.error());
	std::map<std::uint32_t, Bytes> out;
	// Each round asks for every PCR still unread; the TPM answers some of them (at most 8)
	// and says which in the returned selection. 24 rounds cover 24 PCRs even at one each.
	for (int round = 0; !left->empty(); ++round) {
		if (round == 24)
			return fail("Esys_PCR_Read", bank_name(bank) + ": TPM keeps answering nothing");
		TPML_PCR_SELECTION sel{};
		sel.count = 1;
		sel.pcrSelections[0] = selection(bank, *left);
		UINT32 counter = 0;
		EsysPtr<TPML_PCR_SELECTION> got;
		EsysPtr<TPML_DIGEST> values;
		TSS2_RC rc = Esys_PCR_Read(static_cast<ESYS_CONTEXT *>(esys_), ESYS_TR_NONE,
					   ESYS_TR_NONE, ESYS_TR_NONE, &sel, &counter, got.out(),
					   values.out());
		if (rc != TSS2_RC_SUCCESS)
			return tss_fail("Esys_PCR_Read", rc, bank_name(bank));
		// Digests come in ascending PCR order of the returned selection.
		std::size_t vi = 0;
		std::vector<std::uint32_t> still;
		const TPMS_PCR_SELECTION *gs = nullptr;
		for (UINT32 i = 0; i < got->count; ++i)
			if (got->pcrSelections[i].hash == alg_id(bank))
				gs = &got->pcrSelections[i];
		for (auto p : *left) {
			bool answered = gs && p / 8 < gs->sizeofSelect &&
					(gs->pcrSelect[p / 8] & (1u << (p % 8)));
			if (answered && vi < values->count) {
				auto &d = values->digests[vi++];
				out[p] = Bytes(d.buffer, d.buffer + d.size);
			} else {
				still.push_back(p);
			}
		}
		if (still.size() == left->size())
			return fail(ENOENT, "Esys_PCR_Read",
				    "bank " + bank_name(bank) + " is not allocated in this TPM");
		*left = std::move(still);
	}
	return out;
}

// Every bank the TPM implements with the PCRs allocated in it (an empty selection when
// none are).
static Result<TPML_PCR_SELECTION> pcr_allocation(ESYS_CONTEXT *ctx)
{
	TPMI_YES_NO more = TPM2_NO;
	EsysPtr<TPMS_CAPABILITY_DATA> cap;
	TSS2_RC rc = Esys_GetCapability(ctx, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
					TPM2_CAP_PCRS, 0, 1, &more, cap.out());
	if (rc != TSS2_RC_SUCCESS)
		return tss_fail("Esys_GetCapability", rc, "TPM2_CAP_PCRS");
	TPML_PCR_SELECTION out = cap->data.assignedPCR;
	out.count = std::min<UINT32>(out.count, TPM2_NUM_PCR_BANKS);
	for (UINT32 i = 0; i < out.count; ++i)
		out.pcrSelections[i].sizeofSelect =
			std::min<UINT8>(out.pcrSelections[i].sizeofSelect, TPM2_PCR_SELECT_MAX);
	return out;
}

static bool any_selected(const TPMS_PCR_SELECTION &s)
{
	for (int b = 0; b < s.sizeofSelect; ++b)
		if (s.pcrSelect[b])
			return true;
	return false;
}

Result<std::vector<ima::HashAlgo>> Tpm::active_banks()
{
	auto alloc = pcr_allocation(static_cast<ESYS_CONTEXT *>(esys_));
	if (!alloc)
		return std::unexpected(alloc.error());
	std::vector<ima::HashAlgo> out;
	for (UINT32 i = 0; i < alloc->count; ++i)
		for (auto a : ima::all_hash_algos)
			if (alg_id(a) == alloc->pcrSelections[i].hash &&
			    any_selected(alloc->pcrSelections[i]))
				out.push_back(a);
	return out;
}

Result<bool> Tpm::allocate_banks(const std::vector<ima::HashAlgo> &banks)
{
	auto *ctx = static_cast<ESYS_CONTEXT *>(esys_);
	auto alloc = pcr_allocation(ctx);
	if (!alloc)
		return std::unexpected(alloc.error());
	for (auto want : banks) {
		bool implemented = false;
		for (UINT32 i = 0; i < alloc->count; ++i)
			implemented = implemented || alloc->pcrSelections[i].hash == alg_id(want);
		if (!implemented)
			return fail(ENOTSUP, "Esys_PCR_Allocate",
				    "the TPM has no " + bank_name(want) + " bank");
	}
	// Every implemented bank is named: one left out would keep its current allocation.
	TPML_PCR_SELECTION wanted = *alloc;
	bool changed = false;
	for (UINT32 i = 0; i < wanted.count; ++i) {
		auto &s = wanted.pcrSelections[i];
		bool want = std::any_of(banks.begin(), banks.end(),
					[&](ima::HashAlgo a) { return alg_id(a) == s.hash; });
		TPMS_PCR_SELECTION next{};
		next.hash = s.hash;
		next.sizeofSelect = 3;
		if (want)
			next.pcrSelect[0] = next.pcrSelect[1] = next.pcrSelect[2] = 0xff;
		changed = changed || std::memcmp(next.pcrSelect, s.pcrSelect, 3) != 0 ||
			  (s.sizeofSelect > 3 && s.pcrSelect[3] != 0);
		s = next;
	}
	if (!changed)
		return false;
	TPMI_YES_NO success = TPM2_NO;
	UINT32 max_pcr_out = 0, size_needed = 0, size_available = 0;
	TSS2_RC rc = Esys_PCR_Allocate(ctx, ESYS_TR_RH_PLATFORM, ESYS_TR_PASSWORD, ESYS_TR_NONE,
				       ESYS_TR_NONE, &wanted, &success, &max_pcr_out,
				       &size_needed, &size_available);
	if (rc != TSS2_RC_SUCCESS)
		return tss_fail("Esys_PCR_Allocate", rc, "platform hierarchy");
	if (success != TPM2_YES)
		return fail("Esys_PCR_Allocate", "TPM refused: needs " + std::to_string(size_needed) +
							 " bytes, has " +
							 std::to_string(size_available));
	return true;
}

Result<Bytes> Tpm::boot_aggregate(ima::HashAlgo bank)
{
	// PCR0-9 are read; ima::compute_boot_aggregate knows which of them the bank covers.
	auto values = read_pcrs(bank, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
	if (!values)
		return std::unexpected(values.error());
	std::vector<Bytes> ordered;
	for (auto &[index, value] : *values)
		ordered.push_back(value);
	return ima::compute_boot_aggregate(bank, ordered);
}

std::vector<Tpm::EsysObject> Tpm::held(std::initializer_list<EsysObject> also) const
{
	static_assert(std::is_same_v<EsysObject, ESYS_TR>);
	std::vector<EsysObject> h(also);
	if (ak_)
		h.push_back(ak_->handle);
	return h;
}

Result<const Tpm::LoadedAk *> Tpm::attestation_key(std::initializer_list<EsysObject> keep)
{
	if (ak_)
		return ak_.get();
	EndorsementPrimary key;
	if (auto r = key.create(static_cast<ESYS_CONTEXT *>(esys_), ak_template(),
				"attestation key", held(keep));
	    !r)
		return std::unexpected(r.error());
	auto loaded = std::make_unique<LoadedAk>();
	auto marshalled = marshal_public(*key.pub.p);
	if (!marshalled)
		return std::unexpected(marshalled.error());
	loaded->public_area = std::move(*marshalled);
	auto pem = ecc_p256_pem(key.pub->publicArea.unique.ecc);
	if (!pem)
		return std::unexpected(pem.error());
	loaded->pem = std::move(*pem);
	loaded->handle = std::exchange(key.handle, ESYS_TR_NONE); // this Tpm flushes it now
	ak_ = std::move(loaded);
	return ak_.get();
}

Result<Quote> Tpm::quote(ima::HashAlgo bank, const std::vector<std::uint32_t> &pcrs,
			 std::span<const std::uint8_t> nonce)
{
	auto list = pcr_list("Esys_Quote", pcrs);
	if (!list)
		return std::unexpected(list.error());
	if (list->empty())
		return fail(EINVAL, "Esys_Quote", "no PCR selected");
	TPM2B_DATA qualifying{};
	if (nonce.size() > 64)
		return fail(EINVAL, "Esys_Quote",
			    "nonce of " + std::to_string(nonce.size()) + " bytes (at most 64)");
	qualifying.size = static_cast<UINT16>(nonce.size());
	// std::copy, not memcpy: an empty nonce's data() may be null, which memcpy may not be
	// given even for 0 bytes (UBSan, scripts/sanitize.sh).
	std::copy(nonce.begin(), nonce.end(), qualifying.buffer);

	auto *ctx = static_cast<ESYS_CONTEXT *>(esys_);
	TPMT_SIG_SCHEME scheme{};
	scheme.scheme = TPM2_ALG_NULL; // the key's own: ECDSA with SHA-256
	TPML_PCR_SELECTION sel{};
	sel.count = 1;
	sel.pcrSelections[0] = selection(bank, *list);
	EsysPtr<TPM2B_ATTEST> attest;
	EsysPtr<TPMT_SIGNATURE> signature;
	const LoadedAk *ak = nullptr;
	for (bool retried = false;; retried = true) {
		bool fresh = !ak_;
		auto loaded = attestation_key();
		if (!loaded)
			return std::unexpected(loaded.error());
		ak = *loaded;
		TSS2_RC rc = Esys_Quote(ctx, ak->handle, ESYS_TR_PASSWORD, ESYS_TR_NONE,
					ESYS_TR_NONE, &qualifying, &scheme, &sel, attest.out(),
					signature.out());
		if (rc == TSS2_RC_SUCCESS)
			break;
		if (fresh || retried)
			return tss_fail("Esys_Quote", rc, bank_name(bank));
		// The key loaded earlier may be gone (see quote() in tpm.h): forget it (the flush
		// fails harmlessly if it is) and create it once more.
		Esys_FlushContext(ctx, ak_->handle);
		ak_.reset();
	}

	Quote q;
	q.bank = bank;
	q.attest.assign(attest->attestationData, attest->attestationData + attest->size);
	q.signature.resize(sizeof(TPMT_SIGNATURE));
	std::size_t off = 0;
	TSS2_RC rc = Tss2_MU_TPMT_SIGNATURE_Marshal(signature.p, q.signature.data(), q.signature.size(),
					    &off);
	if (rc != TSS2_RC_SUCCESS)
		return tss_fail("Tss2_MU_TPMT_SIGNATURE_Marshal", rc);
	q.signature.resize(off);
	q.ak_public = ak->public_area;
	q.ak_pem = ak->pem;
	// The quote's pcrDigest covers the values at signing time; eimad extends through this
	// same context only, so nothing changes them between the two commands.
	auto values = read_pcrs(bank, *list);
	if (!values)
		return std::unexpected(values.error());
	q.pcrs = std::move(*values);
	return q;
}

} // namespace eima::tpm

namespace eima::tpm {

Result<Identity> Tpm::identity()
{
	Identity id;
	EndorsementPrimary ek;
	if (auto r = ek.create(static_cast<ESYS_CONTEXT *>(esys_), ek_template(), "endorsement key",
			       held());
	    !r)
		return std::unexpected(r.error());
	auto marshalled = marshal_public(*ek.pub.p);
	if (!marshalled)
		return std::unexpected(marshalled.error());
	id.ek_public = std::move(*marshalled);
	auto pem = ecc_p256_pem(ek.pub->publicArea.unique.ecc);
	if (!pem)
		return std::unexpected(pem.error());
	id.ek_pem = std::move(*pem);
	auto ak = attestation_key();
	if (!ak)
		return std::unexpected(ak.error());
	id.ak_public = (*ak)->public_area;
	id.ak_pem = (*ak)->pem;
	return id;
}

} // namespace eima::tpm
