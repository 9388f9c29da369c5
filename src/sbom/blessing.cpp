#include "sbom/blessing.h"

#include <openssl/cms.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/rsa.h>

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

struct CtxFree {
	void operator()(EVP_PKEY_CTX *c) const { EVP_PKEY_CTX_free(c); }
};

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
	// The kernel finds the key of both signatures by subject key identifier (IMA: its last
	// 4 bytes; PKCS#7: all of it): Pkcs7Signer refuses a certificate without one.
	auto signer = Pkcs7Signer::load(key_pem_path, cert_pem_path);
	if (!signer)
		return std::unexpected(signer.error());
	return BlessingSigner(std::move(*signer));
}

BlessingSigner::BlessingSigner(BlessingSigner &&) noexcept = default;
BlessingSigner &BlessingSigner::operator=(BlessingSigner &&) noexcept = default;
BlessingSigner::~BlessingSigner() = default;

Result<Bytes> BlessingSigner::ima_signature(ima::HashAlgo algo,
					    std::span<const std::uint8_t> digest) const
{
	auto *key = static_cast<EVP_PKEY *>(signer_.evp_pkey());
	const Bytes &skid = signer_.subject_key_id();
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
	std::memcpy(&out[3], skid.data() + skid.size() - 4, 4);
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
	// The form the kernel's PKCS#7 parser takes and DESIGN.md measured with
	// bpf_verify_pkcs7_signature (common/pkcs7_signature.h).
	auto sig = signer_.sign(msg);
	if (!sig)
		return fail("sign (blessing)", sig.error().message());
	msg.insert(msg.end(), sig->begin(), sig->end());
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
		auto cert = read_pem_certificate(path);
		if (!cert)
			return std::unexpected(cert.error());
		sk_X509_push(static_cast<STACK_OF(X509) *>(t.certs_), static_cast<X509 *>(*cert));
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
	// The signature runs to the end of the value (bpf/abi/blessing.h): bytes after it are
	// refused, so one blessing cannot be written in many ways. Trust is the certificates
	// given, as a keyring holds them: no chain to a CA is built.
	return verify_pkcs7_detached_by_any(msg, value.subspan(msg.size()), trusted.stack(),
					    "blessing");
}

} // namespace eima::sbom
