#include "attest/enrollment.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <tss2/tss2_mu.h>

#include <cstring>
#include <memory>

#include "attest/json_input.h"
#include "common/json_text.h"

namespace eima::attest {

namespace {

template <typename T, void (*F)(T *)>
using Owned = std::unique_ptr<T, std::integral_constant<decltype(F), F>>;
using Bio = Owned<BIO, BIO_free_all>;
using Pkey = Owned<EVP_PKEY, EVP_PKEY_free>;
using Cert = Owned<X509, X509_free>;

// The last OpenSSL error, for messages.
std::string openssl_error()
{
	unsigned long e = ERR_get_error();
	ERR_clear_error();
	if (e == 0)
		return "no detail";
	char buf[256];
	ERR_error_string_n(e, buf, sizeof(buf));
	return buf;
}

Result<Pkey> pem_public_key(const std::string &pem)
{
	Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
	Pkey key(bio ? PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr) : nullptr);
	if (!key)
		return fail("read public key", openssl_error());
	return key;
}

Result<TPM2B_PUBLIC> unmarshal_public(const Bytes &b, const char *what)
{
	TPM2B_PUBLIC pub{};
	std::size_t off = 0;
	if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(b.data(), b.size(), &off, &pub) != TSS2_RC_SUCCESS ||
	    off != b.size())
		return fail(EINVAL, what, "not one marshalled TPM2B_PUBLIC");
	return pub;
}

std::string cert_pem(const Bytes &der)
{
	const unsigned char *p = der.data();
	Cert cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
	Bio bio(BIO_new(BIO_s_mem()));
	if (!cert || !bio || PEM_write_bio_X509(bio.get(), cert.get()) != 1)
		return {};
	char *data = nullptr;
	long len = BIO_get_mem_data(bio.get(), &data);
	return std::string(data, static_cast<std::size_t>(len));
}

Result<Bytes> cert_der(const std::string &pem, const std::string &what)
{
	Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
	Cert cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
	if (!cert)
		return fail(what, "not a PEM certificate: " + openssl_error());
	int n = i2d_X509(cert.get(), nullptr);
	Bytes der(static_cast<std::size_t>(n > 0 ? n : 0));
	unsigned char *p = der.data();
	if (n <= 0 || i2d_X509(cert.get(), &p) != n)
		return fail(what, "DER encoding");
	return der;
}

std::optional<tpm::EkType> ek_type_from(const std::string &s)
{
	for (auto t : {tpm::EkType::rsa2048, tpm::EkType::ecc_p256})
		if (s == tpm::ek_type_name(t))
			return t;
	return std::nullopt;
}

// A hex string member: present, a string, hex, and (when given) of bounded size.
Result<Bytes> hex_member(const nlohmann::json &obj, const std::string &key, const char *op,
			 const std::string &source, const std::string &pointer,
			 std::size_t max_size = 4096)
{
	std::string p = pointer + "/" + key;
	auto it = obj.find(key);
	if (it == obj.end())
		return json_error(op, source, p, "missing");
	if (!it->is_string())
		return json_error(op, source, p, "not a string");
	auto b = from_hex(it->get<std::string>());
	if (!b)
		return json_error(op, source, p, "not hex");
	if (b->empty() || b->size() > max_size)
		return json_error(op, source, p,
				  std::to_string(b->size()) + " bytes (1 to " +
					  std::to_string(max_size) + ")");
	return std::move(*b);
}

Result<nlohmann::json> versioned_object(std::string_view text, const std::string &source,
					const char *op, int version)
{
	auto j = json_parse(text, source);
	if (!j)
		return std::unexpected(j.error());
	if (!j->is_object())
		return json_error(op, source, "", "not an object");
	auto v = j->find("version");
	if (v == j->end() || !v->is_number_integer() || v->get<long long>() != version)
		return json_error(op, source, "/version", "not " + std::to_string(version));
	return j;
}

