// eima stop [--force-cleanup]: the authorized way to stop eimad (docs/self-protection.md),
// and the way to clear what a dead eimad left on the machine.
#pragma once

#include <optional>

#include <CLI/CLI.hpp>

namespace eima::cli {

void add_stop_command(CLI::App &app);
// The exit status when the stop command was given, else nullopt.
std::optional<int> run_stop_command();

} // namespace eima::cli
