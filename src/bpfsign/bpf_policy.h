// "Only signed BPF" (bpf/bpf_policy.bpf.c): configures the policy program once the signed
// loader has created it, before it is attached (docs/signed-bpf.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bpfsign/signed_loader.h"
#include "common/error.h"

namespace eima::bpfsign {

struct BpfPolicySettings {
	std::vector<std::int32_t> trusted_keyrings; // key serials; at least one
	bool audit = false;                         // record, refuse nothing
	std::string cgroup;                         // a cgroup v2 directory: only its tasks
};

// Fills trusted_keyrings and policy_config of a loaded bpf_policy object and enables it.
Result<void> configure_bpf_policy(const LoadedObject &loaded, const BpfPolicySettings &s);

} // namespace eima::bpfsign