// KDFa of TPM 2.0 Part 1 §11.4.10.2: SP 800-108 counter mode with HMAC-SHA-256, the label
// followed by its NUL (OpenSSL's KBKDF separator), context = contextU || contextV.
Result<Bytes> kdfa(const Bytes &key, const char *label, const Bytes &context, std::size_t bytes)
{
	Owned<EVP_KDF, EVP_KDF_free> kdf(EVP_KDF_fetch(nullptr, "KBKDF", nullptr));
	Owned<EVP_KDF_CTX, EVP_KDF_CTX_free> ctx(kdf ? EVP_KDF_CTX_new(kdf.get()) : nullptr);
	if (!ctx)
		return fail("KDFa", "OpenSSL has no KBKDF");
	char mode[] = "counter", mac[] = "HMAC", digest[] = "SHA256";
	Bytes out(bytes);
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MODE, mode, 0),
		OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MAC, mac, 0),
		OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<std::uint8_t *>(key.data()),
						  key.size()),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<char *>(label),
						  std::strlen(label)),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
						  const_cast<std::uint8_t *>(context.data()),
						  context.size()),
		OSSL_PARAM_construct_end()};
	if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) != 1)
		return fail("KDFa", std::string(label) + ": " + openssl_error());
	return out;
}

void free_infos(STACK_OF(X509_INFO) *s) { sk_X509_INFO_pop_free(s, X509_INFO_free); }

void put_u16(Bytes &out, std::size_t v)
{
	out.push_back(static_cast<std::uint8_t>(v >> 8));
	out.push_back(static_cast<std::uint8_t>(v));
}

// A credential's seed and its encryption to the EK (TPM 2.0 Part 1 §24.4, Annex B.10, C.6).
struct Seed {
	Bytes seed, encrypted;
	Seed() = default;
	Seed(Seed &&) = default;
	~Seed() { OPENSSL_cleanse(seed.data(), seed.size()); }
};

// RSA EK: a random seed, encrypted with RSA-OAEP (SHA-256, label "IDENTITY\0").
Result<Seed> rsa_seed(EVP_PKEY *ek)
{
	const char *op = "make credential";
	Seed s;
	s.seed.resize(32);
	if (RAND_bytes(s.seed.data(), static_cast<int>(s.seed.size())) != 1)
		return fail(op, "RAND_bytes: " + openssl_error());
	Owned<EVP_PKEY_CTX, EVP_PKEY_CTX_free> enc(EVP_PKEY_CTX_new_from_pkey(nullptr, ek, nullptr));
	static const char label[] = "IDENTITY"; // with its NUL, as Part 1 §24 says
	auto *label_copy = static_cast<unsigned char *>(OPENSSL_memdup(label, sizeof(label)));
	if (!enc || !label_copy || EVP_PKEY_encrypt_init(enc.get()) != 1 ||
	    EVP_PKEY_CTX_set_rsa_padding(enc.get(), RSA_PKCS1_OAEP_PADDING) != 1 ||
	    EVP_PKEY_CTX_set_rsa_oaep_md(enc.get(), EVP_sha256()) != 1 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(enc.get(), EVP_sha256()) != 1 ||
	    EVP_PKEY_CTX_set0_rsa_oaep_label(enc.get(), label_copy, sizeof(label)) != 1) {
		OPENSSL_free(label_copy);
		return fail(op, "RSA-OAEP: " + openssl_error());
	}
	std::size_t len = 0;
	if (EVP_PKEY_encrypt(enc.get(), nullptr, &len, s.seed.data(), s.seed.size()) != 1)
		return fail(op, "RSA-OAEP: " + openssl_error());
	s.encrypted.resize(len);
	if (EVP_PKEY_encrypt(enc.get(), s.encrypted.data(), &len, s.seed.data(), s.seed.size()) != 1)
		return fail(op, "RSA-OAEP: " + openssl_error());
	s.encrypted.resize(len);
	return s;
}

// KDFe of TPM 2.0 Part 1 §11.4.10.3: the one-step KDF of SP 800-56A with SHA-256,
// H(counter || Z || label\0 || partyUInfo || partyVInfo): OpenSSL's SSKDF with that as info.
Result<Bytes> kdfe(Bytes z, const char *label, const Bytes &party_u, const Bytes &party_v,
		   std::size_t bytes)
{
	Owned<EVP_KDF, EVP_KDF_free> kdf(EVP_KDF_fetch(nullptr, "SSKDF", nullptr));
	Owned<EVP_KDF_CTX, EVP_KDF_CTX_free> ctx(kdf ? EVP_KDF_CTX_new(kdf.get()) : nullptr);
	if (!ctx)
		return fail("KDFe", "OpenSSL has no SSKDF");
	Bytes info(label, label + std::strlen(label) + 1);
	info.insert(info.end(), party_u.begin(), party_u.end());
	info.insert(info.end(), party_v.begin(), party_v.end());
	char digest[] = "SHA256";
	Bytes out(bytes);
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, z.data(), z.size()),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info.data(), info.size()),
		OSSL_PARAM_construct_end()};
	int ok = EVP_KDF_derive(ctx.get(), out.data(), out.size(), params);
	OPENSSL_cleanse(z.data(), z.size());
	if (ok != 1)
		return fail("KDFe", std::string(label) + ": " + openssl_error());
	return out;
}

