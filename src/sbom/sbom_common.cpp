// What every SBOM reader shares: algorithm names, placeholder digests, path keys, counters.
#include <algorithm>
#include <cctype>

#include "sbom/sbom.h"

namespace eima::sbom {

std::string_view format_name(Format f) { return f == Format::spdx ? "spdx" : "cyclonedx"; }
std::string_view encoding_name(Encoding e) { return e == Encoding::json ? "json" : "tag-value"; }

std::string normalise_algo(std::string_view name)
{
	std::string out;
	out.reserve(name.size());
	for (char c : name)
		out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
	// "sha-256", "sha_256" -> "sha256": SPDX writes SHA256, CycloneDX SHA-256. SHA-3 keeps
	// its separator ("sha3-256"): "sha3256" would read as nothing anyone writes.
	if (out.size() > 4 && out.starts_with("sha") && (out[3] == '-' || out[3] == '_'))
		out.erase(3, 1);
	return out;
}

bool is_placeholder_digest(std::string_view hex)
{
	return !hex.empty() && std::all_of(hex.begin(), hex.end(), [](char c) { return c == '0'; });
}

std::optional<std::size_t> expected_hex_length(std::string_view a)
{
	if (a == "md5")
		return 32;
	if (a == "sha1")
		return 40;
	if (a == "sha224" || a == "sha3-224")
		return 56;
	if (a == "sha256" || a == "sha3-256" || a == "blake2b-256" || a == "blake3")
		return 64;
	if (a == "sha384" || a == "sha3-384" || a == "blake2b-384")
		return 96;
	if (a == "sha512" || a == "sha3-512" || a == "blake2b-512")
		return 128;
	return std::nullopt;
}

std::string normalise_path(std::string_view path)
{
	std::string out;
	out.reserve(path.size());
	std::size_t i = 0;
	while (i < path.size()) {
		std::size_t end = path.find('/', i);
		if (end == std::string_view::npos)
			end = path.size();
		std::string_view part = path.substr(i, end - i);
		if (!part.empty() && part != ".") {
			if (!out.empty())
				out.push_back('/');
			out.append(part);
		}
		i = end + 1;
	}
	return out;
}

void add_digest(SbomFile &f, std::string_view algo, std::string_view value)
{
	std::string a = normalise_algo(algo);
	std::string hex;
	hex.reserve(value.size());
	for (char c : value)
		hex.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
	if (is_placeholder_digest(hex)) {
		++f.placeholder_digests;
		return;
	}
	bool is_hex = !hex.empty() && std::all_of(hex.begin(), hex.end(), [](char c) {
		return std::isxdigit(static_cast<unsigned char>(c));
	});
	auto want = expected_hex_length(a);
	if (a.empty() || !is_hex || (want && hex.size() != *want)) {
		++f.invalid_digests;
		return;
	}
	f.digests.push_back({std::move(a), std::move(hex)});
}

void count_file(SbomSummary &s, const SbomFile &f)
{
	++s.files;
	s.placeholder_digests += f.placeholder_digests;
	s.invalid_digests += f.invalid_digests;
	if (f.digests.empty()) {
		++s.files_without_digest;
		return;
	}
	// A file listing one algorithm twice counts once for it.
	std::vector<std::string_view> seen;
	for (auto &d : f.digests) {
		if (std::find(seen.begin(), seen.end(), d.algo) != seen.end())
			continue;
		seen.push_back(d.algo);
		++s.file_digests[d.algo];
	}
}

} // namespace eima::sbom
