// SBOMs in: SPDX 2.x (JSON and tag-value) and CycloneDX 1.x (JSON), told apart by content.
// Reading streams: the document is never held whole (no DOM), each file entry is handed to a
// callback as soon as it is complete, and memory stays bounded by the longest token
// (max_token_bytes) and the nesting depth (max_depth), however large the SBOM.
//
// Everything here is parsed, not trusted: a digest is a claim of whoever wrote the SBOM.
// Placeholder digests (all zeros, which syft writes for files it did not hash) are counted
// and dropped, never handed on as a digest.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace eima::sbom {

enum class Format : std::uint8_t { spdx, cyclonedx };
enum class Encoding : std::uint8_t { json, tag_value };

std::string_view format_name(Format f);     // "spdx", "cyclonedx"
std::string_view encoding_name(Encoding e); // "json", "tag-value"

// A longer string, number or line is refused (with its offset) instead of being buffered:
// the JSON lexer and the line reader hold one token at a time, so this bounds their memory.
// nlohmann's lexer keeps each token twice (decoded and raw, for its error messages) and its
// error message quotes it, so the peak is a few times this (about 30 MiB). Real SBOMs'
// longest strings are license texts, tens of KiB.
inline constexpr std::size_t max_token_bytes = 4u << 20;
// Deeper nesting is refused: the reader keeps one frame per open object or array.
inline constexpr std::size_t max_depth = 256;

// One digest an SBOM claims for a file. algo is normalised (lower case, "sha-256" and
// "SHA256" both "sha256", see normalise_algo); hex is lower case.
struct FileDigest {
	std::string algo;
	std::string hex;
	bool operator==(const FileDigest &) const = default;
};

// A file entry, as written: path is bytes (tag-value files may hold any), not normalised.
struct SbomFile {
	std::string path;
	std::string id;         // SPDXID (SPDX JSON) or bom-ref (CycloneDX), when written
	std::string package_id; // CycloneDX: the id (bom-ref, else name) of the component it
				// is nested in, when that is not itself a file
	std::vector<FileDigest> digests; // real ones only: no placeholder, no malformed value
	std::size_t placeholder_digests = 0;
	std::size_t invalid_digests = 0; // not hex, or the wrong length for a known algorithm
};

// What `eima sbom inspect` reports. Counts, never contents: it stays small for any SBOM.
struct SbomSummary {
	Format format = Format::spdx;
	Encoding encoding = Encoding::json;
	std::string spec_version; // "SPDX-2.3", "1.5"
	std::string name;         // SPDX document name; CycloneDX metadata.component.name
	std::size_t packages = 0;   // SPDX packages
	std::size_t components = 0; // CycloneDX components, nested ones included
	std::size_t files = 0;      // SPDX files; CycloneDX components of type "file"
	// Normalised algorithm -> files with at least one real digest of it.
	std::map<std::string, std::size_t> file_digests;
	std::size_t files_without_digest = 0; // no real digest (placeholder-only files included)
	std::size_t placeholder_digests = 0;  // all-zero digest values of files
	std::size_t invalid_digests = 0;      // malformed digest values of files
	std::uint64_t bytes = 0; // size of the document read
};

using FileSink = std::function<void(SbomFile &&)>;

// An SPDX package, or a CycloneDX component that is not a file, with the file entries the
// SBOM says it holds (SPDX JSON "hasFiles"; CycloneDX files nested in it come as their
// SbomFile::package_id). id: SPDXID, bom-ref, else the name.
struct SbomPackage {
	std::string id, name, version;
	std::vector<std::string> file_ids;
};
// An SPDX JSON relationship "package CONTAINS file" (or "file CONTAINED_BY package"); the
// reader cannot tell packages from files by id, so the caller matches them.
struct SbomContains {
	std::string container_id, contained_id;
};
// What a reader hands on; any may be empty. Packages and relationships come from JSON
// SBOMs only (tag-value files are read for their files).
struct SbomSinks {
	FileSink on_file;
	std::function<void(SbomPackage &&)> on_package;
	std::function<void(SbomContains &&)> on_contains;
};

// Reads the SBOM at path, calling on_file (may be empty) for each file entry in document
// order. Errors name the path and the line (tag-value) or byte offset and line (JSON).
Result<SbomSummary> read_sbom(const std::string &path, const FileSink &on_file = {});
// Same, handing on packages and relationships too.
Result<SbomSummary> read_sbom(const std::string &path, const SbomSinks &sinks);

// "SHA256", "sha-256", "SHA_256" -> "sha256"; "SHA3-256" -> "sha3-256"; "BLAKE2b-256" ->
// "blake2b-256". Lower case, and the separator between "sha" and its size dropped, so that
// SPDX's and CycloneDX's spellings of one algorithm compare equal.
std::string normalise_algo(std::string_view name);
// A digest value made only of '0' characters (syft's "not hashed").
bool is_placeholder_digest(std::string_view hex);
// The hex length a known algorithm's digest must have; nullopt for algorithms eima does not
// know the size of (their values are kept as written).
std::optional<std::size_t> expected_hex_length(std::string_view normalised_algo);

// The key a file is matched by: "/usr/bin/x", "./usr/bin/x", "usr/bin/x" and
// "/usr//bin/./x" are all "usr/bin/x". ".." components are kept (they never match a walked
// file, which is the safe outcome). An empty result means the path names no file.
std::string normalise_path(std::string_view path);

// Adds one file's digests, placeholders and invalid values to the summary counters (shared
// by every reader). Only entries that are files are counted: a CycloneDX library's hashes
// are not a file's, so they count nowhere.
void count_file(SbomSummary &s, const SbomFile &f);
// Classifies one digest claim into f: real, placeholder or invalid.
void add_digest(SbomFile &f, std::string_view algo, std::string_view value);

} // namespace eima::sbom