// A P-256 coordinate, 32 bytes big-endian.
Result<Bytes> coordinate(EVP_PKEY *key, const char *which)
{
	BIGNUM *bn = nullptr;
	if (EVP_PKEY_get_bn_param(key, which, &bn) != 1)
		return fail("make credential", std::string("ECDH key: no ") + which);
	Bytes out(32);
	int n = BN_bn2binpad(bn, out.data(), static_cast<int>(out.size()));
	BN_free(bn);
	if (n != 32)
		return fail("make credential", std::string("ECDH key: ") + which + " over 32 bytes");
	return out;
}

// ECC EK: an ephemeral P-256 key; Z the x coordinate of its ECDH with the EK; the seed
// KDFe(Z, "IDENTITY", ephemeral x, EK x); what the TPM gets is the ephemeral public point
// (a TPMS_ECC_POINT), from which it computes the same Z with the EK's private key.
Result<Seed> ecc_seed(EVP_PKEY *ek, const TPMS_ECC_POINT &ek_point)
{
	const char *op = "make credential";
	Pkey eph(EVP_EC_gen("P-256"));
	if (!eph)
		return fail(op, "P-256 key generation: " + openssl_error());
	Owned<EVP_PKEY_CTX, EVP_PKEY_CTX_free> dh(EVP_PKEY_CTX_new_from_pkey(nullptr, eph.get(), nullptr));
	std::size_t zlen = 0;
	if (!dh || EVP_PKEY_derive_init(dh.get()) != 1 || EVP_PKEY_derive_set_peer(dh.get(), ek) != 1 ||
	    EVP_PKEY_derive(dh.get(), nullptr, &zlen) != 1)
		return fail(op, "ECDH with the EK: " + openssl_error());
	Bytes z(zlen);
	if (EVP_PKEY_derive(dh.get(), z.data(), &zlen) != 1 || zlen != 32)
		return fail(op, "ECDH with the EK: " + openssl_error());
	auto x = coordinate(eph.get(), OSSL_PKEY_PARAM_EC_PUB_X);
	auto y = coordinate(eph.get(), OSSL_PKEY_PARAM_EC_PUB_Y);
	if (!x)
		return std::unexpected(x.error());
	if (!y)
		return std::unexpected(y.error());
	// partyVInfo is the EK's x as the TPM holds it (its TPM2B, as the template made it).
	Bytes ek_x(ek_point.x.buffer, ek_point.x.buffer + ek_point.x.size);
	auto seed = kdfe(std::move(z), "IDENTITY", *x, ek_x, 32);
	if (!seed)
		return std::unexpected(seed.error());
	Seed s;
	s.seed = std::move(*seed);
	put_u16(s.encrypted, x->size());
	s.encrypted.insert(s.encrypted.end(), x->begin(), x->end());
	put_u16(s.encrypted, y->size());
	s.encrypted.insert(s.encrypted.end(), y->begin(), y->end());
	return s;
}

} // namespace

const tpm::EndorsementKey *NodeIdentity::ek(tpm::EkType type) const
{
	for (auto &e : eks)
		if (e.type == type)
			return &e;
	return nullptr;
}

Result<NodeIdentity> node_identity(tpm::Tpm &t)
{
	NodeIdentity id;
	for (auto type : {tpm::EkType::rsa2048, tpm::EkType::ecc_p256}) {
		auto ek = t.endorsement_key(type);
		if (!ek)
			return std::unexpected(ek.error());
		id.eks.push_back(std::move(*ek));
	}
	auto keys = t.identity();
	if (!keys)
		return std::unexpected(keys.error());
	id.ak_public = std::move(keys->ak_public);
	return id;
}

nlohmann::json identity_json(const NodeIdentity &id)
{
	nlohmann::json eks = nlohmann::json::object();
	for (auto &e : id.eks)
		eks[tpm::ek_type_name(e.type)] = {
			{"public", to_hex(e.public_area)},
			{"pem", e.pem},
			{"certificate", e.certificate.empty() ? nlohmann::json(nullptr)
							      : nlohmann::json(cert_pem(e.certificate))}};
	nlohmann::json ak = {{"public", to_hex(id.ak_public)}};
	if (auto pem = tpm::public_key_pem(id.ak_public))
		ak["pem"] = *pem;
	if (auto name = tpm::public_name(id.ak_public))
		ak["name"] = to_hex(*name);
	return {{"version", identity_version}, {"ek", std::move(eks)}, {"ak", std::move(ak)}};
}

