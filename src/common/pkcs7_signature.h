// Detached PKCS#7 (CMS) signatures in the one form the kernel's PKCS#7 parser takes: DER,
// SHA-256, binary content, no signed attributes, no certificates, the signer named by its
// subject key identifier (how the kernel finds a key in a keyring, and how
// scripts/sign-file signs modules). Used for BPF loader programs (bpfsign/) and blessings
// (sbom/blessing.h); DESIGN.md has the measurements behind the form.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "common/error.h"
#include "common/hex.h"

namespace eima {

class Pkcs7Signer {
public:
	// A PEM private key and the PEM certificate of its public key. The certificate must
	// carry a subject key identifier and match the key.
	static Result<Pkcs7Signer> load(const std::string &key_pem_path,
					const std::string &cert_pem_path);
	Pkcs7Signer(Pkcs7Signer &&) noexcept;
	Pkcs7Signer &operator=(Pkcs7Signer &&) noexcept;
	~Pkcs7Signer();

	// The DER signature of data.
	Result<Bytes> sign(std::span<const std::uint8_t> data) const;

	const Bytes &subject_key_id() const { return skid_; }
	// OpenSSL's objects, for signatures of other forms made with the same key.
	void *evp_pkey() const { return key_; }
	void *x509() const { return cert_; }

private:
	Pkcs7Signer(void *key, void *cert) : key_(key), cert_(cert) {}
	void *key_ = nullptr;  // EVP_PKEY*
	void *cert_ = nullptr; // X509*
	Bytes skid_;
};

// Checks that sig, which must be exactly one DER PKCS#7 structure with nothing after it, is
// a signature of data by the key of the PEM certificate at cert_pem_path. Trust is that
// certificate, as a keyring holds it: no chain to a CA is built. `what` names the signed
// thing in errors.
Result<void> verify_pkcs7_detached(std::span<const std::uint8_t> data,
				   std::span<const std::uint8_t> sig,
				   const std::string &cert_pem_path, const std::string &what);

// The same against any of several certificates: x509_stack is an OpenSSL STACK_OF(X509)
// (sbom::TrustedCerts holds one).
Result<void> verify_pkcs7_detached_by_any(std::span<const std::uint8_t> data,
					  std::span<const std::uint8_t> sig, const void *x509_stack,
					  const std::string &what);

// A PEM certificate file as an OpenSSL X509* (the caller frees it with X509_free).
Result<void *> read_pem_certificate(const std::string &path);

// The subject key identifier a signature names its signer by (empty when it names the
// signer by issuer and serial); for reports. Fails on bytes that are not DER PKCS#7.
Result<Bytes> pkcs7_signer_key_id(std::span<const std::uint8_t> sig);

// The last OpenSSL error as text, cleared from the queue.
std::string openssl_error();

} // namespace eima
