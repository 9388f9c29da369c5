// The JSON eima writes about SBOMs (`eima sbom inspect --json`, `eima sbom files --json`,
// `eima bless --json`). Paths from an SBOM or a file system are bytes, and JSON strings are
// UTF-8: every path goes through path_json, the one place that decides how bytes that are
// not UTF-8 are written.
#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

#include "sbom/sbom.h"

namespace eima::sbom {

// The path as a JSON string when it is valid UTF-8; otherwise {"hex": "<its bytes>"}, so
// that no byte is lost or replaced and a reader can tell the two apart.
nlohmann::json path_json(std::string_view bytes);

// {format, encoding, spec_version, name, packages, components, files, file_digests,
//  files_without_digest, placeholder_digests, invalid_digests, bytes}
nlohmann::json summary_json(const SbomSummary &s);
// {path, digests: {algo: hex}, placeholder_digests?, invalid_digests?}
nlohmann::json file_json(const SbomFile &f);

} // namespace eima::sbom
