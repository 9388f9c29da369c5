#include "cli/policy_commands.h"
#include "cli/report.h"
#include "common/file_io.h"
#include "common/json_text.h"

#include <fmt/format.h>

#include <iostream>

#include "attest/keylime_policy.h"
#include "attest/sbom_policy.h"

namespace eima::cli {

namespace {

Result<void> write_out(const std::string &path, const std::string &text)
{
	if (path.empty() || path == "-") {
		std::cout << text;
		std::cout.flush();
		return std::cout ? Result<void>{} : fail(errno, "write", "stdout");
	}
	return write_file(path, text);
}

struct State {
	std::vector<std::string> import_in;
	std::string import_out, export_in, export_out, from_log_in, from_log_out;
	std::string from_sbom_in, from_sbom_out;
	bool from_sbom_keylime = false;
	CLI::App *from_log_cmd = nullptr;
	CLI::App *from_sbom_cmd = nullptr;
	CLI::App *import_cmd = nullptr;
	CLI::App *export_cmd = nullptr;
};

State &state()
{
	static State s;
	return s;
}

} // namespace

int cmd_policy_import_keylime(const std::vector<std::string> &in, const std::string &out)
{
	attest::RuntimePolicy merged;
	bool first = true;
	for (auto &path : in) {
		auto text = read_file(path);
		if (!text)
			return report(text.error());
		auto imp = attest::import_keylime(*text, path);
		if (!imp)
			return report(imp.error());
		auto &p = imp->policy;
		fmt::print(stderr, "{}: {}: {} paths, {} digests, {} excludes, {} keyrings, {} ima-buf\n",
			   path, attest::keylime_format_name(imp->format), p.digests.size(),
			   attest::digest_count(p.digests), p.exclude_regexes.size(), p.keyrings.size(),
			   p.ima_buf.size());
		if (first)
			merged = std::move(p);
		else
			attest::merge_policy(merged, p);
		first = false;
	}
	if (auto w = write_out(out, json_dump(attest::runtime_policy_to_json(merged), 2) + "\n"); !w)
		return report(w.error());
	return 0;
}

int cmd_policy_import_keylime(const std::string &in, const std::string &out)
{
	return cmd_policy_import_keylime(std::vector<std::string>{in}, out);
}

int cmd_policy_from_log(const std::string &in, const std::string &out)
{
	auto bytes = read_file(in);
	if (!bytes)
		return report(bytes.error());
	auto log = attest::read_any_log(*bytes, in);
	if (!log)
		return report(log.error());
	auto built = attest::policy_from_log(*log);
	if (!built) {
		Error e = built.error();
		e.context = in + ": " + e.context;
		return report(e);
	}
	auto &p = built->policy;
	fmt::print(stderr, "{}: {} entries: {} paths, {} ima-buf names, {} keyrings{}\n", in,
		   built->entries, p.digests.size(), p.ima_buf.size(), p.keyrings.size(),
		   built->violations_skipped
			   ? fmt::format("; {} violations allow nothing", built->violations_skipped)
			   : "");
	if (auto w = write_out(out, json_dump(attest::runtime_policy_to_json(p), 2) + "\n"); !w)
		return report(w.error());
	return 0;
}

int cmd_policy_from_sbom(const std::string &in, const std::string &out, bool keylime)
{
	auto built = attest::policy_from_sbom(in);
	if (!built)
		return report(built.error());
	fmt::print(stderr,
		   "{}: {} files: {} paths with {} digests; {} files without a usable digest, {} "
		   "placeholders{}\n",
		   in, built->sbom.files, built->paths, built->digests,
		   built->sbom.files_without_digest, built->sbom.placeholder_digests,
		   built->digests_skipped
			   ? fmt::format(", {} digests of algorithms IMA does not have",
					 built->digests_skipped)
			   : "");
	nlohmann::json j;
	if (keylime) {
		auto k = attest::export_keylime(built->policy);
		if (!k)
			return report(k.error());
		j = std::move(*k);
	} else {
		j = attest::runtime_policy_to_json(built->policy);
	}
	// Keylime's own tools write the policy on one line with json.dumps' separators.
	if (auto w = write_out(out, json_dump(j, keylime ? -1 : 2) + "\n"); !w)
		return report(w.error());
	return 0;
}

int cmd_policy_export_keylime(const std::string &in, const std::string &out)
{
	auto text = read_file(in);
	if (!text)
		return report(text.error());
	auto p = attest::parse_runtime_policy(*text, in);
	if (!p)
		return report(p.error());
	auto k = attest::export_keylime(*p);
	if (!k)
		return report(k.error());
	// Keylime's own tools write the policy on one line with json.dumps' separators.
	if (auto w = write_out(out, json_dump(*k) + "\n"); !w)
		return report(w.error());
	return 0;
}

void add_runtime_policy_commands(CLI::App *policy_subcommand)
{
	auto &s = state();
	s.from_log_cmd = policy_subcommand->add_subcommand(
		"from-log", "a runtime policy allowing exactly what a known-good list holds");
	s.from_log_cmd->add_option("LOG", s.from_log_in, "ascii or binary measurement list")
		->required();
	s.from_log_cmd->add_option("-o,--output", s.from_log_out,
				   "eima runtime policy JSON (default stdout)");
	s.from_sbom_cmd = policy_subcommand->add_subcommand(
		"from-sbom", "a runtime policy allowing exactly the digests an SBOM declares");
	s.from_sbom_cmd->add_option("SBOM", s.from_sbom_in, "SPDX or CycloneDX (eima sbom inspect)")
		->required();
	s.from_sbom_cmd->add_option("-o,--output", s.from_sbom_out,
				    "runtime policy JSON (default stdout)");
	s.from_sbom_cmd->add_flag("--keylime", s.from_sbom_keylime,
				  "write a Keylime runtime policy instead of eima's");
	s.import_cmd = policy_subcommand->add_subcommand(
		"import-keylime",
		"convert Keylime runtime policies, allowlists and exclude lists to eima's runtime policy");
	s.import_cmd->add_option("FILE", s.import_in, "Keylime file(s); several are merged")
		->required()
		->check(CLI::ExistingFile);
	s.import_cmd->add_option("-o,--output", s.import_out, "eima runtime policy JSON (default stdout)");
	s.export_cmd = policy_subcommand->add_subcommand(
		"export-keylime", "write an eima runtime policy as a Keylime runtime policy");
	s.export_cmd->add_option("FILE", s.export_in, "eima runtime policy JSON")
		->required()
		->check(CLI::ExistingFile);
	s.export_cmd->add_option("-o,--output", s.export_out, "Keylime runtime policy (default stdout)");
}

std::optional<int> run_runtime_policy_commands()
{
	auto &s = state();
	if (s.from_log_cmd && *s.from_log_cmd)
		return cmd_policy_from_log(s.from_log_in, s.from_log_out);
	if (s.from_sbom_cmd && *s.from_sbom_cmd)
		return cmd_policy_from_sbom(s.from_sbom_in, s.from_sbom_out, s.from_sbom_keylime);
	if (s.import_cmd && *s.import_cmd)
		return cmd_policy_import_keylime(s.import_in, s.import_out);
	if (s.export_cmd && *s.export_cmd)
		return cmd_policy_export_keylime(s.export_in, s.export_out);
	return std::nullopt;
}

Result<attest::RuntimePolicy> load_runtime_policy(const std::string &path)
{
	auto text = read_file(path);
	if (!text)
		return std::unexpected(text.error());
	auto p = attest::parse_runtime_policy(*text, path);
	if (p)
		return p;
	// Not eima's format: a Keylime file is judged as Keylime would judge it. The error
	// shown is eima's when the file is no Keylime policy either.
	if (auto k = attest::import_keylime(*text, path); k)
		return std::move(k->policy);
	return p;
}

Result<void> check_runtime_policy(const std::string &policy_path, const std::string &log_path,
				  attest::LogReport &report)
{
	auto policy = load_runtime_policy(policy_path);
	if (!policy)
		return std::unexpected(policy.error());
	if (report.parse_error)
		return {};
	auto bytes = read_file(log_path);
	if (!bytes)
		return std::unexpected(bytes.error());
	auto log = attest::read_any_log(*bytes, log_path);
	if (!log)
		return std::unexpected(log.error());
	attest::apply_runtime_policy(*policy, *log, report);
	return {};
}

void print_policy_failures(const attest::LogReport &report, std::size_t limit)
{
	if (report.policy_failures.empty())
		return;
	fmt::print("policy: {} entries not allowed\n", report.policy_failures.size());
	std::size_t shown = 0;
	for (auto &f : report.policy_failures) {
		if (shown++ == limit) {
			fmt::print("  ... ({} more; --json lists all)\n",
				   report.policy_failures.size() - limit);
			break;
		}
		fmt::print("  entry {}: {} {}: {}\n", f.entry, f.path, f.digest, f.reason);
	}
}

} // namespace eima::cli
