// `eima sbom inspect` (what an SBOM holds, in counts) and `eima sbom files` (each file entry
// with its digests, streamed as read) and `eima bless` (signatures for the files of a tree
// that match an SBOM; sbom/bless.h).
#pragma once

#include <optional>

#include <CLI/CLI.hpp>

namespace eima::cli {

// Adds `sbom inspect`, `sbom files` and `bless` to the top-level app.
void add_sbom_commands(CLI::App &app);
// After parsing: runs the one the command line chose, if any, and returns its exit code.
std::optional<int> run_sbom_commands();

} // namespace eima::cli
