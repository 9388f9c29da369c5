#include "sbom/sbom_drift.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include <fmt/chrono.h>
#include <fmt/format.h>

namespace eima::sbom {
namespace {

struct Listed {
	std::vector<FileDigest> digests;
	bool ran = false;
};

// CycloneDX names SHA-2 digests "SHA-256"; eima's normalised names are "sha256".
std::string cyclonedx_alg(const std::string &algo)
{
	if (algo == "sha1")
		return "SHA-1";
	if (algo.starts_with("sha") && algo.size() == 6)
		return "SHA-" + algo.substr(3);
	return algo;
}

} // namespace

std::string_view drift_kind_name(DriftKind k)
{
	switch (k) {
	case DriftKind::unlisted:
		return "unlisted";
	case DriftKind::digest_differs:
		return "digest_differs";
	case DriftKind::not_comparable:
		return "not_comparable";
	}
	return "?";
}

Result<DriftReport> sbom_drift(const std::string &sbom_path,
			       const std::vector<ExecutedFile> &executed)
{
	DriftReport r;
	std::unordered_map<std::string, Listed> listed;    // normalised path
	std::unordered_map<std::string, std::string> ids;  // file id -> normalised path
	std::vector<SbomPackage> packages;
	std::unordered_map<std::string, std::vector<std::string>> contained; // package id -> ids
	SbomSinks sinks{
		.on_file =
			[&](SbomFile &&f) {
				std::string key = normalise_path(f.path);
				if (key.empty())
					return;
				if (!f.id.empty())
					ids[f.id] = key;
				if (!f.package_id.empty())
					contained[f.package_id].push_back(f.id.empty() ? "path:" + key
										       : f.id);
				if (f.id.empty() && !f.package_id.empty())
					ids["path:" + key] = key;
				auto &l = listed[key];
				for (auto &d : f.digests)
					l.digests.push_back(std::move(d));
			},
		.on_package = [&](SbomPackage &&p) { packages.push_back(std::move(p)); },
		.on_contains =
			[&](SbomContains &&c) {
				contained[c.container_id].push_back(std::move(c.contained_id));
			},
	};
	auto summary = read_sbom(sbom_path, sinks);
	if (!summary)
		return std::unexpected(summary.error());
	r.sbom = *summary;

	// One finding per (path, digest): a list holds a file once per namespace and version.
	std::map<std::pair<std::string, std::string>, DriftFile> found;
	for (auto &e : executed) {
		++r.measurements;
		auto [it, fresh] = found.try_emplace({e.path, e.algo + ":" + e.hex});
		DriftFile &f = it->second;
		if (!fresh) {
			++f.measurements;
			continue;
		}
		++r.executed;
		f.path = e.path;
		f.algo = e.algo;
		f.actual = e.hex;
		auto l = listed.find(normalise_path(e.path));
		if (l == listed.end()) {
			f.kind = DriftKind::unlisted;
			continue;
		}
		l->second.ran = true;
		bool match = false;
		for (auto &d : l->second.digests)
			if (d.algo == e.algo) {
				f.expected.push_back(d.hex);
				match |= d.hex == e.hex;
			}
		if (match) {
			++r.matched;
			f.expected.clear();
			f.path.clear(); // not drift
		} else {
			f.kind = f.expected.empty() ? DriftKind::not_comparable
						    : DriftKind::digest_differs;
		}
	}
	for (auto &[key, f] : found)
		if (!f.path.empty())
			r.files.push_back(std::move(f));

	r.packages = packages.size();
	for (auto &p : packages) {
		std::set<std::string> files;
		auto link = [&](const std::string &id) {
			if (auto i = ids.find(id); i != ids.end())
				files.insert(i->second);
		};
		for (auto &id : p.file_ids)
			link(id);
		for (const std::string *key : {&p.id, &p.name})
			if (auto c = contained.find(*key); c != contained.end())
				for (auto &id : c->second)
					link(id);
		if (files.empty())
			continue;
		++r.packages_linked;
		bool ran = std::any_of(files.begin(), files.end(),
				       [&](const std::string &k) { return listed[k].ran; });
		if (ran)
			++r.packages_ran;
		else
			r.packages_not_run.push_back({p.id, p.name, p.version, files.size()});
	}
	return r;
}

nlohmann::json drift_json(const DriftReport &r, const std::string &sbom_path,
			  const std::string &list_source)
{
	nlohmann::json files = nlohmann::json::array();
	std::map<std::string, std::size_t> counts = {
		{"unlisted", 0}, {"digest_differs", 0}, {"not_comparable", 0}};
	for (auto &f : r.files) {
		nlohmann::json j = {{"path", f.path},
				    {"kind", drift_kind_name(f.kind)},
				    {"algo", f.algo},
				    {"digest", f.actual},
				    {"measurements", f.measurements}};
		if (!f.expected.empty())
			j["sbom_digests"] = f.expected;
		++counts[std::string(drift_kind_name(f.kind))];
		files.push_back(std::move(j));
	}
	nlohmann::json not_run = nlohmann::json::array();
	for (auto &p : r.packages_not_run)
		not_run.push_back({{"id", p.id}, {"name", p.name}, {"version", p.version},
				   {"files", p.files}});
	return {{"sbom", sbom_path},
		{"list", list_source},
		{"measurements", r.measurements},
		{"executed", r.executed},
		{"matched", r.matched},
		{"drift", counts},
		{"files", std::move(files)},
		{"packages",
		 {{"total", r.packages},
		  {"linked", r.packages_linked},
		  {"ran", r.packages_ran},
		  {"not_run", r.packages_not_run.size()},
		  {"unlinked", r.packages - r.packages_linked}}},
		{"packages_not_run", std::move(not_run)}};
}

nlohmann::json drift_cyclonedx(const DriftReport &r, const std::string &sbom_path,
			       const std::string &list_source)
{
	nlohmann::json components = nlohmann::json::array();
	std::size_t n = 0;
	for (auto &f : r.files) {
		nlohmann::json props = nlohmann::json::array();
		props.push_back({{"name", "eima:drift"}, {"value", drift_kind_name(f.kind)}});
		for (auto &e : f.expected)
			props.push_back({{"name", "eima:sbom-digest"}, {"value", f.algo + ":" + e}});
		props.push_back({{"name", "eima:measurements"},
				 {"value", std::to_string(f.measurements)}});
		components.push_back({{"type", "file"},
				      {"bom-ref", fmt::format("eima-drift-file-{}", n++)},
				      {"name", f.path},
				      {"hashes", {{{"alg", cyclonedx_alg(f.algo)}, {"content", f.actual}}}},
				      {"properties", std::move(props)}});
	}
	for (auto &p : r.packages_not_run) {
		nlohmann::json c = {{"type", "library"},
				    {"bom-ref", fmt::format("eima-drift-package-{}", n++)},
				    {"name", p.name},
				    {"properties", {{{"name", "eima:drift"}, {"value", "not-run"}},
						    {{"name", "eima:sbom-id"}, {"value", p.id}}}}};
		if (!p.version.empty())
			c["version"] = p.version;
		components.push_back(std::move(c));
	}
	auto now = std::chrono::system_clock::now();
	return {{"bomFormat", "CycloneDX"},
		{"specVersion", "1.5"},
		{"version", 1},
		{"metadata",
		 {{"timestamp", fmt::format("{:%FT%TZ}", std::chrono::floor<std::chrono::seconds>(now))},
		  {"tools", {{"components", {{{"type", "application"}, {"name", "eima sbom drift"}}}}}},
		  {"properties",
		   {{{"name", "eima:sbom"}, {"value", sbom_path}},
		    {{"name", "eima:list"}, {"value", list_source}},
		    {{"name", "eima:executed"}, {"value", std::to_string(r.executed)}},
		    {{"name", "eima:matched"}, {"value", std::to_string(r.matched)}}}}}},
		{"components", std::move(components)}};
}

} // namespace eima::sbom
