// The kernel's IMA policy language: parser, validator, compiler into the BPF array, and
// the JSON report of `eima policy check` (which must never fail to serialize), and the
// func=BPF_CHECK rules as eima bpf enforce --policy reads them.
#include <cstdint>
#include <string_view>

#include "common/json_text.h"
#include "policy/bpf_check.h"
#include "policy/ima_policy.h"
#include "policy/policy_check.h"
#include "policy/policy_compiler.h"

using namespace eima;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	std::string_view text(reinterpret_cast<const char *>(data), size);
	for (auto mode : {policy::KernelMode::lsm, policy::KernelMode::trace}) {
		auto check = policy::check_policy(text, "fuzz", mode);
		(void)json_dump(policy::check_report(check));
	}
	if (auto p = policy::parse_policy(text, "fuzz")) {
		(void)policy::compile_policy(*p, policy::KernelMode::lsm);
		(void)policy::compile_policy(*p, policy::KernelMode::trace);
		(void)policy::bpf_check_policy(*p);
	}
	return 0;
}
