// eima events [--follow] [--json]: eimad's events (docs/events.md) from RUN/events.sock.
#pragma once

#include <optional>

#include <CLI/CLI.hpp>

namespace eima::cli {

void add_events_command(CLI::App &app);
// The exit status when the events command was given, else nullopt.
std::optional<int> run_events_command();

} // namespace eima::cli
