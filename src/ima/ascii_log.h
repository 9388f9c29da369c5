// ascii_runtime_measurements (ima_fs.c ima_ascii_measurements_show): one line per entry,
//   "%2d " pcr, header digest hex, " " template name, then " " before every field
// (an empty field prints nothing, so an ima-sig entry without a signature ends in a space).
// d-ng fields print as "sha256:hex", names as text, sig/buf/modsig as hex, iuid/igid/imode
// in decimal. The legacy 'ima' template prints "PCR hash ima sha1hex path".
#pragma once

#include <string>
#include <string_view>

#include "common/error.h"
#include "ima/template_entry.h"
#include "ima/unverified_log.h"

namespace eima::ima {

// Parses a whole list; errors name the 1-based line. Accepts what kernels and common tools
// write: single-digit PCRs padded with a space or not, an ima-sig line with or without the
// trailing space of an empty signature, upper- or lower-case hex, a final line without '\n'.
// The last field of a line, when it is a name (ima-ng's path), is the rest of the line, so
// names with spaces from producers other than the kernel (which writes '_') survive.
Result<UnverifiedLog> read_ascii_log(std::string_view text);

// Parses one line (without its '\n'). `header` is updated from the first line and then
// enforced: a list does not mix "sha256:hex" and bare hex header digests.
Result<TemplateEntry> parse_ascii_line(std::string_view line, std::size_t line_no,
				       HeaderDigestFormat &header, bool first_line);

// Appends the line of one entry, '\n' included, exactly as the kernel prints it. Fails for
// templates whose fields are unknown (nothing says how to print them).
Result<void> append_ascii_entry(std::string &out, const TemplateEntry &entry,
				const HeaderDigestFormat &header = {});
Result<std::string> write_ascii_log(const UnverifiedLog &log);

} // namespace eima::ima
