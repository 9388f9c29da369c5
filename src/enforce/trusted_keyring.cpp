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
	std::vector<std::pair<std::string, std::string>> certs; // path, DER
	for (const auto &path : cert_paths) {
		auto ders = read_certificates(path);
		if (!ders)
			return std::unexpected(ders.error());
		for (auto &d : *ders)
			certs.emplace_back(path, std::move(d));
	}
	long ring = add_key("keyring", description.c_str(), nullptr, 0, KEY_SPEC_USER_KEYRING);
	if (ring < 0)
		return fail(errno, "create keyring", description + " in the user keyring @u");
	out.serial = static_cast<std::int32_t>(ring);
	for (auto &[path, der] : certs) {
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

Result<std::vector<std::int32_t>>
unlink_user_keyrings(std::string_view prefix,
		     const std::function<bool(std::string_view description)> &keep)
{
	std::vector<std::int32_t> ids(256);
	long n = keyctl(KEYCTL_READ, static_cast<unsigned long>(KEY_SPEC_USER_KEYRING),
			reinterpret_cast<unsigned long>(ids.data()), ids.size() * sizeof(ids[0]));
	if (n < 0)
		return fail(errno, "list keys", "the user keyring @u");
	// More links than fit: the first 256 are read; a second call sees the rest.
	ids.resize(std::min<std::size_t>(static_cast<std::size_t>(n) / sizeof(ids[0]), ids.size()));
	std::vector<std::int32_t> unlinked;
	for (auto id : ids) {
		char desc[512];
		long len = keyctl(KEYCTL_DESCRIBE, static_cast<unsigned long>(id),
				  reinterpret_cast<unsigned long>(desc), sizeof(desc));
		if (len <= 0)
			continue; // gone meanwhile, or not ours to view
		// "type;uid;gid;perm;description"
		std::string_view d(desc, ::strnlen(desc, std::min<std::size_t>(len, sizeof(desc))));
		if (!d.starts_with("keyring;"))
			continue;
		std::size_t at = 0;
		for (int field = 0; field < 4 && at != d.npos; ++field)
			at = d.find(';', at ? at + 1 : 0);
		if (at == d.npos)
			continue;
		auto name = d.substr(at + 1);
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
