#include "common/hex.h"

namespace eima {

std::string to_hex(std::span<const std::uint8_t> bytes)
{
	static constexpr char digits[] = "0123456789abcdef";
	std::string out(bytes.size() * 2, '0');
	for (std::size_t i = 0; i < bytes.size(); ++i) {
		out[2 * i] = digits[bytes[i] >> 4];
		out[2 * i + 1] = digits[bytes[i] & 0xf];
	}
	return out;
}

static int nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool from_hex_into(std::string_view hex, Bytes &out)
{
	if (hex.size() % 2 != 0)
		return false;
	out.resize(hex.size() / 2);
	for (std::size_t i = 0; i < out.size(); ++i) {
		int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
	}
	return true;
}

std::optional<Bytes> from_hex(std::string_view hex)
{
	Bytes out;
	if (!from_hex_into(hex, out))
		return std::nullopt;
	return out;
}

} // namespace eima
