// Loading a signed object file the way this kernel allows, for eimad's three signed objects
// (measure_lsm, self_protect, the BPF policy) and `eima bpf load`: one way to read it, one
// way to load it, and the kernel's path probed once per process (docs/signed-bpf.md).
#pragma once

#include <optional>
#include <string>

#include "bpfsign/loader_image.h"
#include "bpfsign/signed_loader.h"
#include "bpfsign/signed_object.h"
#include "common/error.h"
#include "enforce/trusted_keyring.h"

namespace eima::bpfsign {

// How a process loads its signed objects: this kernel's signing path (probe_signing_path,
// once) and what a load is checked against on it.
struct SigningContext {
	SigningPath path = SigningPath::trusted_loader;
	// native: the keyring the kernel checks each load against.
	std::optional<enforce::TrustedKeyring> keyring;
	// The signer's certificate (PEM or DER file): trusted-loader, what eima checks each
	// load against.
	std::string cert;
	// Who signed, as status and the host list name them: the certificate's subject.
	std::string signer;
};
// The context for cert on this path, its signer read from it once. The keyring (native)
// is the caller's to add: it may be made or reused.
SigningContext signing_context(SigningPath path, const std::string &cert);

// A signed object file, read once: the SHA-256 shown to users (status, a pinned set's
// info) is that of the very bytes that were checked and loaded.
struct SignedFile {
	std::string path;
	Bytes bytes; // the whole file
	Sha256 sha256{};
	UnverifiedSignedObject object;
	LoaderManifest manifest;
};
Result<SignedFile> read_signed_file(const std::string &path);

// A signed object loaded on its context's path: native, with its signature, checked by the
// kernel against the keyring; trusted-loader, checked here against the certificate and
// loaded by this process. `how` says which, for the user ("... keyring N" or "... against
// CERT", no closing parenthesis). Nothing is attached.
struct PathLoad {
	LoadedObject loaded;
	std::string how;
};
Result<PathLoad> load_signed_file(const SignedFile &file, const SigningContext &ctx);

} // namespace eima::bpfsign
