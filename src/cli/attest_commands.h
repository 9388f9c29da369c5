// `eima quote` (evidence from eimad: a TPM quote and the host list entries it covers; or a
// container's vTPM quote and list with the host evidence binding the vTPM; or, with --kernel,
// the kernel's own list) and `eima verify` (checks evidence against a trusted AK, the
// verifier's nonce and optionally a runtime policy).
#pragma once

#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "attest/evidence.h"
#include "common/error.h"

namespace eima::cli
{

struct QuoteOptions {
	std::string run_dir = "/run/eima";
	std::string container; // a container's vTPM quote, with the host evidence binding it
	bool kernel = false;    // the kernel's own IMA list and a TPM quote, no eimad
	std::string tpm;        // with kernel: the TPM as a tctildr string (default device:/dev/tpmrm0)
	std::string nonce_hex;
	std::string pcrs; // BANK:LIST; default sha256:10,11 (host), sha256:10 (container, kernel)
	std::string out;		   // evidence.json ("-": stdout)
	std::string tpm2_tools_dir;	   // also write attest, signature, pcrs, ak.pem here
};

struct VerifyOptions {
	std::string evidence;
	std::string nonce_hex;
	std::string ak_pem_path; // the trusted host AK
	std::string policy_path; // runtime policy for the evidence's list (empty: none)
	std::string host_list;   // the host list file, for evidence that refers to one
	bool as_json = false;
};

// "sha256:10,11" -> bank name and PCRs (0..23, at least one); errors name --pcrs.
Result<std::pair<std::string, std::vector<std::uint32_t>>> parse_pcr_selection(const std::string &s);
// 1 to 64 bytes in hex; errors name --nonce.
Result<Bytes> parse_nonce(const std::string &hex);

int cmd_quote(const QuoteOptions &o);
// Writes evidence JSON to `out` ("" or "-": stdout) and, when tpm2_tools_dir is set, the
// quote's parts as tpm2_checkquote reads them: DIR/{attest,signature,pcrs,ak.pem} (for
// container evidence, the host quote's parts also go to DIR/host/).
// Returns the exit code (errors reported on stderr).
int write_evidence(const attest::Evidence &ev, const std::string &out,
		   const std::string &tpm2_tools_dir);
int cmd_verify(const VerifyOptions &o);

// Adds `quote` and `verify` to the top-level app.
void add_attest_commands(CLI::App &app);
// After parsing: runs the one the command line chose, if any, and returns its exit code.
std::optional<int> run_attest_commands();

} // namespace eima::cli
