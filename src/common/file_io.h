// Whole-file reads and writes for the command line and tests: errors name the path.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/error.h"

namespace eima {

Result<std::string> read_file(const std::string &path);
// At most max_bytes from the start (a huge or endless file is not read whole).
Result<std::string> read_file_prefix(const std::string &path, std::size_t max_bytes);
// Creates or truncates path.
Result<void> write_file(const std::string &path, std::string_view data);
Result<void> write_file(const std::string &path, std::span<const std::uint8_t> data);

} // namespace eima