Result<NodeIdentity> parse_identity(std::string_view text, const std::string &source)
{
	const char *op = "read identity";
	auto j = versioned_object(text, source, op, identity_version);
	if (!j)
		return std::unexpected(j.error());
	NodeIdentity id;
	auto eks = j->find("ek");
	if (eks == j->end() || !eks->is_object())
		return json_error(op, source, "/ek", "not an object");
	for (auto &[name, e] : eks->items()) {
		std::string p = "/ek/" + json_pointer_token(name);
		auto type = ek_type_from(name);
		if (!type)
			return json_error(op, source, p, "not rsa2048 or ecc-p256");
		if (!e.is_object())
			return json_error(op, source, p, "not an object");
		tpm::EndorsementKey ek;
		ek.type = *type;
		auto pub = hex_member(e, "public", op, source, p, sizeof(TPM2B_PUBLIC));
		if (!pub)
			return std::unexpected(pub.error());
		auto area = unmarshal_public(*pub, op);
		if (!area)
			return json_error(op, source, p + "/public", area.error().context);
		bool rsa = area->publicArea.type == TPM2_ALG_RSA;
		if (rsa != (ek.type == tpm::EkType::rsa2048))
			return json_error(op, source, p + "/public", "not an " + name + " key");
		auto pem = tpm::public_key_pem(*pub);
		if (!pem)
			return json_error(op, source, p + "/public", pem.error().message());
		ek.public_area = std::move(*pub);
		ek.pem = std::move(*pem); // from the public area, not the file's "pem"
		auto cert = e.find("certificate");
		if (cert != e.end() && !cert->is_null()) {
			if (!cert->is_string())
				return json_error(op, source, p + "/certificate", "not a string");
			auto der = cert_der(cert->get<std::string>(), op);
			if (!der)
				return json_error(op, source, p + "/certificate", der.error().context);
			ek.certificate = std::move(*der);
		}
		id.eks.push_back(std::move(ek));
	}
	auto ak = j->find("ak");
	if (ak == j->end() || !ak->is_object())
		return json_error(op, source, "/ak", "not an object");
	auto ak_public = hex_member(*ak, "public", op, source, "/ak", sizeof(TPM2B_PUBLIC));
	if (!ak_public)
		return std::unexpected(ak_public.error());
	if (auto area = unmarshal_public(*ak_public, op); !area)
		return json_error(op, source, "/ak/public", area.error().context);
	id.ak_public = std::move(*ak_public);
	return id;
}

Result<std::string> check_attestation_key(const Bytes &ak_public)
{
	const char *op = "check AK";
	auto pub = unmarshal_public(ak_public, op);
	if (!pub)
		return std::unexpected(pub.error());
	auto &a = pub->publicArea;
	constexpr TPMA_OBJECT required = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
					 TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_RESTRICTED |
					 TPMA_OBJECT_SIGN_ENCRYPT;
	if (a.type != TPM2_ALG_ECC || a.parameters.eccDetail.curveID != TPM2_ECC_NIST_P256 ||
	    a.parameters.eccDetail.scheme.scheme != TPM2_ALG_ECDSA)
		return fail(op, "not an ECDSA P-256 key");
	if (a.nameAlg != TPM2_ALG_SHA256)
		return fail(op, "name algorithm is not SHA-256");
	if ((a.objectAttributes & required) != required || (a.objectAttributes & TPMA_OBJECT_DECRYPT))
		return fail(op, "not a restricted signing key fixed to its TPM (attributes 0x" +
					to_hex(Bytes{std::uint8_t(a.objectAttributes >> 24),
						     std::uint8_t(a.objectAttributes >> 16),
						     std::uint8_t(a.objectAttributes >> 8),
						     std::uint8_t(a.objectAttributes)}) +
					")");
	return tpm::public_key_pem(ak_public);
}

