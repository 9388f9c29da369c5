// Hex encoding for digests in logs, policies and reports.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace eima {

using Bytes = std::vector<std::uint8_t>;

std::string to_hex(std::span<const std::uint8_t> bytes);
// Lower- or upper-case hex of even length; nullopt on any other input.
std::optional<Bytes> from_hex(std::string_view hex);
// The same into out, reusing its storage (hot parsers); false on bad input.
bool from_hex_into(std::string_view hex, Bytes &out);

} // namespace eima
