// SBOMs: read_sbom on any bytes. The encoding (SPDX JSON, SPDX tag-value, CycloneDX JSON) is
// told by content, so one target reaches all three readers. The input is a memfd read
// through /proc/self/fd, as read_sbom opens a path.
//
// What must hold besides "no crash, no leak, no UB":
//  - the summary agrees with the entries handed to the callback: files, files without a
//    real digest, files per algorithm, placeholder and invalid digest counts;
//  - every digest handed on is a real one: a normalised algorithm, lower-case hex, not a
//    placeholder, of the right length when the algorithm's size is known;
//  - a document read whole reports its size as the bytes read;
//  - its summary and every file entry write as JSON that reads back (a path that is not
//    UTF-8 reads back as the same bytes);
//  - an error names the place (a line, or an offset in range), except the verdicts about
//    the document as a whole (an empty file, no version or format anywhere in it).
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "common/json_text.h"
#include "common/unique_fd.h"
#include "property.h"
#include "sbom/sbom.h"
#include "sbom/sbom_report.h"

using namespace eima;

namespace {

bool is_lower_hex(const std::string &s)
{
	return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
		return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
	});
}

// The verdicts about a whole document, which have no one place to name: it is empty, or
// says nowhere which SBOM it is.
bool is_document_verdict(const std::string &msg)
{
	for (const char *what : {": empty", ": no SPDXVersion", "without \"spdxVersion\""})
		if (msg.find(what) != std::string::npos)
			return true;
	return false;
}

// Reads `lead` then digits at the start of text, consuming them; nullopt (text unchanged)
// when text does not start so.
std::optional<std::uint64_t> take_number(std::string_view &text, std::string_view lead)
{
	if (!text.starts_with(lead))
		return std::nullopt;
	std::size_t end = lead.size();
	while (end < text.size() && std::isdigit(static_cast<unsigned char>(text[end])))
		++end;
	if (end == lead.size() || end - lead.size() > 19)
		return std::nullopt;
	auto n = std::stoull(std::string(text.substr(lead.size(), end - lead.size())));
	text.remove_prefix(end);
	return n;
}

// The place an error names right after the path, in the readers' forms: "PATH:LINE:",
// "PATH:LINE:COLUMN (offset N):", "PATH:LINE: offset N:", "PATH: offset N:". Only there:
// the rest of the message may quote the input, which can say anything.
struct Place {
	std::optional<std::uint64_t> line, offset;
};
Place place_after(std::string_view text)
{
	Place p;
	p.line = take_number(text, ":");
	if (p.line)
		(void)take_number(text, ":"); // the column
	p.offset = take_number(text, " (offset ");
	if (!p.offset)
		p.offset = take_number(text, ": offset ");
	return p;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static UniqueFd fd(::memfd_create("fuzz-sbom", MFD_CLOEXEC));
	static const std::string path = "/proc/self/fd/" + std::to_string(fd.get());
	EIMA_FUZZ_REQUIRE(::ftruncate(fd.get(), 0) == 0 &&
			  ::pwrite(fd.get(), data, size, 0) == ssize_t(size));

	std::size_t files = 0, without = 0, placeholders = 0, invalid = 0;
	std::map<std::string, std::size_t> per_algo;
	auto sbom = sbom::read_sbom(path, [&](sbom::SbomFile &&f) {
		++files;
		placeholders += f.placeholder_digests;
		invalid += f.invalid_digests;
		if (f.digests.empty())
			++without;
		std::vector<std::string> seen;
		for (auto &d : f.digests) {
			EIMA_FUZZ_REQUIRE(!d.algo.empty() && sbom::normalise_algo(d.algo) == d.algo);
			EIMA_FUZZ_REQUIRE(is_lower_hex(d.hex) && !sbom::is_placeholder_digest(d.hex));
			auto want = sbom::expected_hex_length(d.algo);
			EIMA_FUZZ_REQUIRE(!want || *want == d.hex.size());
			if (std::find(seen.begin(), seen.end(), d.algo) == seen.end()) {
				seen.push_back(d.algo);
				++per_algo[d.algo];
			}
		}
		auto key = sbom::normalise_path(f.path);
		EIMA_FUZZ_REQUIRE(sbom::normalise_path(key) == key);
		// `eima sbom files --json`: any path (bytes, from tag-value) is written and read
		// back as the same bytes.
		auto back = json_parse(json_dump(sbom::file_json(f)), "file_json");
		EIMA_FUZZ_REQUIRE(back && (*back)["path"] == nlohmann::json(f.path));
	});

	if (!sbom) {
		// "op context": the context starts with the path, then ":LINE" or "offset N".
		std::string msg = sbom.error().message();
		EIMA_FUZZ_REQUIRE(msg.find(path) != std::string::npos);
		if (is_document_verdict(msg))
			return 0;
		std::string_view after = std::string_view(msg).substr(msg.find(path) + path.size());
		auto [line, offset] = place_after(after);
		EIMA_FUZZ_REQUIRE(offset || line); // an error names its place
		if (offset)
			EIMA_FUZZ_REQUIRE(*offset <= size);
		if (line)
			EIMA_FUZZ_REQUIRE(*line >= 1 &&
					  *line <= 1 + std::size_t(std::count(data, data + size, '\n')));
		return 0;
	}

	const auto &s = *sbom;
	// `eima sbom inspect --json`
	EIMA_FUZZ_REQUIRE(json_parse(json_dump(sbom::summary_json(s)), "summary_json"));
	EIMA_FUZZ_REQUIRE(s.files == files);
	EIMA_FUZZ_REQUIRE(s.files_without_digest == without);
	EIMA_FUZZ_REQUIRE(s.placeholder_digests == placeholders);
	EIMA_FUZZ_REQUIRE(s.invalid_digests == invalid);
	EIMA_FUZZ_REQUIRE(s.file_digests == per_algo);
	EIMA_FUZZ_REQUIRE(s.bytes == size);
	// files == files with at least one real digest + files without: the algorithms'
	// counts overlap (a file may have several), so the largest bounds from below.
	std::size_t with = files - without;
	for (auto &[algo, n] : s.file_digests)
		EIMA_FUZZ_REQUIRE(n >= 1 && n <= with);
	EIMA_FUZZ_REQUIRE(with == 0 || !s.file_digests.empty());
	return 0;
}
