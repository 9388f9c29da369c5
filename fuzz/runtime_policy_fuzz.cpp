// eima's runtime policy JSON: parse, write, read back to the same policy; a policy that
// parses compiles its excludes and judges a small list.
#include <cstdint>
#include <string_view>

#include "attest/runtime_policy.h"
#include "common/json_text.h"
#include "ima/template_entry.h"

using namespace eima;

namespace {

ima::UnverifiedLog small_log()
{
	ima::UnverifiedLog log;
	Bytes digest(32, 0xab);
	for (const char *path : {"/usr/bin/true", "/bin/\xff", "boot_aggregate"})
		if (auto e = ima::make_ima_ng(ima::HashAlgo::sha256, digest, path))
			log.entries.push_back(*e);
	return log;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const ima::UnverifiedLog log = small_log();
	std::string_view text(reinterpret_cast<const char *>(data), size);
	(void)attest::parse_policy_digest(text);
	auto p = attest::parse_runtime_policy(text, "fuzz");
	if (!p)
		return 0;
	auto again = attest::parse_runtime_policy(json_dump(attest::runtime_policy_to_json(*p)), "fuzz");
	if (!again || !(*again == *p))
		__builtin_trap();
	if (auto ev = attest::PolicyEvaluator::create(*p))
		(void)ev->evaluate(log);
	return 0;
}
