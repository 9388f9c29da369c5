// The two signatures `eima bless` writes on a file whose content matches its SBOM entry:
//  - security.ima: an IMA signature v2 (EVM_IMA_XATTR_DIGSIG), as evmctl writes it, which
//    `evmctl ima_verify` and kernel IMA appraisal accept;
//  - the eima blessing (bpf/abi/blessing.h, docs/blessing.md): a detached PKCS#7 signature
//    over a small header and the digest, which bpf_verify_pkcs7_signature checks in the
//    kernel.
// Both are made with one key and name its certificate by subject key identifier, which is
// how the kernel finds a key in a keyring.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/hex.h"
#include "common/pkcs7_signature.h"
#include "ima/hash_algo.h"

namespace eima::sbom {

// The kernel's enum hash_algo (include/uapi/linux/hash_info.h): the byte both formats carry.
std::uint8_t kernel_hash_algo_id(ima::HashAlgo algo);

class BlessingSigner {
public:
	// A PEM private key and the PEM certificate of its public key. The certificate must
	// carry a subject key identifier and match the key.
	static Result<BlessingSigner> load(const std::string &key_pem_path,
					   const std::string &cert_pem_path);
	BlessingSigner(BlessingSigner &&) noexcept;
	BlessingSigner &operator=(BlessingSigner &&) noexcept;
	~BlessingSigner();

	// The security.ima value for a file with this digest: 0x03, the v2 header (version 2,
	// hash algorithm, the last 4 bytes of the subject key id, signature size, big endian)
	// and the signature of the digest (PKCS#1 v1.5 for RSA, DER ECDSA for EC keys).
	Result<Bytes> ima_signature(ima::HashAlgo algo, std::span<const std::uint8_t> digest) const;
	// The eima blessing xattr value for a file with this digest.
	Result<Bytes> blessing(ima::HashAlgo algo, std::span<const std::uint8_t> digest) const;

	const Bytes &subject_key_id() const { return signer_.subject_key_id(); }

private:
	explicit BlessingSigner(Pkcs7Signer signer) : signer_(std::move(signer)) {}
	Pkcs7Signer signer_;
};

// The signed part of a blessing: header and digest (the first bytes of the xattr value).
Bytes blessing_message(ima::HashAlgo algo, std::span<const std::uint8_t> digest);

// Certificates a blessing may be signed by, read once: a verifier that checks many files
// (the fanotify enforcer) reads no file per check, so it can never wait on a file it is
// itself asked to allow.
class TrustedCerts {
public:
	static Result<TrustedCerts> load(const std::vector<std::string> &cert_pem_paths);
	TrustedCerts(TrustedCerts &&) noexcept;
	TrustedCerts &operator=(TrustedCerts &&) noexcept;
	~TrustedCerts();
	std::size_t size() const;
	void *stack() const { return certs_; } // STACK_OF(X509)*

private:
	explicit TrustedCerts(void *certs) : certs_(certs) {}
	void *certs_ = nullptr;
};

// Checks a blessing value as the BPF program will: header, digest equal to `digest` (the
// digest of the file's content, taken by the caller), and a PKCS#7 signature over the
// message by one of the trusted certificates. Errors say which check failed.
Result<void> verify_blessing(std::span<const std::uint8_t> value, ima::HashAlgo algo,
			     std::span<const std::uint8_t> digest, const TrustedCerts &trusted);
// Same, trusting only the certificate in cert_pem_path.
Result<void> verify_blessing(std::span<const std::uint8_t> value, ima::HashAlgo algo,
			     std::span<const std::uint8_t> digest, const std::string &cert_pem_path);

} // namespace eima::sbom
