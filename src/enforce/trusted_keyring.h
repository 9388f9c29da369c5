// The kernel keyring the BPF hooks verify blessings against (bpf_lookup_user_key by
// serial, from any task's context): made by eimad, filled with the --trusted-cert
// certificates, then locked - no key may be linked in or removed afterwards, by anyone,
// root included (KEYCTL_RESTRICT_KEYRING with no type, then SETPERM without write, link or
// setattr). It is linked into root's user keyring (@u) so that it outlives a killed eimad:
// pinned hooks keep verifying while eimad is down. It is linked into eimad's process
// keyring too, so that root cannot free it while eimad runs by emptying @u. Each start
// makes a new one; the old one is unlinked and the kernel frees it once nothing refers to
// it (a restarted eimad may instead find the one a pinned BPF policy trusts:
// find_trusted_keyring).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace eima::enforce {

struct TrustedCert {
	std::string path;
	std::string subject; // one line, for `eima status`
	std::int32_t key_serial = 0;
};

struct TrustedKeyring {
	std::int32_t serial = 0;
	std::string description; // "eima:<run dir>"
	std::vector<TrustedCert> certs;
};

// The DER certificates of a PEM (or DER) file; an error names the file and what was wrong.
Result<std::vector<std::string>> read_certificates(const std::string &path);
// The subject of the first of them, on one line.
Result<std::string> certificate_subject(const std::string &path);
// A signer as eima names it to users (status, the host list): its certificate's subject,
// or the certificate's path when that cannot be read.
std::string signer_name(const std::string &cert_path);

// A new locked keyring named description holding every certificate of `cert_paths`.
// The previous keyring of the same description in @u is replaced.
Result<TrustedKeyring> make_trusted_keyring(const std::string &description,
					    const std::vector<std::string> &cert_paths);

// A keyring an earlier eimad made and left (a restart after a crash): the first of
// `serials` that is a keyring named description holding exactly the certificates of
// cert_paths, as the kernel names their keys; nullopt when none is. A restarted eimad signs
// against it, so that the BPF policy the crashed one left, which trusts that serial, keeps
// refusing unsigned loads while this one loads its own programs. It is held by @u only:
// the lock took away the link that would put it in this process's keyring too.
Result<std::optional<TrustedKeyring>> find_trusted_keyring(const std::string &description,
							   const std::vector<std::string> &cert_paths,
							   const std::vector<std::int32_t> &serials);

// Unlinks from @u every keyring whose description starts with `prefix` ("eima:" for all of
// eimad's) and that `keep` does not claim, returning their serials; the kernel frees each
// once nothing refers to it.
Result<std::vector<std::int32_t>>
unlink_user_keyrings(std::string_view prefix,
		     const std::function<bool(std::string_view description)> &keep);

} // namespace eima::enforce
