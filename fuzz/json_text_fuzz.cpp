// The JSON byte encoding (docs/json-bytes.md). Two properties:
//  - any bytes, written as a JSON string and read back, are the same bytes;
//  - any JSON text eima accepts, written and read back, is the same value.
#include <cstdint>
#include <string_view>

#include "common/json_text.h"

using namespace eima;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	std::string_view bytes(reinterpret_cast<const char *>(data), size);
	auto lit = json_parse(json_string_literal(bytes), "fuzz");
	if (!lit || !lit->is_string() || lit->get_ref<const std::string &>() != bytes)
		__builtin_trap();
	auto j = json_parse(bytes, "fuzz");
	if (!j)
		return 0;
	for (int indent : {-1, 2}) {
		auto back = json_parse(json_dump(*j, indent), "fuzz");
		if (!back || *back != *j)
			__builtin_trap();
	}
	return 0;
}
