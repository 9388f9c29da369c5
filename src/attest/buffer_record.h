// The records eima keeps in the buffers of its ima-buf entries (the vTPM binding, eimad's
// BPF program records): compact JSON with sorted keys, a "format" name and "version" 1.
// Their buffers come from lists other machines wrote, so reading one compares and checks
// types, never converts: a field of another type is a refusal, not an exception.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/hex.h"

namespace eima::attest
{

// json_dump() of j (nlohmann keeps object keys sorted), as bytes.
Bytes record_bytes(const nlohmann::json &j);

// How errors name the record: what it is ("vTPM binding") and where it was read.
struct RecordSource {
	std::string_view what;
	const std::string &where;
};

// The buffer as a JSON object whose "format" is `format` and "version" 1.
Result<nlohmann::json> parse_record(std::span<const std::uint8_t> buffer, std::string_view format,
				    const RecordSource &src);
// A field that must be a non-empty string.
Result<std::string> record_string(const nlohmann::json &j, const char *key,
				  const RecordSource &src);

} // namespace eima::attest
