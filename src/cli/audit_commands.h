// `eima audit [--follow] [--json]`: the accesses eimad's appraisal refused (or, in audit
// mode, would have refused), from RUN/audit.jsonl and its rotated files, oldest first;
// --follow keeps printing new ones, across rotations.
#pragma once

#include <optional>

#include <CLI/CLI.hpp>

namespace eima::cli {

void add_audit_commands(CLI::App &app);
std::optional<int> run_audit_commands();

} // namespace eima::cli
