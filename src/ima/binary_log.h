// binary_runtime_measurements (ima_fs.c ima_measurements_show), little-endian as on x86:
//   u32 pcr | 20-byte header digest | u32 name_len | name | u32 data_len | data
// where data is `u32 len | field` per field; for the 'ima' template there is no data_len and
// data is `20-byte digest | u32 strlen | name` (the name's NUL is not written).
#pragma once

#include <cstdint>
#include <span>

#include "common/error.h"
#include "ima/template_entry.h"
#include "ima/unverified_log.h"

namespace eima::ima {

enum class BinaryHeaderMode : std::uint8_t {
	// Look at the first record: a u32 equal to a digest size (20/32/48/64) followed by a
	// plausible template name means the typed research format (sizes map to sha1, sha256,
	// sha384, sha512); anything else is the kernel format. A kernel log whose first header
	// digest begins with such a u32 AND is followed by such a name would be misread: pass
	// kernel explicitly when the producer is known.
	detect,
	kernel,
	typed,
};

// Reads a binary list entry by entry, reusing the caller's entry storage: after the first
// few entries a pass over a million entries allocates nothing. Every length is checked
// against the bytes that remain before anything is copied; template names are limited to
// 255 bytes (TCG_EVENT_NAME_LEN_MAX), 'ima' event names to 255 bytes, fields to 15.
// Errors name the entry index and the byte offset of the offending length.
class BinaryLogReader {
public:
	explicit BinaryLogReader(std::span<const std::uint8_t> bytes,
				 BinaryHeaderMode mode = BinaryHeaderMode::detect);

	// true: `entry` holds the next record; false: clean end of the list.
	Result<bool> next(TemplateEntry &entry);

	std::size_t offset() const { return offset_; } // of the next record
	std::size_t index() const { return index_; }   // of the next record
	// Decided at construction (detect) from the first record.
	const HeaderDigestFormat &header_format() const { return format_; }

private:
	std::span<const std::uint8_t> bytes_;
	std::size_t offset_ = 0;
	std::size_t index_ = 0;
	HeaderDigestFormat format_;
};

Result<UnverifiedLog> read_binary_log(std::span<const std::uint8_t> bytes,
				      BinaryHeaderMode mode = BinaryHeaderMode::detect);

// Appends one record. Fails when the entry cannot be represented: a header digest that is
// not 20 bytes in the kernel format, an 'ima' entry that is not `20-byte digest, name`.
Result<void> append_binary_entry(Bytes &out, const TemplateEntry &entry,
				 const HeaderDigestFormat &format = {});
Result<Bytes> write_binary_log(const UnverifiedLog &log);

} // namespace eima::ima
