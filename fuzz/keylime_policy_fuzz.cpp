// Keylime's formats (runtime policy JSON, JSON and flat allowlists, exclude lists): the
// import, and the export of what was imported, which Keylime must read back to the same
// policy.
#include <cstdint>
#include <string_view>

#include "attest/keylime_policy.h"
#include "attest/runtime_policy.h"
#include "common/json_text.h"

using namespace eima;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	std::string_view text(reinterpret_cast<const char *>(data), size);
	(void)attest::detect_keylime_format(text, "fuzz");
	auto imported = attest::import_keylime(text, "fuzz");
	if (!imported)
		return 0;
	(void)json_dump(attest::runtime_policy_to_json(imported->policy), 2);
	if (auto k = attest::export_keylime(imported->policy))
		(void)attest::import_keylime(json_dump(*k), "fuzz export");
	return 0;
}
