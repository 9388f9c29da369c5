// The measurement policy eimad loads: an IMA policy file or a built-in (exec, tcb),
// compiled for the kernel mode in use, with the rules that mode cannot honour listed.
#pragma once

#include <string>
#include <vector>

#include "agent/measurement_probe.h"
#include "bpf/abi/policy.h"
#include "common/error.h"
#include "policy/bpf_check.h"

namespace eima::agent {

struct LoadedPolicy {
	eima_policy compiled{};
	std::size_t rules = 0;                // rules in the source
	std::vector<std::string> unsupported; // "file:line: reason"
	bool has_file_check = false;
	bool has_appraise = false; // an appraise rule reached the kernel's array
	// func=BPF_CHECK: applied by the signed BPF policy program (signed_bpf_policy.h), not
	// by the measurement programs; mode none without such rules.
	policy::BpfCheckPolicy bpf_check;
};

Result<LoadedPolicy> load_measure_policy(const std::string &spec, ProbeMode mode);

} // namespace eima::agent
