#include "enforce/trusted_keyring.h"

#include <linux/keyctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include <fmt/format.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/file_io.h"

namespace eima::enforce {

namespace {

// key_perm_t bits (include/linux/key.h); not in the uapi headers.
constexpr std::uint32_t key_pos_view = 0x01000000, key_pos_read = 0x02000000,
			key_pos_search = 0x08000000;
constexpr std::uint32_t key_usr_view = 0x00010000, key_usr_read = 0x00020000,
			key_usr_search = 0x00080000;

long add_key(const char *type, const char *desc, const void *payload, std::size_t len,
	     std::int32_t ring)
{
	return ::syscall(SYS_add_key, type, desc, payload, len, ring);
}

long keyctl(int op, unsigned long a, unsigned long b = 0, unsigned long c = 0)
{
	return ::syscall(SYS_keyctl, op, a, b, c, 0);
}

// One line, or "?" for DER that does not parse.
std::string subject_of_der(const std::string &der)
{
	const auto *p = reinterpret_cast<const unsigned char *>(der.data());
	std::unique_ptr<X509, decltype(&X509_free)> x(d2i_X509(nullptr, &p, static_cast<long>(der.size())),
						       X509_free);
	if (!x)
		return "?";
	char buf[256];
	X509_NAME_oneline(X509_get_subject_name(x.get()), buf, sizeof(buf));
	return buf;
}

struct KeyDescription {
	std::string type;
	std::string description;
};

// KEYCTL_DESCRIBE's "type;uid;gid;perm;description"; nullopt for a key gone meanwhile, or
// not ours to view.
std::optional<KeyDescription> describe_key(std::int32_t id)
{
	char desc[512];
	long len = keyctl(KEYCTL_DESCRIBE, static_cast<unsigned long>(id),
			  reinterpret_cast<unsigned long>(desc), sizeof(desc));
	if (len <= 0)
		return std::nullopt;
	std::string_view d(desc, ::strnlen(desc, std::min<std::size_t>(len, sizeof(desc))));
	std::size_t at = 0;
	for (int field = 0; field < 4 && at != d.npos; ++field)
		at = d.find(';', at ? at + 1 : 0);
	if (at == d.npos)
		return std::nullopt;
	return KeyDescription{std::string(d.substr(0, d.find(';'))), std::string(d.substr(at + 1))};
}

// The serials a keyring links: its first 256 (a second call after unlinking sees the rest).
Result<std::vector<std::int32_t>> keyring_members(std::int32_t ring, const std::string &what)
{
	std::vector<std::int32_t> ids(256);
	long n = keyctl(KEYCTL_READ, static_cast<unsigned long>(ring),
			reinterpret_cast<unsigned long>(ids.data()), ids.size() * sizeof(ids[0]));
	if (n < 0)
		return fail(errno, "list keys", what);
	ids.resize(std::min<std::size_t>(static_cast<std::size_t>(n) / sizeof(ids[0]), ids.size()));
	return ids;
}

// The certificates' DER, each with the file it came from.
using CertDers = std::vector<std::pair<std::string, std::string>>;

Result<CertDers> read_all_certificates(const std::vector<std::string> &cert_paths)
{
	CertDers certs;
	for (const auto &path : cert_paths) {
		auto ders = read_certificates(path);
		if (!ders)
			return std::unexpected(ders.error());
		for (auto &d : *ders)
			certs.emplace_back(path, std::move(d));
	}
	return certs;
}

} // namespace

Result<std::vector<std::string>> read_certificates(const std::string &path)
{
	auto text = read_file(path);
	if (!text)
		return std::unexpected(text.error());
	std::vector<std::string> ders;
	std::unique_ptr<BIO, decltype(&BIO_free)> bio(
		BIO_new_mem_buf(text->data(), static_cast<int>(text->size())), BIO_free);
	while (X509 *x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
		unsigned char *der = nullptr;
		int n = i2d_X509(x, &der);
		X509_free(x);
		if (n <= 0)
			return fail("encode certificate", path);
		ders.emplace_back(reinterpret_cast<char *>(der), static_cast<std::size_t>(n));
		OPENSSL_free(der);
	}
	if (ders.empty()) { // not PEM: one DER certificate?
		const auto *p = reinterpret_cast<const unsigned char *>(text->data());
		if (X509 *x = d2i_X509(nullptr, &p, static_cast<long>(text->size()))) {
			X509_free(x);
			ders.push_back(*text);
		}
	}
	if (ders.empty())
		return fail(EINVAL, "read trusted certificate",
			    path + ": no PEM or DER X.509 certificate in it");
	return ders;
}

Result<std::string> certificate_subject(const std::string &path)
{
	auto ders = read_certificates(path);
	if (!ders)
		return std::unexpected(ders.error());
	return subject_of_der(ders->front());
}

std::string signer_name(const std::string &cert_path)
{
	auto subject = certificate_subject(cert_path);
	return subject ? *subject : cert_path;
}

Result<TrustedKeyring> make_trusted_keyring(const std::string &description,
					    const std::vector<std::string> &cert_paths)
{
	TrustedKeyring out;
	out.description = description;
	// Certificates first: a bad one fails before any keyring exists.
	auto certs = read_all_certificates(cert_paths);
	if (!certs)
		return std::unexpected(certs.error());
	long ring = add_key("keyring", description.c_str(), nullptr, 0, KEY_SPEC_USER_KEYRING);
	if (ring < 0)
		return fail(errno, "create keyring", description + " in the user keyring @u");
	out.serial = static_cast<std::int32_t>(ring);
	for (auto &[path, der] : *certs) {
		long k = add_key("asymmetric", "", der.data(), der.size(), out.serial);
		if (k < 0)
			return fail(errno, "add trusted certificate",
				    path + " (the kernel's X.509 parser refused it)");
		out.certs.push_back({path, subject_of_der(der), static_cast<std::int32_t>(k)});
	}
	// Locked: no more links (a restriction with no type refuses every key), then no
	// write, link or setattr for anyone, so the set cannot change and the lock cannot be
	// undone. Search stays: bpf_lookup_user_key needs none, `keyctl show` does.
	if (keyctl(KEYCTL_RESTRICT_KEYRING, static_cast<unsigned long>(out.serial)) < 0)
		return fail(errno, "restrict keyring", fmt::format("{} ({})", description, out.serial));
	// Also held by this process's own keyring, which no other process can write: root can
	// take the keyring out of @u without asking it (`keyctl clear @u`, or another keyring
	// of the same description displacing it), and a keyring with no link left is freed -
	// enforcement would then refuse everything (no_keyring) while eimad runs. The process
	// keyring belongs to the calling thread's credentials (eimad's main thread, which
	// lives as long as eimad) and goes with the process; @u keeps the keyring for pinned
	// hooks after that. Done before the lock below, which takes away the link permission.
	if (keyctl(KEYCTL_LINK, static_cast<unsigned long>(out.serial),
		   static_cast<unsigned long>(KEY_SPEC_PROCESS_KEYRING)) < 0)
		return fail(errno, "link keyring",
			    fmt::format("{} ({}) into eimad's process keyring", description, out.serial));
	std::uint32_t perm = key_pos_view | key_pos_read | key_pos_search | key_usr_view |
			     key_usr_read | key_usr_search;
	if (keyctl(KEYCTL_SETPERM, static_cast<unsigned long>(out.serial), perm) < 0)
		return fail(errno, "lock keyring permissions",
			    fmt::format("{} ({})", description, out.serial));
	return out;
}

Result<std::optional<TrustedKeyring>> find_trusted_keyring(const std::string &description,
							   const std::vector<std::string> &cert_paths,
							   const std::vector<std::int32_t> &serials)
{
	auto certs = read_all_certificates(cert_paths);
	if (!certs)
		return std::unexpected(certs.error());
	// How the kernel names these certificates' keys ("<subject>: <key id>"): learnt from a
	// scratch keyring in this process's keyring, gone at the end of this call.
	long scratch = add_key("keyring", "eima:compare", nullptr, 0, KEY_SPEC_PROCESS_KEYRING);
	if (scratch < 0)
		return fail(errno, "create keyring", "eima:compare in eimad's process keyring");
	std::vector<std::pair<std::string, const std::pair<std::string, std::string> *>> want;
	for (const auto &cert : *certs) {
		long k = add_key("asymmetric", "", cert.second.data(), cert.second.size(),
				 static_cast<std::int32_t>(scratch));
		auto d = k < 0 ? std::nullopt : describe_key(static_cast<std::int32_t>(k));
		if (!d) {
			keyctl(KEYCTL_INVALIDATE, static_cast<unsigned long>(scratch));
			return fail(errno, "add trusted certificate",
				    cert.first + " (the kernel's X.509 parser refused it)");
		}
		want.emplace_back(d->description, &cert);
	}
	keyctl(KEYCTL_INVALIDATE, static_cast<unsigned long>(scratch));
	std::sort(want.begin(), want.end());

	for (std::int32_t serial : serials) {
		auto ring = describe_key(serial);
		if (!ring || ring->type != "keyring" || ring->description != description)
			continue;
		auto members = keyring_members(serial, fmt::format("{} ({})", description, serial));
		if (!members || members->size() != want.size())
			continue;
		// As many keys as certificates, each one of them: the same set, since a keyring
		// holds one key per description.
		TrustedKeyring out{serial, description, {}};
		for (std::int32_t id : *members) {
			auto k = describe_key(id);
			if (!k || k->type != "asymmetric")
				break;
			auto w = std::lower_bound(want.begin(), want.end(), k->description,
						  [](const auto &e, const std::string &d) { return e.first < d; });
			if (w == want.end() || w->first != k->description)
				break;
			out.certs.push_back({w->second->first, subject_of_der(w->second->second), id});
		}
		if (out.certs.size() == want.size())
			return out;
	}
	return std::nullopt;
}

Result<std::vector<std::int32_t>>
unlink_user_keyrings(std::string_view prefix,
		     const std::function<bool(std::string_view description)> &keep)
{
	auto ids = keyring_members(KEY_SPEC_USER_KEYRING, "the user keyring @u");
	if (!ids)
		return std::unexpected(ids.error());
	std::vector<std::int32_t> unlinked;
	for (auto id : *ids) {
		auto k = describe_key(id);
		if (!k || k->type != "keyring")
			continue;
		const std::string &name = k->description;
		if (!name.starts_with(prefix) || keep(name))
			continue;
		if (keyctl(KEYCTL_UNLINK, static_cast<unsigned long>(id),
			   static_cast<unsigned long>(KEY_SPEC_USER_KEYRING)) < 0)
			return fail(errno, "unlink keyring", fmt::format("{} ({})", name, id));
		unlinked.push_back(id);
	}
	return unlinked;
}

} // namespace eima::enforce
