// eima: the command line of eima. Talks to eimad over RUN/eimad.sock where live state or
// the TPM is needed (status, ps, pcrs) and reads the list files directly otherwise.
#include <CLI/CLI.hpp>

#include "bpfsign/signed_loader.h"
#include "cli/audit_commands.h"
#include <fmt/format.h>

#include <iostream>

#include <nlohmann/json.hpp>

#include "control/control_protocol.h"
#include "attest/evidence.h"
#include "attest/log_verifier.h"
#include "cli/attest_commands.h"
#include "cli/bpf_commands.h"
#include "cli/enroll_commands.h"
#include "cli/events_command.h"
#include "cli/policy_commands.h"
#include "cli/report.h"
#include "cli/sbom_commands.h"
#include "cli/stop_command.h"
#include "common/file_io.h"
#include "common/json_text.h"
#include "ima/ascii_log.h"
#include "ima/binary_log.h"
#include "ima/hash_algo.h"
#include "ima/replay.h"
#include "policy/ima_policy.h"
#include "policy/policy_check.h"

namespace {

using namespace eima;
using eima::cli::report;
using nlohmann::json;

std::string list_dir(const std::string &run_dir, const std::string &container)
{
	return container.empty() ? run_dir + "/host" : run_dir + "/containers/" + container;
}

// The enforcement part of `eima status`: fanotify mode says plainly what it does not do.
void print_enforcement(const nlohmann::json &e)
{
	if (!e.is_object() || e.value("mechanism", std::string()) != "fanotify") {
		if (e.is_null())
			fmt::print("enforcement: none (measuring only)\n");
		return;
	}
	fmt::print("enforcement: fanotify, {} — {} ({}), {} trusted certificate(s)\n",
		   e.value("mode", std::string("?")), e.value("path", std::string("?")),
		   e.value("scope", std::string("?")), e.value("trusted_certs", 0u));
	fmt::print("  decisions: {} allowed, {} denied, {} would deny (audit), {} cached, {} "
		   "watchdog timeouts\n",
		   e.value("allowed", 0ull), e.value("denied", 0ull), e.value("would_deny", 0ull),
		   e.value("cached", 0ull), e.value("timeouts", 0ull));
	fmt::print("  audit log: {}\n", e.value("audit_log", std::string("-")));
	fmt::print("  fanotify mode does NOT protect (BPF LSM mode does):\n");
	for (auto &l : e.value("lacks", nlohmann::json::array()))
		fmt::print("    - {}\n", l.get<std::string>());
}

int cmd_status(const std::string &run_dir, bool as_json)
{
	auto r = control::control_request(run_dir, {{"cmd", "status"}});
	if (!r)
		return report(r.error());
	// Which signed-BPF path this kernel takes, probed here: eima status runs where eimad does.
	auto signing = bpfsign::probe_signing_path();
	std::string signing_text = signing ? bpfsign::signing_path_name(*signing)
					   : "unknown (" + signing.error().message() + ")";
	if (as_json) {
		(*r)["bpf_signing"] = signing_text;
		fmt::print("{}\n", json_dump(*r, 2));
		return 0;
	}
	auto &s = *r;
	fmt::print("mode:        {} — {}\n", s["mode"].get<std::string>(),
		   s["mode_reason"].get<std::string>());
	fmt::print("programs:    {}\n", fmt::join(s["programs"].get<std::vector<std::string>>(), ", "));
	if (auto o = s.value("programs_object", nlohmann::json()); o.is_object())
		fmt::print("  from:      {} ({})\n", o.value("object", ""), o.value("loaded", ""));
	fmt::print("bpf signing: {}{}\n", signing_text,
		   signing && *signing == bpfsign::SigningPath::native
			   ? " (the kernel checks BPF signatures)"
			   : signing ? " (eima checks BPF signatures in user space)" : "");
	fmt::print("digests:     {} ({} used, {} of another algorithm)\n",
		   s.value("kernel_digest", std::string("-")),
		   s.value("kernel_digests_used", std::uint64_t{0}),
		   s.value("kernel_digests_unusable", std::uint64_t{0}));
	fmt::print("tpm:         {}\n", s["tpm"].get<std::string>());
	// Not open: stalled, lost or failed, with why and how far behind the list it is
	// (docs/failure-modes.md).
	if (s.contains("tpm_health") && s["tpm_health"] != "open")
		fmt::print("tpm state:   {} ({} host entries pending)\n",
			   s["tpm_health"].get<std::string>(), s.value("tpm_pending", std::uint64_t{0}));
	fmt::print("policy:      {} ({} rules)\n", s["policy"].get<std::string>(),
		   s["policy_rules"].get<std::size_t>());
	for (auto &u : s["policy_unsupported"])
		fmt::print("  not honoured: {}\n", u.get<std::string>());
	fmt::print("template:    {} ({})\n", s["template"].get<std::string>(),
		   s["hash"].get<std::string>());
	fmt::print("events:      {} ({} violations)\n", s["events"].get<std::uint64_t>(),
		   s["violations"].get<std::uint64_t>());
	fmt::print("host list:   {} entries\n", s["host_entries"].get<std::size_t>());
	if (s.contains("host_write_error"))
		fmt::print("host list:   not written: {}\n", s["host_write_error"].get<std::string>());
	if (s.value("host_lost_entries", std::uint64_t{0}))
		fmt::print("host list:   {} entries lost (a violation says how many)\n",
			   s["host_lost_entries"].get<std::uint64_t>());
	// Pinning across restarts (docs/restart.md): where, and what this start adopted.
	fmt::print("pinning:     {}\n", s.value("pinning", std::string("-")));
	if (s.value("probe_adopted", false))
		fmt::print("adopted:     from eimad {}: {} events ({} bytes) queued while it was "
			   "down{}{}\n",
			   s.value("adopted_from_pid", 0u), s.value("adopted_queued_events", 0u),
			   s.value("adopted_queued_bytes", std::uint64_t{0}),
			   s.value("adopted_uncommitted", false)
				   ? "; it died mid-drain (interruption entry)"
				   : "",
			   s.value("adopted_policy_changed", false) ? "; policy changed" : "");
	else if (!s.value("probe_adoption", std::string()).empty())
		fmt::print("adopted:     no ({})\n", s["probe_adoption"].get<std::string>());
	fmt::print("containers:  {} running, {} exited (vTPM per container: {})\n",
		   s["containers"].get<std::size_t>(), s.value("containers_exited", std::size_t{0}),
		   s.value("vtpm", std::string("none")));
	// The BPF LSM appraisal's part; fanotify's is print_enforcement's.
	if (s.contains("enforcement") && s["enforcement"].is_object() &&
	    s["enforcement"].value("mechanism", std::string()) != "fanotify") {
		auto &e = s["enforcement"];
		auto &k = e["kfuncs"];
		auto yes = [](const nlohmann::json &v) {
			return v.is_boolean() && v.get<bool>() ? "yes" : "no";
		};
		fmt::print("appraisal:   {} ({}), blessings in {}\n", e.value("mode", "off"),
			   e.value("why", ""), e.value("blessing_xattr", ""));
		if (e.contains("keyring"))
			fmt::print("keyring:     {} ({}), {} trusted certificate(s)\n",
				   e["keyring"].get<std::int64_t>(), e.value("keyring_description", ""),
				   e["certs"].size());
		for (auto &c : e.value("certs", nlohmann::json::array()))
			fmt::print("  cert:      {} ({})\n", c.value("subject", ""), c.value("path", ""));
		fmt::print("kfuncs:      bpf_ima_file_hash in hooks: {}, bpf_get_file_xattr: {}, "
			   "bpf_verify_pkcs7_signature: {}, bpf_lookup_user_key: {}, "
			   "security.bpf.* xattrs: {}, change hooks read xattrs: {}\n",
			   s.value("kernel_digest", std::string("-")).starts_with("bpf_ima") ? "yes" : "no",
			   yes(k["bpf_get_file_xattr"]), yes(k["bpf_verify_pkcs7_signature"]),
			   yes(k["bpf_lookup_user_key"]), yes(k["security_bpf_xattrs"]),
			   yes(k.value("change_hooks_read_xattr", false)));
		if (e.contains("audit_log"))
			fmt::print("audit log:   {} ({} decisions this run)\n",
				   e["audit_log"].get<std::string>(), e.value("decisions_recorded", 0u));
	}
	if (s.contains("kernel"))
		fmt::print("kernel:      {}\n", json_dump(s["kernel"]));
	print_enforcement(s.value("enforcement", nlohmann::json()));
	if (auto p = s.value("protection", nlohmann::json()); p.value("on", false)) {
		fmt::print("protection:  on{} — {} BPF objects, {} pin directories, {} keys; "
			   "refused: {}\n",
			   p.value("test_bypass", false) ? " (TEST BYPASS)" : "",
			   p.value("objects", 0u), p.value("pin_directories", 0u), p.value("keys", 0u),
			   json_dump(p.value("refused", nlohmann::json::object())));
		if (auto progs = p.value("programs", nlohmann::json()); progs.is_object())
			fmt::print("             its programs: {}, loaded {}\n",
				   progs.value("object", std::string("?")),
				   progs.value("loaded", std::string("?")));
	} else
		fmt::print("protection:  off ({})\n",
			   p.value("why_off", std::string("eimad --protect")));
	// func=BPF_CHECK of eimad's policy (docs/signed-bpf.md): what eimad applies, or why not.
	if (auto b = s.value("bpf_check", nlohmann::json()); b.is_object()) {
		fmt::print("bpf loads:   {}: {}\n", b.value("mode", std::string("none")),
			   b.value("state", std::string("-")));
		if (b.contains("pins"))
			fmt::print("  policy {} ({}), pins {}, {} refusals written\n",
				   b.value("object", std::string("-")),
				   b.value("signing_path", std::string("-")), json_dump(b["pins"]),
				   b.value("events_written", std::uint64_t{0}));
	}
	return 0;
}

int cmd_ps(const std::string &run_dir, bool as_json)
{
	auto r = control::control_request(run_dir, {{"cmd", "ps"}});
	if (!r)
		return report(r.error());
	if (as_json) {
		fmt::print("{}\n", json_dump(*r, 2));
		return 0;
	}
	// Exited containers keep their list and final evidence but have no namespaces left.
	fmt::print("{:<24} {:<20} {:>10} {:>10} {:>10} {:>12} {:>7} {:>10} {:<8} {}\n", "ID",
		   "RUNTIME", "MNTNS", "PIDNS", "UTSNS", "CGROUP", "ENTRIES", "VIOLATIONS", "STATE",
		   "VTPM");
	for (auto &c : (*r)["containers"]) {
		std::string runtime = c.value("runtime", "");
		if (std::string ns = c.value("namespace", ""); !ns.empty())
			runtime += "/" + ns; // containerd/k8s.io: ids are per namespace
		std::string vtpm = c.contains("vtpm") ? c["vtpm"].value("state", "") : "-";
		fmt::print("{:<24} {:<20} {:>10} {:>10} {:>10} {:>12} {:>7} {:>10} {:<8} {}\n",
			   c.value("id", ""), runtime.empty() ? "-" : runtime,
			   c.value("mntns", std::uint64_t{0}), c.value("pidns", std::uint64_t{0}),
			   c.value("utsns", std::uint64_t{0}), c.value("cgroup_id", std::uint64_t{0}),
			   c.value("entries", std::size_t{0}), c.value("violations", std::size_t{0}),
			   c.value("state", ""), vtpm);
	}
	return 0;
}

int cmd_log_show(const std::string &run_dir, const std::string &container, bool as_json)
{
	std::string dir = list_dir(run_dir, container);
	if (!as_json) {
		auto text = read_file(dir + "/ascii_runtime_measurements");
		if (!text)
			return report(text.error());
		fmt::print("{}", *text);
		return 0;
	}
	auto bytes = read_file(dir + "/binary_runtime_measurements");
	if (!bytes)
		return report(bytes.error());
	auto log = ima::read_binary_log(as_bytes(*bytes));
	if (!log)
		return report(log.error());
	json out = json::array();
	for (auto &e : log->entries) {
		json j = {{"pcr", e.pcr},
			  {"template", e.template_name},
			  {"template_hash", to_hex(e.template_hash_sha1)},
			  {"violation", ima::is_violation(e)}};
		if (auto d = ima::file_digest(e)) {
			j["digest"] = std::string(d->algo_name) + ":" + to_hex(d->digest);
		}
		if (auto n = ima::event_name(e))
			j["path"] = std::string(*n);
		out.push_back(j);
	}
	fmt::print("{}\n", json_dump(out, 2));
	return 0;
}

// --pcrs [ALGO,]FILE: evmctl's PCR file; the bank is named or told by the digest length.
Result<std::pair<ima::HashAlgo, ima::PcrValues>> read_pcr_arg(const std::string &arg)
{
	std::string path = arg;
	std::optional<ima::HashAlgo> bank;
	if (auto comma = arg.find(','); comma != std::string::npos) {
		bank = ima::hash_algo_from_name(arg.substr(0, comma));
		if (!bank)
			return fail("--pcrs", "unknown bank in " + arg);
		path = arg.substr(comma + 1);
	}
	auto text = read_file(path);
	if (!text)
		return std::unexpected(text.error());
	if (!bank) {
		auto colon = text->find(':');
		auto end = text->find('\n', colon);
		std::size_t hexlen = colon == std::string::npos ? 0 : end - colon - 2;
		for (auto a : ima::all_hash_algos)
			if (ima::digest_size(a) * 2 == hexlen && !bank)
				bank = a;
		if (!bank)
			return fail("--pcrs", path + ": cannot tell the bank; write ALGO,FILE");
	}
	auto values = ima::parse_pcr_file(*text, *bank);
	if (!values) {
		Error e = values.error();
		e.context = path + ": " + e.context;
		return std::unexpected(e);
	}
	return std::make_pair(*bank, *values);
}

int cmd_log_verify(const std::string &file, const std::vector<std::string> &pcr_args,
		   bool as_json, const std::string &runtime_policy = {})
{
	std::map<ima::HashAlgo, ima::PcrValues> pcrs;
	for (auto &arg : pcr_args) {
		auto p = read_pcr_arg(arg);
		if (!p)
			return report(p.error());
		pcrs[p->first] = p->second;
	}
	// Streamed from a mapping of the file: a parse error is part of the report.
	auto verified = attest::verify_log_file(file, pcrs);
	if (!verified)
		return report(verified.error());
	auto &rep = *verified;
	if (!runtime_policy.empty())
		if (auto r = cli::check_runtime_policy(runtime_policy, file, rep); !r)
			return report(r.error());
	if (as_json) {
		fmt::print("{}\n", json_dump(rep.to_json(), 2));
	} else {
		if (rep.parse_error)
			fmt::print(stderr, "eima: parse measurement list: {}\n", *rep.parse_error);
		fmt::print("{}: {} entries, {} violations, {} template hash errors\n", file,
			   rep.entries, rep.violations, rep.template_hash_errors.size());
		for (auto &[i, why] : rep.template_hash_errors)
			fmt::print("  entry {}: {}\n", i, why);
		for (auto &[bank, list] : rep.pcr_mismatches)
			fmt::print("  {}: PCRs {} do not match the replay\n", ima::hash_algo_name(bank),
				   fmt::join(list, ","));
		for (auto &[bank, i] : rep.early_match)
			fmt::print("  {}: the PCRs already matched after entry {}: entries were "
				   "appended\n",
				   ima::hash_algo_name(bank), i);
		if (rep.pcr_match)
			fmt::print("PCRs: {}\n", *rep.pcr_match ? "match at the last entry" : "MISMATCH");
		cli::print_policy_failures(rep);
	}
	return rep.ok() ? 0 : 1;
}

ima::PcrValues pcr_values(const json &bank_json)
{
	ima::PcrValues values;
	for (auto &[k, v] : bank_json.items())
		if (auto bytes = from_hex(v.get<std::string>()))
			values[static_cast<std::uint32_t>(std::stoul(k))] = *bytes;
	return values;
}

// The first `entries` records of a list, as bytes of the binary and the ascii file: the
// list only grows, so a prefix read after the PCRs were is the list they cover.
Result<void> write_list_prefix(const std::string &dir, std::size_t entries, const std::string &out)
{
	auto bin = read_file(dir + "/binary_runtime_measurements");
	if (!bin)
		return std::unexpected(bin.error());
	auto cut = attest::cut_binary_list(as_bytes(*bin), entries);
	if (!cut) {
		Error e = cut.error();
		e.context = dir + ": " + e.context;
		return std::unexpected(e);
	}
	if (auto r = write_file(out + "/binary_runtime_measurements", *cut); !r)
		return r;
	auto ascii = read_file(dir + "/ascii_runtime_measurements");
	if (!ascii)
		return std::unexpected(ascii.error());
	std::size_t pos = 0;
	for (std::size_t i = 0; i < entries && pos != std::string::npos; ++i)
		pos = ascii->find('\n', pos) + 1;
	return write_file(out + "/ascii_runtime_measurements", ascii->substr(0, pos));
}

int cmd_pcrs(const std::string &run_dir, const std::string &container, const std::string &bank,
	     const std::string &format, const std::string &snapshot)
{
	std::vector<std::string> banks{bank};
	if (!snapshot.empty())
		banks = {"sha1", "sha256"};
	json req = {{"cmd", "pcrs"}, {"banks", banks}};
	if (!container.empty())
		req["container"] = container;
	auto r = control::control_request(run_dir, req);
	if (!r)
		return report(r.error());
	if (!snapshot.empty()) {
		// PCRs and exactly the entries they cover, for evmctl and eima log verify.
		for (auto &b : banks) {
			auto algo = ima::hash_algo_from_name(b);
			auto text = ima::format_pcr_file(pcr_values((*r)["banks"][b]), *algo);
			if (auto w = write_file(snapshot + "/pcrs." + b, text); !w)
				return report(w.error());
		}
		auto entries = (*r)["entries"].get<std::size_t>();
		if (auto w = write_list_prefix(list_dir(run_dir, container), entries, snapshot); !w)
			return report(w.error());
		fmt::print("{}: {} entries, PCRs from the {}\n", snapshot, entries,
			   (*r)["source"].get<std::string>() == "tpm" ? "TPM" : "list's replay");
		return 0;
	}
	if (format == "json") {
		fmt::print("{}\n", json_dump(*r, 2));
		return 0;
	}
	fmt::print("{}", ima::format_pcr_file(pcr_values((*r)["banks"][bank]),
					      *ima::hash_algo_from_name(bank)));
	return 0;
}

// The func=BPF_CHECK part of `eima policy check`: what `eima bpf enforce --policy` applies.
void print_bpf_check(const std::string &file, const policy::BpfCheckPolicy &bpf)
{
	using Mode = policy::BpfCheckPolicy::Mode;
	if (bpf.mode != Mode::none)
		fmt::print("{}:{}: BPF loads: {} — {}; trusted keyrings: {}; tasks: {}\n", file,
			   bpf.line, policy::bpf_check_mode_name(bpf.mode),
			   bpf.mode == Mode::enforce
				   ? "only signed BPF, anything else refused (EPERM)"
				   : "what enforce would refuse is recorded, nothing refused",
			   bpf.keyrings.empty()
				   ? std::string("the policy object's own")
				   : "the policy object's own and " + fmt::format("{}", fmt::join(bpf.keyrings, ", ")),
			   bpf.cgroup ? "of cgroup " + *bpf.cgroup + " only" : std::string("all"));
	for (const auto &e : bpf.exceptions)
		fmt::print("{}:{}: BPF loads: exception: the tasks of cgroup {} are not judged{}\n",
			   file, e.line, e.cgroup,
			   bpf.mode == Mode::none ? " (no appraise or audit func=BPF_CHECK rule)" : "");
}

int cmd_policy_check(const std::string &file, const std::string &mode, bool as_json)
{
	// A file, else a built-in by eimad's --policy name (exec, tcb), as eimad reads it.
	auto text = read_file(file);
	if (!text && !policy::builtin_policy_text(file).empty())
		text = std::string(policy::builtin_policy_text(file));
	if (!text)
		return report(text.error());
	auto check = policy::check_policy(*text, file,
					  mode == "lsm" ? policy::KernelMode::lsm
							: policy::KernelMode::trace);
	json j = policy::check_report(check);
	// What eimad's "eima-policy" host list entry holds with this policy in this mode
	// (docs/measurer.md), for a runtime policy's ima_buf.
	if (!check.compiled.empty())
		if (auto d = ima::digest(ima::HashAlgo::sha256, check.compiled))
			j["eima_policy_sha256"] = to_hex(*d);
	if (as_json) {
		fmt::print("{}\n", json_dump(j, 2));
	} else {
		for (auto &e : j["errors"])
			fmt::print(stderr, "{}:{}: {} (token '{}')\n", file, e["line"].get<int>(),
				   e["message"].get<std::string>(), e["token"].get<std::string>());
		for (auto &u : j["unsupported"])
			fmt::print("{}:{}: not honoured in {} mode: {}\n", file, u["line"].get<int>(),
				   mode, u["reason"].get<std::string>());
		print_bpf_check(file, check.bpf);
		fmt::print("{}: {} rules, {}\n", file, j["rules"].get<int>(),
			   j["errors"].empty() ? "valid" : "INVALID");
		if (j.contains("eima_policy_sha256"))
			fmt::print("eima-policy in {} mode: sha256:{}\n", mode,
				   j["eima_policy_sha256"].get<std::string>());
	}
	return j["errors"].empty() ? 0 : 1;
}

} // namespace

