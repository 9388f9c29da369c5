#include "cli/attest_commands.h"
#include "cli/report.h"
#include "common/file_io.h"

#include <sys/stat.h>

#include <sstream>

#include <fmt/format.h>

#include "agent/control_protocol.h"
#include "attest/evidence.h"
#include "attest/quote_verifier.h"
#include "common/error.h"
#include "common/hex.h"

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

} // namespace

int cmd_quote(const QuoteOptions &o)
{
	if (!o.container.empty()) {
		fmt::print(stderr, "eima: container quotes are not available yet: they need a vTPM "
				   "per container (eimad quotes the host TPM only)\n");
		return 1;
	}
	auto nonce = parse_nonce(o.nonce_hex);
	if (!nonce)
		return report(nonce.error());
	auto sel = parse_pcr_selection(o.pcrs.empty() ? "sha256:10,11" : o.pcrs);
	if (!sel)
		return report(sel.error());
	nlohmann::json req = {{"cmd", "quote"},
			      {"nonce", to_hex(*nonce)},
			      {"bank", sel->first},
			      {"pcrs", sel->second}};
	auto reply = agent::control_request(o.run_dir, req);
	if (!reply)
		return report(reply.error());
	// Read after the reply: the list only grows, and its first `entries` records are the
	// ones the quoted PCRs cover.
	std::string list_path = o.run_dir + "/host/binary_runtime_measurements";
	auto list = read_file(list_path);
	if (!list)
		return report(list.error());
	auto ev = attest::evidence_from_quote_reply(
		*reply, {reinterpret_cast<const std::uint8_t *>(list->data()), list->size()});
	if (!ev) {
		Error e = ev.error();
		e.context = list_path + ": " + e.context;
		return report(e);
	}
	ev->run_dir = o.run_dir;
	if (int rc = write_evidence(*ev, o.out, o.tpm2_tools_dir); rc != 0)
		return rc;
	if (o.out.empty() || o.out == "-")
		return 0;
	fmt::print(stderr, "{}: quote over {}:{} and {} host list entries\n", o.out,
		   ima::hash_algo_name(ev->bank), fmt::join(sel->second, ","), ev->entries);
	return 0;
}

int write_evidence(const attest::Evidence &ev, const std::string &out,
		   const std::string &tpm2_tools_dir)
{
	std::string text = attest::evidence_to_json(ev).dump(2) + "\n";
	if (out.empty() || out == "-") {
		fmt::print("{}", text);
	} else if (auto w = write_file(out, text); !w) {
		return report(w.error());
	}
	if (!tpm2_tools_dir.empty()) {
		::mkdir(tpm2_tools_dir.c_str(), 0755);
		std::string d = tpm2_tools_dir + "/";
		Bytes values = ev.pcr_values_file();
		for (auto w :
		     {write_file(d + "attest", ev.attest), write_file(d + "signature", ev.signature),
		      write_file(d + "pcrs", values),
		      write_file(d + "ak.pem", std::string_view(ev.ak_pem))})
			if (!w)
				return report(w.error());
	}
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
	auto text = read_file(o.evidence);
	if (!text)
		return report(text.error());
	auto ev = attest::parse_evidence(*text, o.evidence);
	if (!ev) {
		if (o.as_json)
			fmt::print("{}\n", nlohmann::json{{"ok", false},
							  {"first_failure", "evidence"},
							  {"error", ev.error().message()}}
						   .dump(2));
		return report(ev.error());
	}
	auto rep = attest::verify_evidence(*ev, *nonce, *ak);
	if (!rep)
		return report(rep.error());
	if (o.as_json) {
		fmt::print("{}\n", rep->to_json().dump(2));
	} else {
		for (auto &c : rep->checks) {
			const char *v = c.verdict == attest::CheckVerdict::pass	  ? "pass"
					: c.verdict == attest::CheckVerdict::fail ? "FAIL"
										  : "skipped";
			if (c.why.empty())
				fmt::print("{:<17} {}\n", c.name, v);
			else
				fmt::print("{:<17} {}: {}\n", c.name, v, c.why);
		}
		if (rep->ok())
			fmt::print("{}: verified: {} entries, quoted {}\n", o.evidence,
				   rep->entries, ima::hash_algo_name(ev->bank));
		else
			fmt::print("{}: NOT verified: {} failed\n", o.evidence,
				   rep->first_failure());
	}
	return rep->ok() ? 0 : 1;
}

void add_attest_commands(CLI::App &app)
{
	quote_cmd =
		app.add_subcommand("quote", "TPM quote and the host list it covers, as evidence");
	quote_cmd->add_option("--run-dir", quote_opts.run_dir,
			      "eimad's run directory (default /run/eima)");
	quote_cmd->add_option("--container", quote_opts.container,
			      "a container id (not available yet: needs a vTPM per container)");
	quote_cmd->add_option("--nonce", quote_opts.nonce_hex, "the verifier's nonce, hex")
		->required();
	quote_cmd->add_option("--pcrs", quote_opts.pcrs, "BANK:LIST (default sha256:10,11)");
	quote_cmd->add_option("-o,--output", quote_opts.out, "evidence JSON file (- for stdout)")
		->required();
	quote_cmd->add_option("--tpm2-tools", quote_opts.tpm2_tools_dir,
			      "also write DIR/{attest,signature,pcrs,ak.pem} for tpm2_checkquote");

	verify_cmd = app.add_subcommand("verify", "check evidence from eima quote");
	verify_cmd->add_option("EVIDENCE", verify_opts.evidence, "evidence JSON")->required();
	verify_cmd->add_option("--nonce", verify_opts.nonce_hex, "the nonce the verifier chose")
		->required();
	verify_cmd->add_option("--ak", verify_opts.ak_pem_path, "the trusted AK, PEM public key")
		->required();
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
