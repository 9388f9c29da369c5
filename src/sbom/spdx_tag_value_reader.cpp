// SPDX tag-value, line by line: "Tag: value", '#' comments, and <text>...</text> values that
// may span lines (skipped: nothing eima reads is multi-line). A file entry runs from its
// FileName to the next FileName, PackageName, SnippetSPDXID or LicenseID, or the end.
// Paths are taken as bytes: tag-value files are not required to be UTF-8.
#include <fmt/format.h>

#include "sbom/sbom_readers.h"

namespace eima::sbom::detail {
namespace {

std::string_view trim(std::string_view s)
{
	while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
		s.remove_prefix(1);
	while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
		s.remove_suffix(1);
	return s;
}

// One line without its '\n' into line; false at end of input. The input refuses lines
// longer than max_token_bytes, so line stays bounded.
bool next_line(SbomInput &in, std::string &line)
{
	using traits = std::streambuf::traits_type;
	line.clear();
	int c = in.sbumpc();
	if (c == traits::eof())
		return false;
	while (c != traits::eof() && c != '\n') {
		line.push_back(traits::to_char_type(c));
		c = in.sbumpc();
	}
	return true;
}

} // namespace

Result<SbomSummary> read_tag_value_sbom(SbomInput &in, std::uint64_t first_line,
					const FileSink &on_file)
{
	SbomSummary s;
	s.format = Format::spdx;
	s.encoding = Encoding::tag_value;
	SbomFile file;
	bool in_file = false; // between a FileName and the end of its entry
	bool saw_version = false;
	auto end_file = [&] {
		if (!in_file)
			return;
		count_file(s, file);
		if (on_file)
			on_file(std::move(file));
		file = {};
		in_file = false;
	};
	auto where = [&](std::uint64_t line) { return fmt::format("{}:{}", in.path(), line); };

	std::string line;
	std::uint64_t lineno = first_line - 1;
	std::uint64_t text_from = 0; // line a <text> value that is still open began on
	while (next_line(in, line)) {
		++lineno;
		if (text_from) {
			if (line.find("</text>") != std::string::npos)
				text_from = 0;
			continue;
		}
		std::string_view l = trim(line);
		if (l.empty() || l.front() == '#')
			continue;
		auto colon = l.find(':');
		if ((colon == std::string_view::npos || colon == 0) && !saw_version)
			return fail("not an SBOM",
				    fmt::format("{}: neither JSON nor SPDX tag-value (no SPDXVersion)",
						where(lineno)));
		if (colon == std::string_view::npos || colon == 0)
			return fail("parse SBOM", fmt::format("{}: expected \"Tag: value\", found \"{}\"",
							      where(lineno), l.substr(0, 80)));
		std::string_view tag = trim(l.substr(0, colon));
		std::string_view value = trim(l.substr(colon + 1));
		if (value.starts_with("<text>")) {
			if (value.find("</text>") == std::string_view::npos)
				text_from = lineno;
			continue;
		}
		if (!saw_version && tag != "SPDXVersion")
			return fail("not an SBOM", fmt::format("{}: the first tag is \"{}\", not SPDXVersion",
							       where(lineno), tag.substr(0, 80)));
		if (tag == "SPDXVersion") {
			saw_version = true;
			s.spec_version = value;
			if (!s.spec_version.starts_with("SPDX-2."))
				return fail("unsupported SPDX version",
					    fmt::format("{}: \"{}\" (eima reads SPDX-2.x)", where(lineno),
							s.spec_version));
		} else if (tag == "DocumentName") {
			s.name = value;
		} else if (tag == "PackageName") {
			end_file();
			++s.packages;
		} else if (tag == "FileName") {
			end_file();
			in_file = true;
			file.path = value;
		} else if (tag == "SnippetSPDXID" || tag == "LicenseID") {
			end_file();
		} else if (tag == "FileChecksum" && in_file) {
			// "SHA1: 85ed0817af83a24ad8da68c2b5094de69833983c"
			auto sep = value.find(':');
			if (sep == std::string_view::npos)
				return fail("parse SBOM",
					    fmt::format("{}: FileChecksum without \"ALGO: value\"",
							where(lineno)));
			add_digest(file, trim(value.substr(0, sep)), trim(value.substr(sep + 1)));
		}
	}
	if (in.error())
		return std::unexpected(*in.error());
	if (text_from)
		return fail("parse SBOM",
			    fmt::format("{}: <text> not closed before the end", where(text_from)));
	if (!saw_version)
		return fail("not an SBOM", fmt::format("{}: no SPDXVersion", in.path()));
	end_file();
	s.bytes = in.consumed();
	return s;
}

} // namespace eima::sbom::detail
