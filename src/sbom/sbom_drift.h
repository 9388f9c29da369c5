// `eima sbom drift`: what ran, against what an SBOM declares.
//  - files that ran and that the SBOM does not list (unlisted), lists with other digests
//    (digest_differs), or lists without a digest in the algorithm of the list
//    (not_comparable: the SBOM says nothing eima can check against);
//  - SBOM packages none of whose files ran. A package is judged only when the SBOM links
//    files to it (SPDX JSON hasFiles or CONTAINS relationships; CycloneDX file components
//    nested in it); the others are counted as unlinked, never called unused.
// Files are matched by normalise_path, as `eima bless` matches them. Paths are bytes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "sbom/sbom.h"

namespace eima::sbom {

// One measurement of what ran: its path as the list names it, digest (normalised algo,
// lower-case hex).
struct ExecutedFile {
	std::string path;
	std::string algo;
	std::string hex;
};

enum class DriftKind : std::uint8_t { unlisted, digest_differs, not_comparable };
std::string_view drift_kind_name(DriftKind k);

struct DriftFile {
	std::string path; // as the list names it
	DriftKind kind = DriftKind::unlisted;
	std::string algo, actual;
	std::vector<std::string> expected; // the SBOM's digests in algo (digest_differs)
	std::size_t measurements = 1;      // entries of the list with this path and digest
};

struct DriftPackage {
	std::string id, name, version;
	std::size_t files = 0; // linked file entries
};

struct DriftReport {
	SbomSummary sbom;
	std::size_t measurements = 0; // file entries of the list considered
	std::size_t executed = 0;     // distinct (path, digest) among them
	std::size_t matched = 0;      // of those: listed by the SBOM with that digest
	std::vector<DriftFile> files; // drift, in path order
	std::size_t packages = 0, packages_linked = 0, packages_ran = 0;
	std::vector<DriftPackage> packages_not_run; // linked, and none of their files ran
	bool drifted() const { return !files.empty(); }
};

Result<DriftReport> sbom_drift(const std::string &sbom_path,
			       const std::vector<ExecutedFile> &executed);

nlohmann::json drift_json(const DriftReport &r, const std::string &sbom_path,
			  const std::string &list_source);
// A CycloneDX 1.5 document: one component of type "file" per drifted file (its hash, and
// eima:drift / eima:sbom-digest properties), and one of type "library" per package that
// did not run (eima:drift = "not-run").
nlohmann::json drift_cyclonedx(const DriftReport &r, const std::string &sbom_path,
			       const std::string &list_source);

} // namespace eima::sbom
