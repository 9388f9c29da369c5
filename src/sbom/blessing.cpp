#include "sbom/blessing.h"

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstring>

#include <fmt/format.h>

extern "C" {
#include "bpf/abi/blessing.h"
}

namespace eima::sbom {
namespace {

// EVM_IMA_XATTR_DIGSIG and the signature header version (security/integrity/integrity.h).
constexpr std::uint8_t evm_ima_xattr_digsig = 0x03;
constexpr std::uint8_t digital_sig_version_2 = 2;

static_assert(sizeof(eima_blessing_hdr) == 8);

std::string openssl_error()
{
	unsigned long e = ERR_get_error();
	ERR_clear_error();
	if (e == 0)
		return "OpenSSL gave no reason";
	char buf[256];
	ERR_error_string_n(e, buf, sizeof(buf));
	return buf;
}

struct BioFree {
	void operator()(BIO *b) const { BIO_free(b); }
};
struct CmsFree {
	void operator()(CMS_ContentInfo *c) const { CMS_ContentInfo_free(c); }
};
struct CtxFree {
	void operator()(EVP_PKEY_CTX *c) const { EVP_PKEY_CTX_free(c); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
struct BioFreeAll {
	void operator()(BIO *b) const { BIO_free_all(b); }
};
using BioChainPtr = std::unique_ptr<BIO, BioFreeAll>;

Result<X509 *> read_cert(const std::string &path)
{
	BioPtr bio(BIO_new_file(path.c_str(), "r"));
	if (!bio)
		return fail(errno, "open certificate", path);
	X509 *cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
	if (!cert)
		return fail("read PEM certificate", path + ": " + openssl_error());
	return cert;
}

const EVP_MD *evp_md(ima::HashAlgo algo)
{
	switch (algo) {
	case ima::HashAlgo::sha1:
		return EVP_sha1();
	case ima::HashAlgo::sha256:
		return EVP_sha256();
	case ima::HashAlgo::sha384:
		return EVP_sha384();
	case ima::HashAlgo::sha512:
		return EVP_sha512();
	case ima::HashAlgo::sm3_256:
		return EVP_get_digestbyname("SM3");
	}
	return nullptr;
}

} // namespace

std::uint8_t kernel_hash_algo_id(ima::HashAlgo algo)
{
	switch (algo) {
	case ima::HashAlgo::sha1:
		return 2;
	case ima::HashAlgo::sha256:
		return 4;
	case ima::HashAlgo::sha384:
		return 5;
	case ima::HashAlgo::sha512:
		return 6;
	case ima::HashAlgo::sm3_256:
		return 17;
	}
	return 0;
}

Result<BlessingSigner> BlessingSigner::load(const std::string &key_pem_path,
					    const std::string &cert_pem_path)
{
	BioPtr bio(BIO_new_file(key_pem_path.c_str(), "r"));
	if (!bio)
		return fail(errno, "open key", key_pem_path);
	EVP_PKEY *key = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
	if (!key)
		return fail("read PEM private key", key_pem_path + ": " + openssl_error());
	auto cert = read_cert(cert_pem_path);
	if (!cert) {
		EVP_PKEY_free(key);
		return std::unexpected(cert.error());
	}
	BlessingSigner signer(key, *cert, {});
	if (X509_check_private_key(*cert, key) != 1)
		return fail("check key", fmt::format("{} is not the key of {}", key_pem_path,
						     cert_pem_path));
	// The kernel finds the key of both signatures by subject key identifier (IMA: its
	// last 4 bytes; PKCS#7: all of it): without one neither could be verified.
	const ASN1_OCTET_STRING *skid = X509_get0_subject_key_id(*cert);
	if (!skid || ASN1_STRING_length(skid) < 4)
		return fail("read certificate",
			    cert_pem_path + ": no subject key identifier (add "
					    "subjectKeyIdentifier=hash to its extensions)");
	const unsigned char *p = ASN1_STRING_get0_data(skid);
	signer.skid_.assign(p, p + ASN1_STRING_length(skid));
	return signer;
}

BlessingSigner::BlessingSigner(BlessingSigner &&o) noexcept
	: key_(std::exchange(o.key_, nullptr)), cert_(std::exchange(o.cert_, nullptr)),
	  skid_(std::move(o.skid_))
{
}

BlessingSigner &BlessingSigner::operator=(BlessingSigner &&o) noexcept
{
	if (this != &o) {
		std::swap(key_, o.key_);
		std::swap(cert_, o.cert_);
		std::swap(skid_, o.skid_);
	}
	return *this;
}

BlessingSigner::~BlessingSigner()
{
	EVP_PKEY_free(static_cast<EVP_PKEY *>(key_));
	X509_free(static_cast<X509 *>(cert_));
}

Result<Bytes> BlessingSigner::ima_signature(ima::HashAlgo algo,
					    std::span<const std::uint8_t> digest) const
{
	auto *key = static_cast<EVP_PKEY *>(key_);
	std::unique_ptr<EVP_PKEY_CTX, CtxFree> ctx(EVP_PKEY_CTX_new(key, nullptr));
	if (!ctx || EVP_PKEY_sign_init(ctx.get()) <= 0 ||
	    EVP_PKEY_CTX_set_signature_md(ctx.get(), evp_md(algo)) <= 0)
		return fail("sign (IMA)", openssl_error());
	// RSA signs the DigestInfo of the digest with PKCS#1 v1.5 padding, which is what the
	// kernel's asymmetric_verify expects for a v2 signature.
	if (EVP_PKEY_base_id(key) == EVP_PKEY_RSA &&
	    EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) <= 0)
		return fail("sign (IMA)", openssl_error());
	std::size_t sig_len = 0;
	if (EVP_PKEY_sign(ctx.get(), nullptr, &sig_len, digest.data(), digest.size()) <= 0)
		return fail("sign (IMA)", openssl_error());
	Bytes out(1 + 8 + sig_len);
	if (EVP_PKEY_sign(ctx.get(), out.data() + 9, &sig_len, digest.data(), digest.size()) <= 0)
		return fail("sign (IMA)", openssl_error());
	out.resize(9 + sig_len);
	// struct signature_v2_hdr, packed: version, hash_algo, keyid (be32), sig_size (be16).
	out[0] = evm_ima_xattr_digsig;
	out[1] = digital_sig_version_2;
	out[2] = kernel_hash_algo_id(algo);
	std::memcpy(&out[3], skid_.data() + skid_.size() - 4, 4);
	out[7] = static_cast<std::uint8_t>(sig_len >> 8);
	out[8] = static_cast<std::uint8_t>(sig_len);
	return out;
}

Bytes blessing_message(ima::HashAlgo algo, std::span<const std::uint8_t> digest)
{
	eima_blessing_hdr hdr{};
	std::memcpy(hdr.magic, EIMA_BLESSING_MAGIC, sizeof(hdr.magic));
	hdr.version = EIMA_BLESSING_VERSION;
	hdr.hash_algo = kernel_hash_algo_id(algo);
	hdr.digest_size = static_cast<std::uint8_t>(digest.size());
	Bytes msg(sizeof(hdr) + digest.size());
	std::memcpy(msg.data(), &hdr, sizeof(hdr));
	std::memcpy(msg.data() + sizeof(hdr), digest.data(), digest.size());
	return msg;
}

Result<Bytes> BlessingSigner::blessing(ima::HashAlgo algo,
				       std::span<const std::uint8_t> digest) const
{
	if (digest.size() > EIMA_BLESSING_DIGEST_MAX)
		return fail("sign (blessing)", fmt::format("a {}-byte digest", digest.size()));
	Bytes msg = blessing_message(algo, digest);
	BioPtr data(BIO_new_mem_buf(msg.data(), static_cast<int>(msg.size())));
	// The form the kernel's PKCS#7 parser takes and DESIGN.md measured with
	// bpf_verify_pkcs7_signature: detached, binary, no signed attributes, no certificates,
	// the signer named by subject key id (as scripts/sign-file does for modules).
	const unsigned flags = CMS_BINARY | CMS_DETACHED | CMS_NOATTR | CMS_NOCERTS |
			       CMS_NOSMIMECAP | CMS_USE_KEYID | CMS_PARTIAL;
	std::unique_ptr<CMS_ContentInfo, CmsFree> cms(
		CMS_sign(nullptr, nullptr, nullptr, nullptr, flags));
	if (!cms || !CMS_add1_signer(cms.get(), static_cast<X509 *>(cert_),
				     static_cast<EVP_PKEY *>(key_), EVP_sha256(), flags) ||
	    CMS_final(cms.get(), data.get(), nullptr, flags) != 1)
		return fail("sign (blessing)", openssl_error());
	unsigned char *der = nullptr;
	int len = i2d_CMS_ContentInfo(cms.get(), &der);
	if (len <= 0)
		return fail("sign (blessing)", openssl_error());
	msg.insert(msg.end(), der, der + len);
	OPENSSL_free(der);
	if (msg.size() > EIMA_BLESSING_VALUE_MAX)
		return fail("sign (blessing)", fmt::format("{} bytes: larger than a reader's {}",
							   msg.size(), EIMA_BLESSING_VALUE_MAX));
	return msg;
}

Result<TrustedCerts> TrustedCerts::load(const std::vector<std::string> &cert_pem_paths)
{
	TrustedCerts t(sk_X509_new_null());
	if (!t.certs_)
		return fail("load certificates", openssl_error());
	for (auto &path : cert_pem_paths) {
		auto cert = read_cert(path);
		if (!cert)
			return std::unexpected(cert.error());
		sk_X509_push(static_cast<STACK_OF(X509) *>(t.certs_), *cert);
	}
	return t;
}

TrustedCerts::TrustedCerts(TrustedCerts &&o) noexcept : certs_(std::exchange(o.certs_, nullptr))
{
}

TrustedCerts &TrustedCerts::operator=(TrustedCerts &&o) noexcept
{
	std::swap(certs_, o.certs_);
	return *this;
}

TrustedCerts::~TrustedCerts()
{
	if (certs_)
		sk_X509_pop_free(static_cast<STACK_OF(X509) *>(certs_), X509_free);
}

std::size_t TrustedCerts::size() const
{
	return certs_ ? sk_X509_num(static_cast<STACK_OF(X509) *>(certs_)) : 0;
}

Result<void> verify_blessing(std::span<const std::uint8_t> value, ima::HashAlgo algo,
			     std::span<const std::uint8_t> digest, const std::string &cert_pem_path)
{
	auto trusted = TrustedCerts::load({cert_pem_path});
	if (!trusted)
		return std::unexpected(trusted.error());
	return verify_blessing(value, algo, digest, *trusted);
}

Result<void> verify_blessing(std::span<const std::uint8_t> value, ima::HashAlgo algo,
			     std::span<const std::uint8_t> digest, const TrustedCerts &trusted)
{
	eima_blessing_hdr hdr{};
	if (value.size() < sizeof(hdr))
		return fail("verify blessing", fmt::format("{} bytes: shorter than its header",
							   value.size()));
	// What the BPF program cannot read whole it cannot verify: refused here too.
	if (value.size() > EIMA_BLESSING_VALUE_MAX)
		return fail("verify blessing", fmt::format("{} bytes: larger than a reader's {}",
							   value.size(), EIMA_BLESSING_VALUE_MAX));
	std::memcpy(&hdr, value.data(), sizeof(hdr));
	if (std::memcmp(hdr.magic, EIMA_BLESSING_MAGIC, 4) != 0 ||
	    hdr.version != EIMA_BLESSING_VERSION || hdr.flags != 0)
		return fail("verify blessing", "not an eima blessing of version 1");
	if (hdr.hash_algo != kernel_hash_algo_id(algo) || hdr.digest_size != digest.size() ||
	    value.size() < sizeof(hdr) + digest.size())
		return fail("verify blessing", "blessed with another hash algorithm");
	std::span<const std::uint8_t> msg = value.first(sizeof(hdr) + digest.size());
	if (std::memcmp(msg.data() + sizeof(hdr), digest.data(), digest.size()) != 0)
		return fail("verify blessing", "the file's digest is not the blessed one");
	std::span<const std::uint8_t> sig = value.subspan(msg.size());
	const unsigned char *p = sig.data();
	std::unique_ptr<CMS_ContentInfo, CmsFree> cms(
		d2i_CMS_ContentInfo(nullptr, &p, static_cast<long>(sig.size())));
	if (!cms)
		return fail("verify blessing", "signature is not DER PKCS#7: " + openssl_error());
	// The signature runs to the end of the value (bpf/abi/blessing.h): bytes after it would
	// be ignored by this check, so one blessing could be written in many ways.
	if (p != sig.data() + sig.size())
		return fail("verify blessing",
			    fmt::format("{} bytes after the signature", sig.data() + sig.size() - p));
	auto *certs = static_cast<STACK_OF(X509) *>(trusted.stack());
	// The message behind a buffering filter, not as a bare memory BIO: CMS_verify copies a
	// memory BIO into one of its own and, up to OpenSSL 3.0.19 at least, leaks that copy
	// when it cannot set up the signature's digests (an empty or unknown digestAlgorithms;
	// openssl/openssl#30471, found by the blessing fuzz target). A hostile value checked
	// again and again would leak each time; content that is not a memory BIO is read in
	// place.
	BioChainPtr data(BIO_new(BIO_f_buffer()));
	BIO *mem = BIO_new_mem_buf(msg.data(), static_cast<int>(msg.size()));
	if (!data || !mem) {
		BIO_free(mem);
		return fail("verify blessing", openssl_error());
	}
	BIO_push(data.get(), mem);
	// Trust is the certificates given, as a keyring holds them: no chain to a CA is built.
	int ok = CMS_verify(cms.get(), certs, nullptr, data.get(), nullptr,
			    CMS_BINARY | CMS_NOINTERN | CMS_NO_SIGNER_CERT_VERIFY);
	if (ok != 1)
		return fail("verify blessing", "bad signature: " + openssl_error());
	return {};
}

} // namespace eima::sbom
