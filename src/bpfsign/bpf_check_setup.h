// What `eima bpf enforce` and eimad share to put "only signed BPF" in place: checking the
// signed policy object is the policy for this kernel's path (signed_file.h loads it), and
// turning a policy's func=BPF_CHECK rules into the policy program's settings
// (docs/signed-bpf.md).
#pragma once

#include <cstdint>
#include <string>

#include "bpfsign/bpf_policy.h"
#include "bpfsign/loader_image.h"
#include "bpfsign/signed_loader.h"
#include "common/error.h"
#include "policy/bpf_check.h"

namespace eima::bpfsign {

// Refuses a manifest that is not the policy object of this path: each path has its own
// (6.18's hook has an argument 6.12's lacks).
Result<void> check_policy_manifest(const LoaderManifest &manifest, SigningPath path);

// A policy's BPF_CHECK rules applied to the settings: mode, cgroup=, the exceptions and,
// native path, keyrings= ("eima": the keyring named eima in the user keyring). `note` gets
// what was not used (keyrings= on the trusted-loader path), or stays empty.
Result<void> apply_bpf_check(const policy::BpfCheckPolicy &bpf, BpfPolicySettings &s,
			     std::string &note);

} // namespace eima::bpfsign
