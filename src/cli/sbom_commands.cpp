#include "cli/sbom_commands.h"

#include <unistd.h>

#include <chrono>
#include <memory>

#include <fmt/format.h>

#include "attest/keylime_policy.h"
#include "attest/log_verifier.h"
#include "attest/runtime_policy.h"
#include "cli/drift_command.h"
#include "cli/report.h"
#include "common/file_io.h"
#include "common/json_text.h"
#include "control/control_protocol.h"
#include "sbom/sbom.h"
#include "sbom/sbom_report.h"
#include "sbom/tree_blesser.h"

namespace eima::cli {
namespace {

struct SbomOptions {
	std::string file;
	bool as_json = false;
};

SbomOptions sbom_opts;
CLI::App *inspect_cmd = nullptr;
CLI::App *files_cmd = nullptr;
sbom::BlessOptions bless_opts;
std::string bless_from_log, bless_allowlist;
std::string bless_run_dir; // --run-dir: ask that eimad to let this process change blessed files
std::string bless_hash = "sha256";
bool bless_json = false;
CLI::App *bless_cmd = nullptr;

int cmd_sbom_inspect(const SbomOptions &o)
{
	auto s = sbom::read_sbom(o.file);
	if (!s)
		return report(s.error());
	if (o.as_json) {
		fmt::print("{}\n", json_dump(sbom::summary_json(*s), 2));
		return 0;
	}
	fmt::print("format:        {} ({}) {}\n", sbom::format_name(s->format),
		   sbom::encoding_name(s->encoding), s->spec_version);
	fmt::print("name:          {}\n", s->name);
	if (s->format == sbom::Format::spdx)
		fmt::print("packages:      {}\n", s->packages);
	else
		fmt::print("components:    {}\n", s->components);
	fmt::print("files:         {} ({} without a usable digest)\n", s->files,
		   s->files_without_digest);
	for (auto &[algo, n] : s->file_digests)
		fmt::print("  {:<12} {} files\n", algo, n);
	fmt::print("placeholders:  {} all-zero digests (never trusted)\n", s->placeholder_digests);
	if (s->invalid_digests)
		fmt::print("invalid:       {} digests that are not hex of their algorithm's size\n",
			   s->invalid_digests);
	return 0;
}

// Streams: each entry is printed as it is read, so a huge SBOM is never held.
int cmd_sbom_files(const SbomOptions &o)
{
	bool first = true;
	if (o.as_json)
		fmt::print("[");
	auto s = sbom::read_sbom(o.file, [&](sbom::SbomFile &&f) {
		if (o.as_json) {
			fmt::print("{}\n  {}", first ? "" : ",", json_dump(sbom::file_json(f)));
			first = false;
			return;
		}
		std::string digests;
		for (auto &d : f.digests)
			digests += fmt::format("{}{}:{}", digests.empty() ? "" : ",", d.algo, d.hex);
		fmt::print("{} {}\n", digests.empty() ? "-" : digests, f.path);
	});
	if (o.as_json)
		fmt::print("{}]\n", first ? "" : "\n");
	if (!s)
		return report(s.error());
	return 0;
}

// A bar on stderr, only when stderr is a terminal, at most ten times a second.
sbom::BlessProgress progress_bar()
{
	if (!::isatty(STDERR_FILENO))
		return {};
	auto last = std::make_shared<std::chrono::steady_clock::time_point>();
	return [last](std::uint64_t bytes, std::uint64_t total, std::size_t files,
		      std::size_t files_total) {
		auto now = std::chrono::steady_clock::now();
		if (files != files_total && now - *last < std::chrono::milliseconds(100))
			return;
		*last = now;
		constexpr int width = 40;
		double frac = total ? static_cast<double>(bytes) / static_cast<double>(total) : 1.0;
		int filled = static_cast<int>(frac * width);
		fmt::print(stderr, "\r[{:=<{}}{: <{}}] {:3.0f}% {} MiB, {} files", "", filled, "",
			   width - filled, frac * 100, bytes >> 20, files);
		if (files == files_total)
			fmt::print(stderr, "\n");
	};
}

nlohmann::json blessed_file_json(const sbom::BlessedFile &f)
{
	nlohmann::json j = {{"path", f.path},
			    {"status", sbom::bless_status_name(f.status)}};
	if (!f.algo.empty())
		j["algo"] = f.algo;
	if (!f.expected.empty())
		j["expected"] = f.expected;
	if (!f.actual.empty())
		j["actual"] = f.actual;
	if (!f.error.empty())
		j["error"] = f.error;
	return j;
}

// The known-good digests of a runtime policy, per path, as bless takes them. Not paths:
// boot_aggregate, keyrings and ima-buf names are not files.
std::vector<sbom::SbomFile> known_good_files(const attest::RuntimePolicy &p)
{
	std::vector<sbom::SbomFile> out;
	for (auto &[path, digests] : p.digests) {
		if (path == ima::boot_aggregate_name)
			continue;
		sbom::SbomFile f{.path = path};
		for (auto &d : digests)
			f.digests.push_back({sbom::normalise_algo(d.algo), to_hex(d.value)});
		out.push_back(std::move(f));
	}
	return out;
}

// --from-log: a known-good measurement list (ascii or binary), read as `eima policy
// from-log` reads it; --allowlist: eima's runtime policy, a Keylime runtime policy or JSON
// allowlist, or a flat allowlist ("HEX  PATH" lines).
Result<std::vector<sbom::SbomFile>> read_known_good(const std::string &log,
						    const std::string &allowlist)
{
	const std::string &path = log.empty() ? allowlist : log;
	auto text = read_file(path);
	if (!text)
		return std::unexpected(text.error());
	if (!log.empty()) {
		auto parsed = attest::read_any_log(*text, path);
		if (!parsed)
			return std::unexpected(parsed.error());
		auto built = attest::policy_from_log(*parsed);
		if (!built)
			return fail(built.error().op, path + ": " + built.error().context);
		return known_good_files(built->policy);
	}
	auto own = attest::parse_runtime_policy(*text, path);
	if (own)
		return known_good_files(*own);
	auto keylime = attest::import_keylime(*text, path);
	if (!keylime)
		return fail("read allowlist",
			    fmt::format("{}: neither an eima runtime policy ({}) nor a Keylime "
					"policy or allowlist ({})",
					path, own.error().message(), keylime.error().message()));
	return known_good_files(keylime->policy);
}

// Exit status: 0 when every listed file present was blessed or had nothing to check, 2 when
// a file's content differs from its SBOM (or known-good) entry or could not be handled, 1
// when the run itself failed (SBOM, list, key, root).
int cmd_bless(sbom::BlessOptions o, const std::string &hash, bool as_json)
{
	auto algo = ima::hash_algo_from_name(hash);
	if (!algo)
		return report(Error{0, "--hash", hash + ": not an algorithm eima hashes with"});
	o.sign_algo = *algo;
	int sources = !o.sbom_path.empty() + !bless_from_log.empty() + !bless_allowlist.empty();
	if (sources != 1)
		return report(Error{0, "bless", "give exactly one of --sbom, --from-log, --allowlist"});
	// Where eimad refuses changes to blessed files (lsm mode), re-blessing one needs its
	// leave, given to this process until it exits (docs/enforcement.md). Asked first: a
	// refusal stops the run before any file is touched.
	if (!bless_run_dir.empty() && !o.dry_run) {
		auto a = control::control_request(bless_run_dir, {{"cmd", "bless-authorize"}});
		if (!a)
			return report(Error{a.error().err, "authorize with eimad", a.error().message()});
	}
	Result<sbom::BlessReport> r;
	if (!o.sbom_path.empty()) {
		r = sbom::bless_tree(o, progress_bar());
	} else {
		auto known = read_known_good(bless_from_log, bless_allowlist);
		if (!known)
			return report(known.error());
		r = sbom::bless_tree_known_good(o, std::move(*known), progress_bar());
	}
	if (!r)
		return report(r.error());
	if (as_json) {
		nlohmann::json counts = nlohmann::json::object();
		for (auto s : {sbom::BlessStatus::blessed, sbom::BlessStatus::mismatched,
			       sbom::BlessStatus::missing, sbom::BlessStatus::unlisted,
			       sbom::BlessStatus::no_digest, sbom::BlessStatus::not_regular,
			       sbom::BlessStatus::failed})
			counts[sbom::bless_status_name(s)] = r->count(s);
		nlohmann::json files = nlohmann::json::array();
		for (auto &f : r->files)
			files.push_back(blessed_file_json(f));
		nlohmann::json source =
			!o.sbom_path.empty()
				? nlohmann::json{{"sbom", o.sbom_path}}
				: nlohmann::json{{bless_from_log.empty() ? "allowlist" : "log",
						  bless_from_log.empty() ? bless_allowlist
									 : bless_from_log}};
		nlohmann::json j = {{"sbom", o.sbom_path.empty() ? nlohmann::json()
								 : sbom::summary_json(r->sbom)},
				    {"source", std::move(source)},
				    {"dry_run", o.dry_run},
				    {"hash", hash},
				    {"blessing_xattr", o.blessing_xattr},
				    {"bytes_hashed", r->bytes_hashed},
				    {"counts", std::move(counts)},
				    {"files", std::move(files)}};
		fmt::print("{}\n", json_dump(j, 2));
	} else {
		for (auto &f : r->files) {
			if (f.status == sbom::BlessStatus::blessed)
				continue;
			std::string detail;
			if (f.status == sbom::BlessStatus::mismatched)
				detail = fmt::format(" ({}: SBOM {}, file {}{}{})", f.algo, f.expected,
						     f.actual, f.error.empty() ? "" : "; ", f.error);
			else if (!f.error.empty())
				detail = " (" + f.error + ")";
			fmt::print("{:<11} {}{}\n", sbom::bless_status_name(f.status), f.path, detail);
		}
		fmt::print("{}{} blessed, {} mismatched, {} missing, {} unlisted, {} without a "
			   "digest, {} not regular, {} failed\n",
			   o.dry_run ? "dry run: " : "", r->count(sbom::BlessStatus::blessed),
			   r->count(sbom::BlessStatus::mismatched),
			   r->count(sbom::BlessStatus::missing),
			   r->count(sbom::BlessStatus::unlisted),
			   r->count(sbom::BlessStatus::no_digest),
			   r->count(sbom::BlessStatus::not_regular),
			   r->count(sbom::BlessStatus::failed));
	}
	return r->ok() ? 0 : 2;
}

} // namespace

void add_sbom_commands(CLI::App &app)
{
	auto *sbom_cmd = app.add_subcommand("sbom", "SPDX and CycloneDX SBOMs");
	sbom_cmd->require_subcommand(1);
	inspect_cmd = sbom_cmd->add_subcommand("inspect", "what an SBOM holds: format, counts, "
							  "digest algorithms");
	inspect_cmd->add_option("FILE", sbom_opts.file, "SPDX (JSON, tag-value) or CycloneDX JSON")
		->required();
	inspect_cmd->add_flag("--json", sbom_opts.as_json);
	files_cmd = sbom_cmd->add_subcommand("files", "each file entry with its digests");
	files_cmd->add_option("FILE", sbom_opts.file, "SPDX (JSON, tag-value) or CycloneDX JSON")
		->required();
	files_cmd->add_flag("--json", sbom_opts.as_json);
	add_drift_command(*sbom_cmd);

	bless_cmd = app.add_subcommand("bless", "sign the files of a tree that match an SBOM, or a "
						"known-good list (security.ima and the eima blessing)");
	auto *sbom_opt =
		bless_cmd->add_option("--sbom", bless_opts.sbom_path, "the SBOM the files must match");
	auto *log_opt = bless_cmd->add_option(
		"--from-log", bless_from_log,
		"instead of an SBOM: a known-good measurement list (ascii or binary); a file is "
		"blessed when its content is one its path had in the list");
	auto *allow_opt = bless_cmd->add_option(
		"--allowlist", bless_allowlist,
		"instead of an SBOM: an eima runtime policy, a Keylime policy or allowlist, or "
		"sha256sum-style \"HEX  PATH\" lines");
	sbom_opt->excludes(log_opt)->excludes(allow_opt);
	log_opt->excludes(allow_opt);
	bless_cmd->add_option("--root", bless_opts.root, "the root file system to walk")
		->required()
		->check(CLI::ExistingDirectory);
	bless_cmd->add_option("--key", bless_opts.key_pem, "PEM private key")->required();
	bless_cmd->add_option("--cert", bless_opts.cert_pem, "PEM certificate of the key, with a "
							     "subject key identifier")
		->required();
	bless_cmd->add_flag("--dry-run", bless_opts.dry_run, "hash and compare, write nothing");
	bless_cmd->add_option("--hash", bless_hash,
			      "algorithm of the signatures, IMA's (default sha256)")
		->check(CLI::IsMember({"sha1", "sha256", "sha384", "sha512"}));
	bless_cmd->add_option("--xattr", bless_opts.blessing_xattr,
			      "xattr of the eima blessing: user.eima (default; what BPF reads on "
			      "6.12) or security.bpf.eima (6.13+)")
		->check(CLI::IsMember({"user.eima", "security.bpf.eima"}));
	bless_cmd->add_flag("--json", bless_json);
	bless_cmd->add_option("--run-dir", bless_run_dir,
			      "ask the eimad of this run directory to let this bless change files "
			      "that are already blessed, where it refuses such changes (lsm mode, "
			      "--appraise enforce); root only");
}

std::optional<int> run_sbom_commands()
{
	if (inspect_cmd && *inspect_cmd)
		return cmd_sbom_inspect(sbom_opts);
	if (files_cmd && *files_cmd)
		return cmd_sbom_files(sbom_opts);
	if (auto rc = run_drift_command())
		return rc;
	if (bless_cmd && *bless_cmd)
		return cmd_bless(bless_opts, bless_hash, bless_json);
	return std::nullopt;
}

} // namespace eima::cli
