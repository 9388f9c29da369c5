// The JSON eima writes about SBOMs (`eima sbom inspect --json`, `eima sbom files --json`,
// `eima bless --json`). Paths from an SBOM or a file system are bytes: they go into the JSON
// as they are, and json_dump (common/json_text.h) writes bytes that are not UTF-8 in eima's
// one encoding for them (docs/json-bytes.md).
#pragma once

#include <nlohmann/json.hpp>

#include "sbom/sbom.h"

namespace eima::sbom {

// {format, encoding, spec_version, name, packages, components, files, file_digests,
//  files_without_digest, placeholder_digests, invalid_digests, bytes}
nlohmann::json summary_json(const SbomSummary &s);
// {path, digests: {algo: hex}, placeholder_digests?, invalid_digests?}
nlohmann::json file_json(const SbomFile &f);

} // namespace eima::sbom
