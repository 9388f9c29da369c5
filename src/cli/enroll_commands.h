// `eima identity` (a TPM's EKs, their certificates and eima's AK) and `eima enroll`
// (challenge, activate, finish: the credential challenge that pins the AK only when the
// TPM holding a certified EK proves it holds the AK too). See docs/enroll.md.
#pragma once

#include <optional>

#include <CLI/CLI.hpp>

namespace eima::cli {

void add_enroll_commands(CLI::App &app);
std::optional<int> run_enroll_commands();

} // namespace eima::cli
