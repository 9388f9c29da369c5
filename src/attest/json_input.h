// Reading untrusted JSON (policies, evidence): errors name the file and the JSON pointer
// (RFC 6901) of the value that is wrong, e.g. "p.json: /digests/~1bin~1sh/0: not hex".
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace eima::attest {

// A key as a pointer token: '~' and '/' written ~0 and ~1.
std::string json_pointer_token(std::string_view key);

// Error{op, "source: pointer: why"}; an empty pointer is the document ("/").
std::unexpected<Error> json_error(const std::string &op, const std::string &source,
				  const std::string &pointer, const std::string &why);

// An array of strings, or an error naming the first element that is not one.
Result<std::vector<std::string>> json_strings(const nlohmann::json &j, const std::string &op,
					      const std::string &source, const std::string &pointer);

} // namespace eima::attest
