#include "cli/attest_commands.h"
#include "cli/kernel_quote.h"
#include "cli/policy_commands.h"
#include "cli/report.h"
#include "common/file_io.h"

#include <sys/stat.h>

#include <sstream>

#include <fmt/format.h>

#include "attest/eimad_evidence.h"
#include "attest/evidence.h"
#include "attest/quote_verifier.h"
#include "common/error.h"
#include "common/hex.h"
#include "common/json_text.h"

namespace eima::cli
{

Result<std::pair<std::string, std::vector<std::uint32_t>>> parse_pcr_selection(const std::string &s)
{
	auto colon = s.find(':');
	if (colon == std::string::npos)
		return fail("--pcrs", s + ": expected BANK:LIST, e.g. sha256:10,11");
	std::string bank = s.substr(0, colon);
	if (!ima::hash_algo_from_name(bank))
		return fail("--pcrs", s + ": unknown bank " + bank);
	std::vector<std::uint32_t> pcrs;
	std::stringstream list(s.substr(colon + 1));
	std::string item;
	while (std::getline(list, item, ',')) {
		if (item.empty() || item.size() > 2 ||
		    item.find_first_not_of("0123456789") != std::string::npos ||
		    std::stoul(item) > 23)
			return fail("--pcrs", s + ": PCR \"" + item + "\" is not 0..23");
		pcrs.push_back(static_cast<std::uint32_t>(std::stoul(item)));
	}
	if (pcrs.empty())
		return fail("--pcrs", s + ": no PCRs");
	return std::make_pair(bank, pcrs);
}

Result<Bytes> parse_nonce(const std::string &hex)
{
	auto n = from_hex(hex);
	if (!n || n->empty() || n->size() > 64)
		return fail("--nonce", "expected 1 to 64 bytes in hex");
	return *n;
}

namespace
{

QuoteOptions quote_opts;
VerifyOptions verify_opts;
CLI::App *quote_cmd = nullptr;
CLI::App *verify_cmd = nullptr;

// DIR/{attest,signature,pcrs,ak.pem}: what tpm2_checkquote takes.
int write_tpm2_tools(const attest::Evidence &ev, const std::string &dir)
{
	::mkdir(dir.c_str(), 0755);
	std::string d = dir + "/";
	Bytes values = ev.pcr_values_file();
	for (auto w : {write_file(d + "attest", ev.attest),
		       write_file(d + "signature", ev.signature), write_file(d + "pcrs", values),
		       write_file(d + "ak.pem", std::string_view(ev.ak_pem))})
		if (!w)
			return report(w.error());
	return 0;
}

} // namespace

int cmd_quote(const QuoteOptions &o)
{
	if (o.kernel)
		return cmd_quote_kernel(o);
	auto nonce = parse_nonce(o.nonce_hex);
	if (!nonce)
		return report(nonce.error());
	bool container = !o.container.empty();
	// The host list is on PCRs 10 (host) and 11 (containers); a container's list on its
	// vTPM's PCR 10.
	auto sel = parse_pcr_selection(!o.pcrs.empty() ? o.pcrs
				       : container     ? "sha256:10"
						       : "sha256:10,11");
	if (!sel)
		return report(sel.error());
	auto ev = attest::request_evidence({.run_dir = o.run_dir,
					    .nonce = *nonce,
					    .bank = sel->first,
					    .pcrs = sel->second,
					    .container = o.container});
	if (!ev)
		return report(ev.error());
	if (int rc = write_evidence(*ev, o.out, o.tpm2_tools_dir); rc != 0)
		return rc;
	if (o.out.empty() || o.out == "-")
		return 0;
	if (container)
		fmt::print(stderr,
			   "{}: container {}: vTPM quote over {}:{} and {} container list entries; "
			   "host quote and {} host list entries\n",
			   o.out, o.container, ima::hash_algo_name(ev->bank),
			   fmt::join(sel->second, ","), ev->entries, ev->host->entries);
	else
		fmt::print(stderr, "{}: quote over {}:{} and {} host list entries\n", o.out,
			   ima::hash_algo_name(ev->bank), fmt::join(sel->second, ","), ev->entries);
	return 0;
}

int write_evidence(const attest::Evidence &ev, const std::string &out,
		   const std::string &tpm2_tools_dir)
{
	std::string text = json_dump(attest::evidence_to_json(ev), 2) + "\n";
	if (out.empty() || out == "-") {
		fmt::print("{}", text);
	} else if (auto w = write_file(out, text); !w) {
		return report(w.error());
	}
	if (tpm2_tools_dir.empty())
		return 0;
	if (int rc = write_tpm2_tools(ev, tpm2_tools_dir); rc != 0)
		return rc;
	if (ev.host)
		return write_tpm2_tools(*ev.host, tpm2_tools_dir + "/host");
	return 0;
}

int cmd_verify(const VerifyOptions &o)
{
	auto nonce = parse_nonce(o.nonce_hex);
	if (!nonce)
		return report(nonce.error());
	auto ak = read_file(o.ak_pem_path);
	if (!ak)
		return report(ak.error());
	std::optional<attest::RuntimePolicy> policy;
	if (!o.policy_path.empty()) {
		auto p = load_runtime_policy(o.policy_path);
		if (!p)
			return report(p.error());
		policy = std::move(*p);
	}
	auto text = read_file(o.evidence);
	if (!text)
		return report(text.error());
	auto ev = attest::parse_evidence(*text, o.evidence);
	if (ev)
		if (auto loaded = attest::load_list_files(*ev, o.host_list); !loaded)
			ev = std::unexpected(loaded.error());
	if (!ev) {
		if (o.as_json)
			fmt::print("{}\n", json_dump({{"ok", false},
						 {"first_failure", "evidence"},
						 {"error", ev.error().message()}},
						2));
		return report(ev.error());
	}
	auto rep = attest::verify_evidence(*ev, *nonce, *ak, policy ? &*policy : nullptr);
	if (!rep)
		return report(rep.error());
	if (o.as_json) {
		fmt::print("{}\n", json_dump(rep->to_json(), 2));
		return rep->ok() ? 0 : 1;
	}
	for (auto &c : rep->checks) {
		const char *v = c.verdict == attest::CheckVerdict::pass	  ? "pass"
				: c.verdict == attest::CheckVerdict::fail ? "FAIL"
									  : "skipped";
		if (c.why.empty())
			fmt::print("{:<22} {}\n", c.name, v);
		else
			fmt::print("{:<22} {}: {}\n", c.name, v, c.why);
	}
	constexpr std::size_t shown = 50;
	for (std::size_t i = 0; i < rep->policy_failures.size(); ++i) {
		if (i == shown) {
			fmt::print("  ... ({} more; --json lists all)\n",
				   rep->policy_failures.size() - shown);
			break;
		}
		auto &f = rep->policy_failures[i];
		fmt::print("  entry {}: {} {}: {}\n", f.entry, f.path, f.digest, f.reason);
	}
	std::string what = rep->container.empty()
				   ? fmt::format("{} list: {} entries", ev->source, rep->entries)
				   : fmt::format("container {}: {} entries; host list: {} entries",
						 rep->container, rep->entries, rep->host_entries);
	if (rep->ok())
		fmt::print("{}: verified: {}, quoted {}\n", o.evidence, what,
			   ima::hash_algo_name(ev->bank));
	else
		fmt::print("{}: NOT verified ({}): {} failed\n", o.evidence, what,
			   rep->first_failure());
	return rep->ok() ? 0 : 1;
}

void add_attest_commands(CLI::App &app)
{
	quote_cmd = app.add_subcommand("quote", "TPM quote and the list it covers, as evidence");
	quote_cmd->add_option("--run-dir", quote_opts.run_dir,
			      "eimad's run directory (default /run/eima)");
	auto *container = quote_cmd->add_option("--container", quote_opts.container,
						"a container id: its vTPM's quote and list, with "
						"the host evidence binding the vTPM");
	auto *kernel = quote_cmd->add_flag(
		"--kernel", quote_opts.kernel,
		"the kernel's own IMA list with a quote from the TPM, no eimad");
	kernel->excludes(container);
	quote_cmd
		->add_option("--tpm", quote_opts.tpm,
			     "with --kernel: the TPM as a TCTI (default device:/dev/tpmrm0)")
		->needs(kernel);
	quote_cmd->add_option("--nonce", quote_opts.nonce_hex, "the verifier's nonce, hex")
		->required();
	quote_cmd->add_option(
		"--pcrs", quote_opts.pcrs,
		"BANK:LIST (default sha256:10,11; sha256:10 for --container, --kernel)");
	quote_cmd->add_option("-o,--output", quote_opts.out, "evidence JSON file (- for stdout)")
		->required();
	quote_cmd->add_option("--tpm2-tools", quote_opts.tpm2_tools_dir,
			      "also write DIR/{attest,signature,pcrs,ak.pem} for tpm2_checkquote "
			      "(the host quote's under DIR/host/ for --container)");

	verify_cmd = app.add_subcommand("verify", "check evidence from eima quote");
	verify_cmd->add_option("EVIDENCE", verify_opts.evidence, "evidence JSON")->required();
	verify_cmd->add_option("--nonce", verify_opts.nonce_hex, "the nonce the verifier chose")
		->required();
	verify_cmd
		->add_option("--ak", verify_opts.ak_pem_path,
			     "the trusted (host) TPM's AK, PEM public key")
		->required();
	verify_cmd
		->add_option("--policy", verify_opts.policy_path,
			     "runtime policy (eima JSON or Keylime) the entries must satisfy "
			     "(a container's own list for container evidence)")
		->check(CLI::ExistingFile);
	verify_cmd->add_option("--host-list", verify_opts.host_list,
			       "the host's binary list, for evidence that refers to it by file "
			       "(eimad's final evidence; default: the file it names)");
	verify_cmd->add_flag("--json", verify_opts.as_json);
}

std::optional<int> run_attest_commands()
{
	if (quote_cmd && *quote_cmd)
		return cmd_quote(quote_opts);
	if (verify_cmd && *verify_cmd)
		return cmd_verify(verify_opts);
	return std::nullopt;
}

} // namespace eima::cli
