#include "common/pkcs7_signature.h"

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <climits>
#include <memory>
#include <utility>

#include <fmt/format.h>

namespace eima {
namespace {

struct BioFree {
	void operator()(BIO *b) const { BIO_free(b); }
};
struct BioFreeAll {
	void operator()(BIO *b) const { BIO_free_all(b); }
};
struct CmsFree {
	void operator()(CMS_ContentInfo *c) const { CMS_ContentInfo_free(c); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using BioChainPtr = std::unique_ptr<BIO, BioFreeAll>;
using CmsPtr = std::unique_ptr<CMS_ContentInfo, CmsFree>;

} // namespace

Result<void *> read_pem_certificate(const std::string &path)
{
	BioPtr bio(BIO_new_file(path.c_str(), "r"));
	if (!bio)
		return fail(errno, "open certificate", path);
	X509 *cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
	if (!cert)
		return fail("read PEM certificate", path + ": " + openssl_error());
	return static_cast<void *>(cert);
}

namespace {

// Exactly one DER structure: bytes after it would be ignored by the check, so one
// signature could be written in many ways.
Result<CmsPtr> parse_der(std::span<const std::uint8_t> sig, const std::string &what)
{
	if (sig.empty() || sig.size() > INT_MAX)
		return fail("verify " + what, fmt::format("a signature of {} bytes", sig.size()));
	const unsigned char *p = sig.data();
	CmsPtr cms(d2i_CMS_ContentInfo(nullptr, &p, static_cast<long>(sig.size())));
	if (!cms)
		return fail("verify " + what, "signature is not DER PKCS#7: " + openssl_error());
	if (p != sig.data() + sig.size())
		return fail("verify " + what,
			    fmt::format("{} bytes after the signature", sig.data() + sig.size() - p));
	return cms;
}

} // namespace

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

Result<Pkcs7Signer> Pkcs7Signer::load(const std::string &key_pem_path,
				      const std::string &cert_pem_path)
{
	BioPtr bio(BIO_new_file(key_pem_path.c_str(), "r"));
	if (!bio)
		return fail(errno, "open key", key_pem_path);
	EVP_PKEY *key = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
	if (!key)
		return fail("read PEM private key", key_pem_path + ": " + openssl_error());
	auto cert_read = read_pem_certificate(cert_pem_path);
	if (!cert_read) {
		EVP_PKEY_free(key);
		return std::unexpected(cert_read.error());
	}
	X509 *cert = static_cast<X509 *>(*cert_read);
	Pkcs7Signer signer(key, cert);
	if (X509_check_private_key(cert, key) != 1)
		return fail("check key", fmt::format("{} is not the key of {}", key_pem_path,
						     cert_pem_path));
	// The kernel finds the signer's key by subject key identifier: without one no
	// signature made here could be verified.
	const ASN1_OCTET_STRING *skid = X509_get0_subject_key_id(cert);
	if (!skid || ASN1_STRING_length(skid) < 4)
		return fail("read certificate",
			    cert_pem_path + ": no subject key identifier (add "
					    "subjectKeyIdentifier=hash to its extensions)");
	const unsigned char *p = ASN1_STRING_get0_data(skid);
	signer.skid_.assign(p, p + ASN1_STRING_length(skid));
	return signer;
}

Pkcs7Signer::Pkcs7Signer(Pkcs7Signer &&o) noexcept
	: key_(std::exchange(o.key_, nullptr)), cert_(std::exchange(o.cert_, nullptr)),
	  skid_(std::move(o.skid_))
{
}

Pkcs7Signer &Pkcs7Signer::operator=(Pkcs7Signer &&o) noexcept
{
	if (this != &o) {
		EVP_PKEY_free(static_cast<EVP_PKEY *>(key_));
		X509_free(static_cast<X509 *>(cert_));
		key_ = std::exchange(o.key_, nullptr);
		cert_ = std::exchange(o.cert_, nullptr);
		skid_ = std::move(o.skid_);
	}
	return *this;
}

Pkcs7Signer::~Pkcs7Signer()
{
	EVP_PKEY_free(static_cast<EVP_PKEY *>(key_));
	X509_free(static_cast<X509 *>(cert_));
}

Result<Bytes> Pkcs7Signer::sign(std::span<const std::uint8_t> data) const
{
	if (data.size() > INT_MAX)
		return fail("sign", fmt::format("{} bytes: too large", data.size()));
	BioPtr in(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
	const unsigned flags = CMS_BINARY | CMS_DETACHED | CMS_NOATTR | CMS_NOCERTS |
			       CMS_NOSMIMECAP | CMS_USE_KEYID | CMS_PARTIAL;
	CmsPtr cms(CMS_sign(nullptr, nullptr, nullptr, nullptr, flags));
	if (!in || !cms ||
	    !CMS_add1_signer(cms.get(), static_cast<X509 *>(cert_), static_cast<EVP_PKEY *>(key_),
			     EVP_sha256(), flags) ||
	    CMS_final(cms.get(), in.get(), nullptr, flags) != 1)
		return fail("sign", openssl_error());
	unsigned char *der = nullptr;
	int len = i2d_CMS_ContentInfo(cms.get(), &der);
	if (len <= 0)
		return fail("sign", openssl_error());
	Bytes out(der, der + len);
	OPENSSL_free(der);
	return out;
}

Result<void> verify_pkcs7_detached_by_any(std::span<const std::uint8_t> data,
					  std::span<const std::uint8_t> sig, const void *x509_stack,
					  const std::string &what)
{
	// A failure below reports the queue's first error: not one that an earlier, handled
	// failure left (reading a PEM file to its end leaves "no start line").
	ERR_clear_error();
	auto cms = parse_der(sig, what);
	if (!cms)
		return std::unexpected(cms.error());
	if (data.size() > INT_MAX)
		return fail("verify " + what, fmt::format("{} bytes: too large", data.size()));
	// The content behind a buffering filter, not as a bare memory BIO: CMS_verify copies a
	// memory BIO into one of its own and, up to OpenSSL 3.0.19 at least, leaks that copy
	// when it cannot set up the signature's digests (an empty or unknown digestAlgorithms;
	// openssl/openssl#30471, found by the blessing fuzz target). Content that is not a
	// memory BIO is read in place.
	BioChainPtr in(BIO_new(BIO_f_buffer()));
	BIO *mem = BIO_new_mem_buf(data.data(), static_cast<int>(data.size()));
	if (!in || !mem) {
		BIO_free(mem);
		return fail("verify " + what, openssl_error());
	}
	BIO_push(in.get(), mem);
	auto *certs = static_cast<STACK_OF(X509) *>(const_cast<void *>(x509_stack));
	int ok = CMS_verify(cms->get(), certs, nullptr, in.get(), nullptr,
			    CMS_BINARY | CMS_NOINTERN | CMS_NO_SIGNER_CERT_VERIFY);
	if (ok != 1)
		return fail("verify " + what, "bad signature: " + openssl_error());
	return {};
}

Result<void> verify_pkcs7_detached(std::span<const std::uint8_t> data,
				   std::span<const std::uint8_t> sig,
				   const std::string &cert_pem_path, const std::string &what)
{
	auto cert = read_pem_certificate(cert_pem_path);
	if (!cert)
		return std::unexpected(cert.error());
	STACK_OF(X509) *certs = sk_X509_new_null();
	if (!certs || !sk_X509_push(certs, static_cast<X509 *>(*cert))) {
		X509_free(static_cast<X509 *>(*cert));
		sk_X509_free(certs);
		return fail("verify " + what, openssl_error());
	}
	auto r = verify_pkcs7_detached_by_any(data, sig, certs, what);
	sk_X509_pop_free(certs, X509_free);
	return r;
}

Result<Bytes> pkcs7_signer_key_id(std::span<const std::uint8_t> sig)
{
	auto cms = parse_der(sig, "signature");
	if (!cms)
		return std::unexpected(cms.error());
	STACK_OF(CMS_SignerInfo) *signers = CMS_get0_SignerInfos(cms->get());
	if (!signers || sk_CMS_SignerInfo_num(signers) != 1)
		return fail("read signature", "not exactly one signer");
	ASN1_OCTET_STRING *keyid = nullptr;
	if (CMS_SignerInfo_get0_signer_id(sk_CMS_SignerInfo_value(signers, 0), &keyid, nullptr,
					  nullptr) != 1)
		return fail("read signature", openssl_error());
	if (!keyid)
		return Bytes{};
	const unsigned char *p = ASN1_STRING_get0_data(keyid);
	return Bytes(p, p + ASN1_STRING_length(keyid));
}

} // namespace eima
