// What `eima bpf enforce` and eimad share to put "only signed BPF" in place: loading the
// signed policy object the way this kernel allows, checking it is the policy for that path,
// and turning a policy's func=BPF_CHECK rules into the policy program's settings
// (docs/signed-bpf.md).
#pragma once

#include <cstdint>
#include <string>

#include "bpfsign/bpf_policy.h"
#include "bpfsign/loader_image.h"
#include "bpfsign/signed_loader.h"
#include "bpfsign/signed_object.h"
#include "common/error.h"
#include "policy/bpf_check.h"

namespace eima::bpfsign {

// A signed object loaded on this kernel's path: native, with its signature, checked by the
// kernel against `keyring`; trusted-loader, checked here against `cert_pem` and loaded by
// this process. `how` says which, for the user.
struct PathLoad {
	LoadedObject loaded;
	std::string how;
};
Result<PathLoad> load_on_path(const UnverifiedSignedObject &object, const LoaderManifest &manifest,
			      SigningPath path, std::int32_t keyring, const std::string &cert_pem,
			      const std::string &what);

// Refuses a manifest that is not the policy object of this path: each path has its own
// (6.18's hook has an argument 6.12's lacks).
Result<void> check_policy_manifest(const LoaderManifest &manifest, SigningPath path);

// A policy's BPF_CHECK rules applied to the settings: mode, cgroup=, the exceptions and,
// native path, keyrings= ("eima": the keyring named eima in the user keyring). `note` gets
// what was not used (keyrings= on the trusted-loader path), or stays empty.
Result<void> apply_bpf_check(const policy::BpfCheckPolicy &bpf, BpfPolicySettings &s,
			     std::string &note);

} // namespace eima::bpfsign
