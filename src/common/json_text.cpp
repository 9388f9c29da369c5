#include "common/json_text.h"

#include <array>
#include <optional>
#include <cstdint>
#include <vector>

#include <fmt/format.h>

#include "common/hex.h"

namespace eima {

namespace {

bool in(unsigned char c, unsigned char lo, unsigned char hi)
{
	return c >= lo && c <= hi;
}

void dump_to(std::string &out, const nlohmann::json &j, int indent, int level)
{
	auto newline = [&](int lvl) {
		if (indent >= 0) {
			out += '\n';
			out.append(static_cast<std::size_t>(indent) * static_cast<std::size_t>(lvl), ' ');
		}
	};
	if (j.is_object()) {
		if (j.empty()) {
			out += "{}";
			return;
		}
		out += '{';
		bool first = true;
		for (const auto &[key, value] : j.items()) {
			if (!first)
				out += ',';
			first = false;
			newline(level + 1);
			out += json_string_literal(key);
			out += indent >= 0 ? ": " : ":";
			dump_to(out, value, indent, level + 1);
		}
		newline(level);
		out += '}';
	} else if (j.is_array()) {
		if (j.empty()) {
			out += "[]";
			return;
		}
		out += '[';
		for (std::size_t i = 0; i < j.size(); ++i) {
			if (i)
				out += ',';
			newline(level + 1);
			dump_to(out, j[i], indent, level + 1);
		}
		newline(level);
		out += ']';
	} else if (j.is_string()) {
		out += json_string_literal(j.get_ref<const std::string &>());
	} else {
		// Numbers, booleans, null and binary hold no text: nlohmann writes them.
		out += j.dump();
	}
}

// A lone low surrogate escape for byte b is rewritten in place to \uXXXX with XXXX =
// base + (b - 0x80), a private-use code point (same length, so nlohmann's offsets in errors
// still point into the caller's text), and mapped back to b after parsing. base is one of
// the 50 blocks of 128 code points in U+E000..U+F8FF, chosen so that the text names none
// of its code points itself.
constexpr char32_t pua_first = 0xE000;
constexpr std::size_t pua_blocks = 50;

struct SurrogateScan {
	std::vector<std::size_t> escapes; // offsets of the '\' of each lone \udc80..\udcff
	std::array<bool, pua_blocks> block_used{};
};

void note_code_point(SurrogateScan &scan, char32_t cp)
{
	if (cp >= pua_first && cp < pua_first + 128 * pua_blocks)
		scan.block_used[(cp - pua_first) / 128] = true;
}

SurrogateScan scan_surrogates(std::string_view text)
{
	SurrogateScan scan;
	bool in_string = false;
	bool after_high = false; // the previous thing in the string was a \ud800..\udbff escape
	for (std::size_t i = 0; i < text.size(); ++i) {
		auto c = static_cast<unsigned char>(text[i]);
		if (!in_string) {
			in_string = c == '"';
			continue;
		}
		if (c == '"') {
			in_string = false;
			after_high = false;
		} else if (c == '\\' && i + 1 < text.size()) {
			bool high = false;
			std::optional<Bytes> unit;
			if (text[i + 1] == 'u' && i + 5 < text.size())
				unit = from_hex(text.substr(i + 2, 4));
			if (unit) {
				int cp = ((*unit)[0] << 8) | (*unit)[1];
				if (cp >= 0xDC80 && cp <= 0xDCFF && !after_high)
					scan.escapes.push_back(i);
				high = cp >= 0xD800 && cp <= 0xDBFF;
				note_code_point(scan, static_cast<char32_t>(cp));
				i += 5;
			} else {
				++i; // the escaped character, '"' and '\' included
			}
			after_high = high;
		} else {
			after_high = false;
			std::size_t n = utf8_sequence_length(text, i);
			if (n == 3) {
				auto b1 = static_cast<unsigned char>(text[i + 1]);
				auto b2 = static_cast<unsigned char>(text[i + 2]);
				note_code_point(scan, static_cast<char32_t>(((c & 0x0F) << 12) |
									    ((b1 & 0x3F) << 6) | (b2 & 0x3F)));
			}
			if (n > 1)
				i += n - 1;
		}
	}
	return scan;
}

// The bytes of s with each UTF-8 encoded code point of [base, base + 128) turned back into
// the byte it stands for.
std::string restore_bytes(const std::string &s, char32_t base)
{
	std::string out;
	out.reserve(s.size());
	for (std::size_t i = 0; i < s.size();) {
		auto c = static_cast<unsigned char>(s[i]);
		if ((c == 0xEE || c == 0xEF) && i + 2 < s.size()) {
			char32_t cp = ((c & 0x0F) << 12) |
				      ((static_cast<unsigned char>(s[i + 1]) & 0x3F) << 6) |
				      (static_cast<unsigned char>(s[i + 2]) & 0x3F);
			if (cp >= base && cp < base + 128) {
				out += static_cast<char>(0x80 + (cp - base));
				i += 3;
				continue;
			}
		}
		out += s[i++];
	}
	return out;
}

nlohmann::json restore_tree(const nlohmann::json &j, char32_t base)
{
	if (j.is_string())
		return restore_bytes(j.get_ref<const std::string &>(), base);
	if (j.is_array()) {
		nlohmann::json out = nlohmann::json::array();
		for (const auto &v : j)
			out.push_back(restore_tree(v, base));
		return out;
	}
	if (j.is_object()) {
		nlohmann::json out = nlohmann::json::object();
		for (const auto &[key, value] : j.items())
			out[restore_bytes(key, base)] = restore_tree(value, base);
		return out;
	}
	return j;
}

Result<nlohmann::json> parse_plain(std::string_view text, const std::string &source)
{
	try {
		return nlohmann::json::parse(text);
	} catch (const nlohmann::json::exception &e) {
		return fail("parse JSON", source + ": not valid JSON: " + e.what());
	}
}

} // namespace

std::size_t utf8_sequence_length(std::string_view s, std::size_t pos)
{
	auto at = [&](std::size_t k) -> unsigned char {
		return pos + k < s.size() ? static_cast<unsigned char>(s[pos + k]) : 0;
	};
	unsigned char c = at(0);
	if (pos >= s.size())
		return 0;
	if (c < 0x80)
		return 1;
	if (in(c, 0xC2, 0xDF))
		return in(at(1), 0x80, 0xBF) ? 2 : 0;
	if (in(c, 0xE0, 0xEF)) {
		// E0 needs A0..BF (no overlong), ED needs 80..9F (no surrogates).
		unsigned char lo = c == 0xE0 ? 0xA0 : 0x80;
		unsigned char hi = c == 0xED ? 0x9F : 0xBF;
		return in(at(1), lo, hi) && in(at(2), 0x80, 0xBF) ? 3 : 0;
	}
	if (in(c, 0xF0, 0xF4)) {
		// F0 needs 90..BF (no overlong), F4 needs 80..8F (at most U+10FFFF).
		unsigned char lo = c == 0xF0 ? 0x90 : 0x80;
		unsigned char hi = c == 0xF4 ? 0x8F : 0xBF;
		return in(at(1), lo, hi) && in(at(2), 0x80, 0xBF) && in(at(3), 0x80, 0xBF) ? 4
											    : 0;
	}
	return 0; // a continuation byte, C0/C1 (overlong) or F5..FF
}

bool is_valid_utf8(std::string_view s)
{
	for (std::size_t i = 0; i < s.size();) {
		std::size_t n = utf8_sequence_length(s, i);
		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

std::string json_string_literal(std::string_view s)
{
	if (is_valid_utf8(s))
		return nlohmann::json(std::string(s)).dump();
	std::string out = "\"";
	std::size_t run = 0; // start of the current run of valid UTF-8
	auto flush = [&](std::size_t end) {
		if (end > run) {
			std::string lit = nlohmann::json(std::string(s.substr(run, end - run))).dump();
			out.append(lit, 1, lit.size() - 2);
		}
	};
	for (std::size_t i = 0; i < s.size();) {
		std::size_t n = utf8_sequence_length(s, i);
		if (n) {
			i += n;
			continue;
		}
		flush(i);
		out += fmt::format("\\udc{:02x}", static_cast<unsigned char>(s[i]));
		run = ++i;
	}
	flush(s.size());
	out += '"';
	return out;
}

std::string json_dump(const nlohmann::json &j, int indent)
{
	std::string out;
	dump_to(out, j, indent, 0);
	return out;
}

Result<nlohmann::json> json_parse(std::string_view text, const std::string &source)
{
	SurrogateScan scan = scan_surrogates(text);
	if (scan.escapes.empty())
		return parse_plain(text, source);
	std::size_t block = 0;
	while (block < pua_blocks && scan.block_used[block])
		++block;
	if (block == pua_blocks)
		return fail("parse JSON", source + ": escaped bytes in a text that also names every "
						   "private-use code point from U+E000 to U+F8FF");
	char32_t base = pua_first + static_cast<char32_t>(block * 128);
	std::string rewritten(text);
	for (std::size_t at : scan.escapes) {
		int byte = (*from_hex(text.substr(at + 4, 2)))[0];
		std::string esc = fmt::format("\\u{:04x}", static_cast<unsigned>(base + byte - 0x80));
		rewritten.replace(at, esc.size(), esc);
	}
	auto j = parse_plain(rewritten, source);
	if (!j)
		return j;
	return restore_tree(*j, base);
}

} // namespace eima
