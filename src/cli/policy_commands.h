// `eima policy import-keylime`, `eima policy export-keylime` and the runtime policy check of
// `eima log verify --policy`: eima's runtime policy (attest/runtime_policy.h) on the command
// line.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "attest/log_verifier.h"
#include "attest/runtime_policy.h"
#include "common/error.h"

namespace eima::cli {

// Reads Keylime files (runtime policy, JSON or flat allowlist, exclude list; several are
// merged into one policy) and writes eima's runtime policy JSON to `out` ("-" or empty:
// stdout). A summary goes to stderr. Returns the exit code.
int cmd_policy_import_keylime(const std::vector<std::string> &in, const std::string &out);
int cmd_policy_import_keylime(const std::string &in, const std::string &out);
// Reads eima's runtime policy JSON and writes a Keylime runtime policy.
// A runtime policy allowing exactly the digests a known-good list (ascii or binary) holds.
int cmd_policy_from_log(const std::string &in, const std::string &out);
// A runtime policy (eima's, or Keylime's with keylime) allowing exactly the digests of the
// files an SBOM lists.
int cmd_policy_from_sbom(const std::string &in, const std::string &out, bool keylime);
int cmd_policy_export_keylime(const std::string &in, const std::string &out);

// Adds `import-keylime` and `export-keylime` under the `policy` subcommand.
void add_runtime_policy_commands(CLI::App *policy_subcommand);
// After parsing: runs the subcommand add_runtime_policy_commands added, if the command line
// chose one, and returns its exit code.
std::optional<int> run_runtime_policy_commands();

// Loads a runtime policy file: eima's JSON, or any Keylime policy file (told by content).
Result<attest::RuntimePolicy> load_runtime_policy(const std::string &path);
// For `eima log verify --policy`: judges the list in `log_path` against the policy in
// `policy_path` and fills report.policy_failures. A list that does not parse is left to the
// report's own parse_error (no failures are added).
Result<void> check_runtime_policy(const std::string &policy_path, const std::string &log_path,
				  attest::LogReport &report);
// Human-readable lines for report.policy_failures (stdout), at most `limit` of them.
void print_policy_failures(const attest::LogReport &report, std::size_t limit = 50);

} // namespace eima::cli