Result<void> check_ek_certificate(const tpm::EndorsementKey &ek, const std::string &ca_pem,
				  const std::string &ca_source)
{
	const char *op = "check EK certificate";
	std::string what = std::string(tpm::ek_type_name(ek.type)) + " EK";
	if (ek.certificate.empty())
		return fail(op, what + ": the node reported no certificate");
	auto pub = unmarshal_public(ek.public_area, op);
	if (!pub)
		return std::unexpected(pub.error());
	constexpr TPMA_OBJECT required = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
					 TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
	if ((pub->publicArea.objectAttributes & required) != required ||
	    (pub->publicArea.objectAttributes & TPMA_OBJECT_SIGN_ENCRYPT))
		return fail(op, what + ": not a restricted decryption key fixed to its TPM");

	Owned<X509_STORE, X509_STORE_free> store(X509_STORE_new());
	Bio bio(BIO_new_mem_buf(ca_pem.data(), static_cast<int>(ca_pem.size())));
	Owned<STACK_OF(X509_INFO), free_infos> infos(bio ? PEM_X509_INFO_read_bio(bio.get(), nullptr, nullptr, nullptr) : nullptr);
	int cas = 0;
	for (int i = 0; infos && i < sk_X509_INFO_num(infos.get()); ++i)
		if (auto *x = sk_X509_INFO_value(infos.get(), i)->x509) {
			if (X509_STORE_add_cert(store.get(), x) != 1)
				return fail(op, ca_source + ": " + openssl_error());
			++cas;
		}
	ERR_clear_error();
	if (cas == 0)
		return fail(op, ca_source + ": no PEM certificate in it");

	const unsigned char *p = ek.certificate.data();
	Cert cert(d2i_X509(nullptr, &p, static_cast<long>(ek.certificate.size())));
	if (!cert)
		return fail(op, what + ": certificate is not DER X.509");
	Owned<X509_STORE_CTX, X509_STORE_CTX_free> ctx(X509_STORE_CTX_new());
	if (!ctx || X509_STORE_CTX_init(ctx.get(), store.get(), cert.get(), nullptr) != 1)
		return fail(op, "X509_STORE_CTX_init: " + openssl_error());
	if (X509_verify_cert(ctx.get()) != 1)
		return fail(op, what + ": certificate does not chain to " + ca_source + ": " +
					X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get())));

	auto key = pem_public_key(ek.pem);
	if (!key)
		return std::unexpected(key.error());
	if (EVP_PKEY_eq(X509_get0_pubkey(cert.get()), key->get()) != 1)
		return fail(op, what + ": the certificate certifies another key than the EK the node reported");
	return {};
}

