// `eima bpf sign`, `eima bpf verify`, `eima bpf load` and `eima bpf enforce`: BPF objects
// signed for the kernel's own signature check, and only those (bpfsign/,
// docs/signed-bpf.md).
#pragma once

#include <optional>

#include <CLI/CLI.hpp>

namespace eima::cli {

// Adds `bpf sign|verify|load|enforce` to the top-level app.
void add_bpf_commands(CLI::App &app);
// After parsing: runs the one the command line chose, if any, and returns its exit code.
std::optional<int> run_bpf_commands();

} // namespace eima::cli
