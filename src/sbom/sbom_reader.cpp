// read_sbom: tells the encoding from the first byte that is not white space ('{' is JSON,
// a letter or '#' is tag-value), never from the file name (syft's SPDX JSON is often called
// .sbom, Bitnami's .spdx).
#include <cctype>

#include <fmt/format.h>

#include "sbom/sbom_readers.h"

namespace eima::sbom {

Result<SbomSummary> read_sbom(const std::string &path, const FileSink &on_file)
{
	return read_sbom(path, SbomSinks{.on_file = on_file});
}

Result<SbomSummary> read_sbom(const std::string &path, const SbomSinks &sinks)
{
	detail::SbomInput in;
	if (auto o = in.open(path); !o)
		return std::unexpected(o.error());
	std::uint64_t line = 1;
	using traits = std::streambuf::traits_type;
	// A UTF-8 byte order mark, then white space.
	if (in.sgetc() == 0xEF) {
		const char bom[] = "\xEF\xBB\xBF";
		for (int i = 0; i < 3; ++i, in.sbumpc())
			if (in.sgetc() != traits::to_int_type(bom[i]))
				return fail("not an SBOM", fmt::format("{}: offset {}: a stray byte", path, i));
	}
	for (int c = in.sgetc(); c != traits::eof() && std::isspace(c); c = in.snextc())
		if (c == '\n')
			++line;
	int first = in.sgetc();
	if (in.error())
		return std::unexpected(*in.error());
	if (first == traits::eof())
		return fail("not an SBOM", fmt::format("{}: empty", path));
	if (first == '{')
		return detail::read_json_sbom(in, sinks);
	if (std::isalpha(first) || first == '#')
		return detail::read_tag_value_sbom(in, line, sinks.on_file);
	return fail("not an SBOM",
		    fmt::format("{}:{}: offset {}: neither JSON nor SPDX tag-value (byte 0x{:02x})",
				path, line, in.consumed(), first));
}

} // namespace eima::sbom