Result<tpm::Credential> make_credential(const Bytes &ek_public, const Bytes &name,
					const Bytes &secret)
{
	const char *op = "make credential";
	if (secret.empty() || secret.size() > 32)
		return fail(EINVAL, op, "secret of " + std::to_string(secret.size()) + " bytes (1 to 32)");
	if (name.size() != 34 || name[0] != 0x00 || name[1] != 0x0b)
		return fail(EINVAL, op, "the key name is not a SHA-256 TPM name");
	auto pub = unmarshal_public(ek_public, op);
	if (!pub)
		return std::unexpected(pub.error());
	auto &a = pub->publicArea;
	if (a.type != TPM2_ALG_RSA &&
	    !(a.type == TPM2_ALG_ECC && a.parameters.eccDetail.curveID == TPM2_ECC_NIST_P256))
		return fail(ENOTSUP, op, "only RSA and ECC P-256 EKs (see docs/enroll.md)");
	auto &sym = a.type == TPM2_ALG_RSA ? a.parameters.rsaDetail.symmetric
					   : a.parameters.eccDetail.symmetric;
	if (a.nameAlg != TPM2_ALG_SHA256 || sym.algorithm != TPM2_ALG_AES ||
	    sym.keyBits.aes != 128 || sym.mode.aes != TPM2_ALG_CFB)
		return fail(ENOTSUP, op, "EK is not SHA-256 with AES-128-CFB (the profile's template)");
	auto pem = tpm::public_key_pem(ek_public);
	if (!pem)
		return std::unexpected(pem.error());
	auto key = pem_public_key(*pem);
	if (!key)
		return std::unexpected(key.error());

	// The seed, as many bytes as the EK's name digest, and what lets only the EK's TPM
	// recover it (TPM2B_ENCRYPTED_SECRET's buffer).
	auto seeded = a.type == TPM2_ALG_RSA ? rsa_seed(key->get()) : ecc_seed(key->get(), a.unique.ecc);
	if (!seeded)
		return std::unexpected(seeded.error());
	auto &[seed, encrypted_seed] = *seeded;

	// encIdentity: the credential as a TPM2B_DIGEST, AES-128-CFB with a zero IV.
	auto sym_key = kdfa(seed, "STORAGE", name, 16);
	auto hmac_key = kdfa(seed, "INTEGRITY", {}, 32);
	if (!sym_key)
		return std::unexpected(sym_key.error());
	if (!hmac_key)
		return std::unexpected(hmac_key.error());
	Bytes plain;
	put_u16(plain, secret.size());
	plain.insert(plain.end(), secret.begin(), secret.end());
	Bytes enc_identity(plain.size());
	std::uint8_t iv[16] = {};
	Owned<EVP_CIPHER_CTX, EVP_CIPHER_CTX_free> cipher(EVP_CIPHER_CTX_new());
	int outl = 0, finl = 0;
	if (!cipher ||
	    EVP_EncryptInit_ex(cipher.get(), EVP_aes_128_cfb128(), nullptr, sym_key->data(), iv) != 1 ||
	    EVP_EncryptUpdate(cipher.get(), enc_identity.data(), &outl, plain.data(),
			      static_cast<int>(plain.size())) != 1 ||
	    EVP_EncryptFinal_ex(cipher.get(), enc_identity.data() + outl, &finl) != 1)
		return fail(op, "AES-128-CFB: " + openssl_error());
	OPENSSL_cleanse(plain.data(), plain.size());

	// outerHMAC = HMAC(INTEGRITY key, encIdentity || name)
	Bytes mac_input = enc_identity;
	mac_input.insert(mac_input.end(), name.begin(), name.end());
	Bytes outer(32);
	std::size_t mac_len = outer.size();
	if (!EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, hmac_key->data(),
		       hmac_key->size(), mac_input.data(), mac_input.size(), outer.data(),
		       outer.size(), &mac_len))
		return fail(op, "HMAC-SHA-256: " + openssl_error());

	tpm::Credential c;
	put_u16(c.credential_blob, 2 + outer.size() + enc_identity.size());
	put_u16(c.credential_blob, outer.size());
	c.credential_blob.insert(c.credential_blob.end(), outer.begin(), outer.end());
	c.credential_blob.insert(c.credential_blob.end(), enc_identity.begin(), enc_identity.end());
	put_u16(c.encrypted_secret, encrypted_seed.size());
	c.encrypted_secret.insert(c.encrypted_secret.end(), encrypted_seed.begin(),
				  encrypted_seed.end());
	return c;
}

nlohmann::json challenge_json(const Challenge &c)
{
	return {{"version", challenge_version},
		{"ek", tpm::ek_type_name(c.ek)},
		{"ak_name", to_hex(c.ak_name)},
		{"credential_blob", to_hex(c.credential.credential_blob)},
		{"encrypted_secret", to_hex(c.credential.encrypted_secret)}};
}

Result<Challenge> parse_challenge(std::string_view text, const std::string &source)
{
	const char *op = "read challenge";
	auto j = versioned_object(text, source, op, challenge_version);
	if (!j)
		return std::unexpected(j.error());
	Challenge c;
	auto ek = j->find("ek");
	std::optional<tpm::EkType> type;
	if (ek == j->end() || !ek->is_string() || !(type = ek_type_from(ek->get<std::string>())))
		return json_error(op, source, "/ek", "not rsa2048 or ecc-p256");
	c.ek = *type;
	auto name = hex_member(*j, "ak_name", op, source, "", 34);
	auto blob = hex_member(*j, "credential_blob", op, source, "", sizeof(TPM2B_ID_OBJECT));
	auto secret = hex_member(*j, "encrypted_secret", op, source, "",
				 sizeof(TPM2B_ENCRYPTED_SECRET));
	for (auto *r : {&name, &blob, &secret})
		if (!*r)
			return std::unexpected(r->error());
	c.ak_name = std::move(*name);
	c.credential = {std::move(*blob), std::move(*secret)};
	return c;
}

nlohmann::json response_json(const Bytes &secret)
{
	return {{"version", challenge_version}, {"secret", to_hex(secret)}};
}

Result<Bytes> parse_response(std::string_view text, const std::string &source)
{
	auto j = versioned_object(text, source, "read response", challenge_version);
	if (!j)
		return std::unexpected(j.error());
	return hex_member(*j, "secret", "read response", source, "", 64);
}

} // namespace eima::attest