int main(int argc, char **argv)
{
	CLI::App app{"eima: per-container IMA measurement from eBPF"};
	app.set_version_flag("--version", "eima " EIMA_VERSION);
	app.require_subcommand(1);
	std::string run_dir = "/run/eima", container, bank = "sha256", format = "evmctl",
		    policy_file, mode = "lsm";
	bool as_json = false;

	auto add_run_dir = [&](CLI::App *c) {
		c->add_option("--run-dir", run_dir, "eimad's run directory (default /run/eima)");
	};
	auto *status = app.add_subcommand("status", "mode, TPM, policy and counters of eimad");
	add_run_dir(status);
	status->add_flag("--json", as_json);
	auto *ps = app.add_subcommand("ps", "containers eimad has measured");
	add_run_dir(ps);
	ps->add_flag("--json", as_json);
	auto *log = app.add_subcommand("log", "measurement lists");
	log->require_subcommand(1);
	auto *show = log->add_subcommand("show", "print a measurement list");
	add_run_dir(show);
	show->add_option("--container", container, "a container id (default: the host list)");
	show->add_flag("--json", as_json);
	std::vector<std::string> pcr_files;
	std::string log_file;
	auto *verify = log->add_subcommand("verify", "check a list's template hashes and replay");
	verify->add_option("LOG", log_file, "ascii or binary list")->required();
	verify->add_option("--pcrs", pcr_files, "[ALGO,]FILE of PCR-NN: HEX lines (repeatable)");
	verify->add_flag("--json", as_json);
	std::string runtime_policy;
	verify->add_option("--policy", runtime_policy,
			   "runtime policy (eima JSON or Keylime) the entries must satisfy")
		->check(CLI::ExistingFile);
	auto *pcrs = app.add_subcommand("pcrs", "PCR values matching a list");
	add_run_dir(pcrs);
	pcrs->add_option("--container", container, "a container id (default: the host TPM)");
	pcrs->add_option("--bank", bank, "sha1 | sha256")
		->check(CLI::IsMember({"sha1", "sha256", "sha384", "sha512"}));
	pcrs->add_option("--format", format, "evmctl (PCR-NN: HEX lines) | json")
		->check(CLI::IsMember({"evmctl", "json"}));
	std::string snapshot;
	pcrs->add_option("--snapshot", snapshot,
			 "write DIR/pcrs.sha1, DIR/pcrs.sha256 and the list entries they cover")
		->check(CLI::ExistingDirectory);
	auto *pol = app.add_subcommand("policy", "IMA policies");
	pol->require_subcommand(1);
	cli::add_runtime_policy_commands(pol);
	auto *check = pol->add_subcommand("check", "validate an IMA policy");
	check->add_option("FILE", policy_file)->required();
	check->add_option("--mode", mode, "judge support for lsm (default) or trace mode")
		->check(CLI::IsMember({"lsm", "trace"}));
	check->add_flag("--json", as_json);
	cli::add_attest_commands(app);
	cli::add_sbom_commands(app);
	cli::add_audit_commands(app);
	cli::add_events_command(app);
	cli::add_bpf_commands(app);
	cli::add_enroll_commands(app);
	cli::add_stop_command(app);
	CLI11_PARSE(app, argc, argv);

	if (*status)
		return cmd_status(run_dir, as_json);
	if (*ps)
		return cmd_ps(run_dir, as_json);
	if (*show)
		return cmd_log_show(run_dir, container, as_json);
	if (*verify)
		return cmd_log_verify(log_file, pcr_files, as_json, runtime_policy);
	if (auto rc = cli::run_attest_commands())
		return *rc;
	if (auto rc = cli::run_runtime_policy_commands())
		return *rc;
	if (auto rc = cli::run_sbom_commands())
		return *rc;
	if (auto rc = cli::run_audit_commands())
		return *rc;
	if (auto rc = cli::run_events_command())
		return *rc;
	if (auto rc = cli::run_bpf_commands())
		return *rc;
	if (auto rc = cli::run_enroll_commands())
		return *rc;
	if (auto rc = cli::run_stop_command())
		return *rc;
	if (*pcrs)
		return cmd_pcrs(run_dir, container, bank, format, snapshot);
	if (*check)
		return cmd_policy_check(policy_file, mode, as_json);
	return 1;
}
