// `eima sbom drift --sbom FILE (--container ID | --log LIST) [--json] [--cyclonedx]`: what
// ran (a container's list under eimad's run directory, or any ascii or binary list) against
// what the SBOM declares (sbom/sbom_drift.h).
#pragma once

#include <optional>

#include <CLI/CLI.hpp>

namespace eima::cli {

// Adds `drift` under the `sbom` subcommand.
void add_drift_command(CLI::App &sbom_cmd);
// After parsing: the exit code when drift was chosen: 0 no drifted file, 2 drift, 1 error.
std::optional<int> run_drift_command();

} // namespace eima::cli
