// Loads a signed BPF object on a kernel that verifies BPF signatures (6.18+), the way
// upstream's light skeletons do: the data blob goes into a one-element array map that only
// the loader may use (exclusive to its digest) and that is frozen, the kernel computes the
// map's SHA-256, the loader is loaded with its signature (the kernel verifies it against
// the keyring before the verifier runs) and run once with BPF_PROG_RUN; it checks the
// blob's hash, creates the maps, loads the programs and leaves their fds in its context.
#pragma once

#include <array>
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

// The trusted-loader path, for kernels that cannot check a BPF signature (6.12-6.17):
// eima checks the object in user space — its structure and the prologue's hash of the data
// (check_loader_image), then the loader's PKCS#7 signature against cert_pem — and only
// then loads the loader, without the prologue that needs 6.18's bpf_map->sha, with the
// data in a frozen map, and runs it. What the kernel's policy then trusts is this process
// (bpf_policy_tl.bpf.c): docs/signed-bpf.md.
Result<LoadedObject> load_trusted_object(const UnverifiedSignedObject &object,
					 const std::string &cert_pem, const std::string &what);

// Which of the two paths this kernel takes: whether BPF_PROG_LOAD knows the signature
// attributes (6.18+). Probed by a load whose signature is garbage: a kernel that does not
// know the fields refuses the non-zero tail of the attributes with E2BIG before anything
// else; one that knows them fails on the signature instead.
enum class SigningPath { native, trusted_loader };
Result<SigningPath> probe_signing_path();
const char *signing_path_name(SigningPath p); // "native" or "trusted-loader"

// The tag (prog->tag, bpf_prog_info.tag) of a program.
Result<std::array<std::uint8_t, 8>> program_tag(int prog_fd);

// The steps of load_signed_object, for benchmarks: the loader's exclusive, frozen, hashed
// data map; and the loader loaded with its signature against keyring, or, with no keyring,
// without one (a kernel that checks no signature; the cost baseline).
Result<UniqueFd> make_loader_map(const UnverifiedSignedObject &object, const std::string &what);
Result<UniqueFd> load_loader(const UnverifiedSignedObject &object, int loader_map,
			     std::optional<std::int32_t> keyring, const std::string &what);


// Attaches one program of a loaded object, as its section says: LSM, fentry/fexit and
// tp_btf programs with a plain BPF link; classic tracepoints ("tracepoint/CAT/NAME" or
// "tp/CAT/NAME") through a perf event on the tracepoint, its id read from tracefs, which
// must be mounted. Other types fail, naming the program. The link holds the perf event.
Result<UniqueFd> attach_program(int prog_fd, const LoaderProgram &program);

// attach_program for every program of the object.
Result<void> attach_programs(LoadedObject &loaded, const LoaderManifest &manifest);

// The fd of the map named `name` (its name in the object) of a loaded object, or an error
// saying that `what` has no such map.
Result<int> loaded_map_fd(const LoadedObject &loaded, const std::string &name,
			  const std::string &what);

// Pins each program, map and link under dir (created if missing) by its name:
// dir/prog_NAME, dir/map_NAME, dir/link_NAME, with every '.' in NAME as '_' (bpffs refuses
// dots).
Result<void> pin_loaded_object(const LoadedObject &loaded, const std::string &dir);

// The keyring eima uses when none is given: the one named "eima" in the user keyring
// (eimad's, docs/signed-bpf.md), or an error naming it.
Result<std::int32_t> default_keyring();

} // namespace eima::bpfsign
