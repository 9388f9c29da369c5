// Loads a signed BPF object on a kernel that verifies BPF signatures (6.18+), the way
// upstream's light skeletons do: the data blob goes into a one-element array map that only
// the loader may use (exclusive to its digest) and that is frozen, the kernel computes the
// map's SHA-256, the loader is loaded with its signature (the kernel verifies it against
// the keyring before the verifier runs) and run once with BPF_PROG_RUN; it checks the
// blob's hash, creates the maps, loads the programs and leaves their fds in its context.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "bpfsign/loader_image.h"
#include "bpfsign/signed_object.h"
#include "common/error.h"
#include "common/unique_fd.h"

namespace eima::bpfsign {

struct LoadedObject {
	std::vector<std::pair<std::string, UniqueFd>> programs; // manifest order
	std::vector<std::pair<std::string, UniqueFd>> maps;
	std::vector<std::pair<std::string, UniqueFd>> links; // programs attached with attach()
	std::string loader_tag; // the signed loader's tag (prog->tag), hex
};

// keyring: a key serial (keyctl), a keyring holding the signer's X.509 certificate.
// Errors keep the kernel's errno: EKEYREJECTED for a signature that does not match the
// instructions, ENOKEY when no key in the keyring made it, EBADMSG when the data blob is
// not the one the signed loader names.
Result<LoadedObject> load_signed_object(const UnverifiedSignedObject &object,
					const LoaderManifest &manifest, std::int32_t keyring,
					const std::string &what);

// The steps of load_signed_object, for benchmarks: the loader's exclusive, frozen, hashed
// data map; and the loader loaded with its signature against keyring, or, with no keyring,
// without one (a kernel that checks no signature; the cost baseline).
Result<UniqueFd> make_loader_map(const UnverifiedSignedObject &object, const std::string &what);
Result<UniqueFd> load_loader(const UnverifiedSignedObject &object, int loader_map,
			     std::optional<std::int32_t> keyring, const std::string &what);

// Attaches every program whose type attaches with a plain BPF link (LSM, fentry/fexit,
// tp_btf), and fails on others.
Result<void> attach_programs(LoadedObject &loaded, const LoaderManifest &manifest);

// Pins each program, map and link under dir (created if missing) by its name:
// dir/prog_NAME, dir/map_NAME, dir/link_NAME, with every '.' in NAME as '_' (bpffs refuses
// dots).
Result<void> pin_loaded_object(const LoadedObject &loaded, const std::string &dir);

// The keyring eima uses when none is given: the one named "eima" in the user keyring
// (eimad's, docs/signed-bpf.md), or an error naming it.
Result<std::int32_t> default_keyring();

} // namespace eima::bpfsign
