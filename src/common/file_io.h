// Whole-file reads and writes for the command line and tests: errors name the path.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/error.h"

namespace eima {

Result<std::string> read_file(const std::string &path);
// The bytes of what read_file returned, for the byte-span APIs (hashing, log readers).
inline std::span<const std::uint8_t> as_bytes(std::string_view s)
{
	return {reinterpret_cast<const std::uint8_t *>(s.data()), s.size()};
}
// At most max_bytes from the start (a huge or endless file is not read whole).
Result<std::string> read_file_prefix(const std::string &path, std::size_t max_bytes);
// Creates or truncates path.
Result<void> write_file(const std::string &path, std::string_view data);
Result<void> write_file(const std::string &path, std::span<const std::uint8_t> data);
// Unlinks every entry of a flat directory, then the directory: a set of BPF pins (a link
// whose last pin goes, with no fd holding it, detaches). Best effort, for teardown: what
// cannot be removed stays.
void remove_flat_dir(const std::string &dir);

} // namespace eima
