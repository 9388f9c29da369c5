#include "cli/drift_command.h"

#include <fmt/format.h>

#include "attest/log_verifier.h"
#include "cli/report.h"
#include "common/file_io.h"
#include "common/hex.h"
#include "common/json_text.h"
#include "sbom/sbom_drift.h"

namespace eima::cli {
namespace {

struct DriftOptions {
	std::string sbom, container, log, run_dir = "/run/eima";
	bool as_json = false, cyclonedx = false;
};

DriftOptions drift_opts;
CLI::App *drift_cmd = nullptr;

// The files a list says ran: every entry with a file digest and a name, but the
// boot_aggregate, violations (no digest of what ran) and ima-buf entries (not files).
Result<std::vector<sbom::ExecutedFile>> executed_files(const std::string &path)
{
	auto bytes = read_file(path);
	if (!bytes)
		return std::unexpected(bytes.error());
	auto log = attest::read_any_log(*bytes, path);
	if (!log)
		return std::unexpected(log.error());
	std::vector<sbom::ExecutedFile> out;
	for (std::size_t i = 0; i < log->entries.size(); ++i) {
		auto &e = log->entries[i];
		if (ima::is_violation(e) || e.template_name == "ima-buf")
			continue;
		auto name = ima::event_name(e);
		auto digest = ima::file_digest(e);
		if (!name || !digest)
			return fail("read list", fmt::format("{}: entry {}: {}", path, i,
							     (!name ? name.error() : digest.error())
								     .message()));
		if (*name == ima::boot_aggregate_name)
			continue;
		out.push_back({std::string(*name), sbom::normalise_algo(digest->algo_name),
			       to_hex(digest->digest)});
	}
	return out;
}

int cmd_drift(const DriftOptions &o)
{
	std::string list = o.log.empty() ? o.run_dir + "/containers/" + o.container +
						   "/binary_runtime_measurements"
					 : o.log;
	auto executed = executed_files(list);
	if (!executed)
		return report(executed.error());
	auto r = sbom::sbom_drift(o.sbom, *executed);
	if (!r)
		return report(r.error());
	if (o.cyclonedx) {
		fmt::print("{}\n", json_dump(sbom::drift_cyclonedx(*r, o.sbom, list), 2));
	} else if (o.as_json) {
		fmt::print("{}\n", json_dump(sbom::drift_json(*r, o.sbom, list), 2));
	} else {
		for (auto &f : r->files) {
			std::string detail;
			if (f.kind == sbom::DriftKind::digest_differs)
				detail = fmt::format(" (ran {}:{}, SBOM {})", f.algo, f.actual,
						     fmt::join(f.expected, ","));
			else
				detail = fmt::format(" ({}:{})", f.algo, f.actual);
			fmt::print("{:<14} {}{}\n", sbom::drift_kind_name(f.kind), f.path, detail);
		}
		for (auto &p : r->packages_not_run)
			fmt::print("{:<14} package {}{}{} ({} files)\n", "not_run", p.name,
				   p.version.empty() ? "" : " ", p.version, p.files);
		fmt::print("{} executed ({} measurements): {} as the SBOM lists them, {} drifted; "
			   "packages: {} of {} linked to files ran, {} did not, {} not linked\n",
			   r->executed, r->measurements, r->matched, r->files.size(),
			   r->packages_ran, r->packages_linked, r->packages_not_run.size(),
			   r->packages - r->packages_linked);
	}
	return r->drifted() ? 2 : 0;
}

} // namespace

void add_drift_command(CLI::App &sbom_cmd)
{
	drift_cmd = sbom_cmd.add_subcommand(
		"drift", "what ran against what an SBOM declares: files it does not list or "
			 "lists with another digest, packages none of whose files ran");
	drift_cmd->add_option("--sbom", drift_opts.sbom, "SPDX or CycloneDX SBOM")->required();
	auto *c = drift_cmd->add_option("--container", drift_opts.container,
					"a container's list under eimad's run directory");
	auto *l = drift_cmd->add_option("--log", drift_opts.log,
					"an ascii or binary measurement list");
	c->excludes(l);
	drift_cmd->add_option("--run-dir", drift_opts.run_dir,
			      "eimad's run directory (default /run/eima)");
	drift_cmd->add_flag("--json", drift_opts.as_json);
	drift_cmd->add_flag("--cyclonedx", drift_opts.cyclonedx,
			    "the drift as a CycloneDX 1.5 document");
}

std::optional<int> run_drift_command()
{
	if (!drift_cmd || !*drift_cmd)
		return std::nullopt;
	if (drift_opts.container.empty() == drift_opts.log.empty())
		return report(Error{0, "sbom drift", "give exactly one of --container, --log"});
	return cmd_drift(drift_opts);
}

} // namespace eima::cli
