// The readers read_sbom dispatches to, once it has told JSON from tag-value (internal).
#pragma once

#include "sbom/sbom.h"
#include "sbom/sbom_input.h"

namespace eima::sbom::detail {

// SPDX or CycloneDX JSON from the current position of in.
Result<SbomSummary> read_json_sbom(SbomInput &in, const SbomSinks &sinks);
// SPDX tag-value; first_line is the line number of in's current position.
Result<SbomSummary> read_tag_value_sbom(SbomInput &in, std::uint64_t first_line,
					const FileSink &on_file);

} // namespace eima::sbom::detail
