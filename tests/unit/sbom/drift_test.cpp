// sbom_drift on SBOMs written here: every kind of drifted file, packages linked by SPDX
// hasFiles, CONTAINS and CONTAINED_BY and by CycloneDX nesting, unlinked packages never
// called unused, paths as bytes, and the CycloneDX document. tests/e2e/drift_test.sh runs
// the command on a real eimad list and the corpus.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <string>

#include "common/file_io.h"
#include "sbom/sbom_drift.h"

namespace eima::sbom {
namespace {

namespace fs = std::filesystem;

const std::string A(64, 'a'), B(64, 'b'), C(64, 'c');

std::string write_temp(const std::string &name, const std::string &text)
{
	fs::path p = fs::temp_directory_path() / (name + std::to_string(::getpid()));
	EXPECT_TRUE(write_file(p.string(), text));
	return p.string();
}

std::string file_entry(const std::string &id, const std::string &path, const std::string &hex)
{
	return R"({"SPDXID": ")" + id + R"(", "fileName": ")" + path +
	       R"(", "checksums": [{"algorithm": "SHA256", "checksumValue": ")" + hex + R"("}]})";
}

TEST(SbomDrift, SpdxFilesAndPackages)
{
	std::string sbom = write_temp(
		"eima-drift-spdx-",
		R"({"spdxVersion": "SPDX-2.3", "name": "t", "packages": [
		  {"SPDXID": "SPDXRef-p1", "name": "ran", "versionInfo": "1", "hasFiles": ["SPDXRef-f1"]},
		  {"SPDXID": "SPDXRef-p2", "name": "idle", "hasFiles": ["SPDXRef-f3"]},
		  {"SPDXID": "SPDXRef-p3", "name": "by-relationship"},
		  {"SPDXID": "SPDXRef-p4", "name": "contained-by"},
		  {"SPDXID": "SPDXRef-p5", "name": "no-files"}],
		 "files": [)" + file_entry("SPDXRef-f1", "/bin/a", A) + "," +
			file_entry("SPDXRef-f2", "./bin/b", B) + "," +
			file_entry("SPDXRef-f3", "bin/idle", C) + "," +
			R"({"SPDXID": "SPDXRef-f4", "fileName": "/bin/sha1only", "checksums": [{"algorithm": "SHA1", "checksumValue": ")" +
			std::string(40, '1') + R"("}]}],
		 "relationships": [
		  {"spdxElementId": "SPDXRef-p3", "relationshipType": "CONTAINS", "relatedSpdxElement": "SPDXRef-f2"},
		  {"spdxElementId": "SPDXRef-f3", "relationshipType": "CONTAINED_BY", "relatedSpdxElement": "SPDXRef-p4"}]})");
	std::vector<ExecutedFile> ran = {
		{"/bin/a", "sha256", A},          // listed, same digest
		{"/bin/a", "sha256", A},          // the same file again: one finding
		{"/bin/b", "sha256", C},          // listed with another digest
		{"/bin/sha1only", "sha256", A},   // listed, no digest to compare with
		{std::string("/bin/new\xff"), "sha256", B}, // not listed; a name that is bytes
	};
	auto r = sbom_drift(sbom, ran);
	fs::remove(sbom);
	ASSERT_TRUE(r) << r.error().message();
	EXPECT_EQ(r->measurements, 5u);
	EXPECT_EQ(r->executed, 4u);
	EXPECT_EQ(r->matched, 1u);
	ASSERT_EQ(r->files.size(), 3u);
	EXPECT_EQ(r->files[0].path, "/bin/b");
	EXPECT_EQ(r->files[0].kind, DriftKind::digest_differs);
	EXPECT_EQ(r->files[0].expected, std::vector<std::string>{B});
	EXPECT_EQ(r->files[1].path, std::string("/bin/new\xff"));
	EXPECT_EQ(r->files[1].kind, DriftKind::unlisted);
	EXPECT_EQ(r->files[2].kind, DriftKind::not_comparable);
	EXPECT_TRUE(r->drifted());
	// ran (f1), by-relationship (f2 ran, with another digest: it ran), idle and
	// contained-by (f3 did not); no-files is unlinked.
	EXPECT_EQ(r->packages, 5u);
	EXPECT_EQ(r->packages_linked, 4u);
	EXPECT_EQ(r->packages_ran, 2u);
	ASSERT_EQ(r->packages_not_run.size(), 2u);
	EXPECT_EQ(r->packages_not_run[0].name, "idle");
	EXPECT_EQ(r->packages_not_run[1].name, "contained-by");

	auto j = drift_json(*r, "s.json", "list");
	EXPECT_EQ(j["drift"]["unlisted"], 1);
	EXPECT_EQ(j["drift"]["digest_differs"], 1);
	EXPECT_EQ(j["packages"]["unlinked"], 1);
	auto cdx = drift_cyclonedx(*r, "s.json", "list");
	EXPECT_EQ(cdx["bomFormat"], "CycloneDX");
	ASSERT_EQ(cdx["components"].size(), 5u); // 3 files, 2 packages
	EXPECT_EQ(cdx["components"][0]["hashes"][0]["alg"], "SHA-256");
	EXPECT_EQ(cdx["components"][3]["type"], "library");
}

TEST(SbomDrift, CycloneDxNestedFilesLinkTheirComponent)
{
	std::string sbom = write_temp("eima-drift-cdx-", R"({"bomFormat": "CycloneDX", "specVersion": "1.5",
	  "components": [
	    {"type": "library", "bom-ref": "lib1", "name": "used", "version": "2", "components": [
	      {"type": "file", "name": "/usr/lib/used.so", "hashes": [{"alg": "SHA-256", "content": ")" +
								   A + R"("}]}]},
	    {"type": "library", "name": "unused", "components": [
	      {"type": "file", "bom-ref": "f2", "name": "/usr/lib/unused.so", "hashes": [{"alg": "SHA-256", "content": ")" +
								   B + R"("}]}]},
	    {"type": "application", "name": "flat"}]})");
	auto r = sbom_drift(sbom, {{"/usr/lib/used.so", "sha256", A}});
	fs::remove(sbom);
	ASSERT_TRUE(r) << r.error().message();
	EXPECT_FALSE(r->drifted());
	EXPECT_EQ(r->packages, 3u);
	EXPECT_EQ(r->packages_linked, 2u);
	EXPECT_EQ(r->packages_ran, 1u);
	ASSERT_EQ(r->packages_not_run.size(), 1u);
	EXPECT_EQ(r->packages_not_run[0].name, "unused");
}

TEST(SbomDrift, BadSbomIsAnError)
{
	std::string sbom = write_temp("eima-drift-bad-", R"({"spdxVersion": "SPDX-2.3", "files": [)");
	auto r = sbom_drift(sbom, {});
	fs::remove(sbom);
	ASSERT_FALSE(r);
	EXPECT_NE(r.error().message().find("offset"), std::string::npos) << r.error().message();
}

} // namespace
} // namespace eima::sbom
