// JSON text in and out of eima, for strings that are bytes (Linux paths, names from logs and
// policies written elsewhere), not necessarily UTF-8.
//
// The encoding (docs/json-bytes.md): a string that is valid UTF-8 is written as nlohmann
// writes it. In a string that is not, each byte that does not start a valid UTF-8 sequence
// is written as the lone low surrogate escape \udc80..\udcff (byte 0x80..0xff). This is
// Python's "surrogateescape" (PEP 383): json.loads() of it gives the str os.fsdecode() gives
// for the same bytes, and os.fsencode() gives the bytes back. Valid UTF-8 can hold no
// surrogate, so the scheme is unambiguous and leaves every valid string as it is.
// nlohmann's own dump() throws (type_error.316) on such bytes and its parser rejects lone
// surrogates: every JSON eima writes goes through json_dump, every JSON it reads through
// json_parse.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace eima {

// Length of the valid UTF-8 sequence (RFC 3629: no overlong forms, no surrogates, at most
// U+10FFFF) that starts at s[pos], or 0 when none does.
std::size_t utf8_sequence_length(std::string_view s, std::size_t pos);

bool is_valid_utf8(std::string_view s);

// The JSON string literal of the bytes s, quotes included, in the encoding above.
std::string json_string_literal(std::string_view s);

// j as JSON text, laid out as nlohmann's j.dump(indent) lays it out (indent < 0: compact).
// Never throws.
std::string json_dump(const nlohmann::json &j, int indent = -1);

// Parses JSON text; \udc80..\udcff escapes not preceded by a high surrogate become the raw
// bytes 0x80..0xff in keys and strings. A syntax error is an Error whose context is
// "source: not valid JSON: " and nlohmann's message (byte offset, line and column).
Result<nlohmann::json> json_parse(std::string_view text, const std::string &source);

} // namespace eima
