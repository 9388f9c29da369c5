// `eima quote` (evidence from eimad: a TPM quote and the host list entries it covers) and
// `eima verify` (checks evidence against a trusted AK and the verifier's nonce).
#pragma once

#include <optional>
#include <string>

#include <CLI/CLI.hpp>

namespace eima::cli
{

struct QuoteOptions {
	std::string run_dir = "/run/eima";
	std::string container; // not supported yet: eimad answers an error
	std::string nonce_hex;
	std::string pcrs = "sha256:10,11"; // BANK:LIST
	std::string out;		   // evidence.json ("-": stdout)
	std::string tpm2_tools_dir;	   // also write attest, signature, pcrs, ak.pem here
};

struct VerifyOptions {
	std::string evidence;
	std::string nonce_hex;
	std::string ak_pem_path;
	bool as_json = false;
};

int cmd_quote(const QuoteOptions &o);
int cmd_verify(const VerifyOptions &o);

// Adds `quote` and `verify` to the top-level app.
void add_attest_commands(CLI::App &app);
// After parsing: runs the one the command line chose, if any, and returns its exit code.
std::optional<int> run_attest_commands();

} // namespace eima::cli
