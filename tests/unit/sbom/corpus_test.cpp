// Every SBOM of the corpus (../shared/corpus/spdx and cyclonedx; SOURCES.md there) parses,
// with counts made by reading the files with Python's json module and a line reader of the
// tag-value ones, independently of this code; damaged copies of them fail cleanly.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <random>
#include <set>

#include "common/file_io.h"
#include "sbom/sbom.h"

namespace eima::sbom {
namespace {

namespace fs = std::filesystem;

struct CorpusSbom {
	const char *file; // under the corpus
	Format format;
	Encoding encoding;
	const char *spec_version;
	const char *name;
	std::size_t packages, components, files, files_without_digest, placeholder_digests;
	std::map<std::string, std::size_t> file_digests;
};

const CorpusSbom corpus[] = {
    {"cyclonedx/cdxgen-nodegoat-postgen.cdx-1.5.json", Format::cyclonedx, Encoding::json, "1.5",
     "NodeGoat", 0, 1060, 0, 0, 0, {}},
    {"cyclonedx/cyclonedx-npm-local-workspaces-flat.cdx-1.6.json", Format::cyclonedx,
     Encoding::json, "1.6", "demo-workspaces", 0, 4, 0, 0, 0, {}},
    {"cyclonedx/laravel-7.12.0.cdx-1.3.json", Format::cyclonedx, Encoding::json, "1.3",
     "cyclonedx-php-composer-demo", 0, 62, 0, 0, 0, {}},
    {"cyclonedx/proton-bridge-v1.8.0.cdx-1.2.json", Format::cyclonedx, Encoding::json, "1.2",
     "github.com/ProtonMail/proton-bridge", 0, 201, 0, 0, 0, {}},
    {"cyclonedx/spec-valid-component-hashes-1.6.json", Format::cyclonedx, Encoding::json, "1.6",
     "", 0, 1, 0, 0, 0, {}},
    {"cyclonedx/syft-0.57-alpine-image.cdx-1.4.json", Format::cyclonedx, Encoding::json, "1.4",
     "docker.io/library/alpine:latest", 0, 15, 0, 0, 0, {}},
    // Bitnami's SPDX JSON, named .spdx.
    {"spdx/bitnami-postgresql.spdx", Format::spdx, Encoding::json, "SPDX-2.3",
     "SPDX document for PostgreSQL 17.2.0", 19, 0, 3, 0, 0, {{"sha1", 3}}},
    {"spdx/ms-sbom-tool-missionlz.spdx.json", Format::spdx, Encoding::json, "SPDX-2.2",
     "Mission LZ 20220301.3", 2, 0, 153, 0, 0, {{"sha1", 153}, {"sha256", 153}}},
    {"spdx/spdx-examples-example1.spdx", Format::spdx, Encoding::tag_value, "SPDX-2.2", "hello",
     1, 0, 3, 0, 0, {{"md5", 3}, {"sha1", 3}, {"sha256", 3}}},
    {"spdx/spdx-examples-example10-hello-source.spdx.json", Format::spdx, Encoding::json,
     "SPDX-2.3", "hello", 1, 0, 5, 0, 0, {{"sha1", 5}, {"sha256", 5}}},
    {"spdx/spdx-examples-example12-hello-src.spdx.json", Format::spdx, Encoding::json,
     "SPDX-2.2", "hello 0.0.1", 1, 0, 12, 0, 0, {{"sha1", 12}, {"sha256", 12}}},
    // syft 0.57 hashed only the regular files of the busybox image, not its links.
    {"spdx/syft-0.57-busybox-latest-image.spdx.json", Format::spdx, Encoding::json, "SPDX-2.2",
     "docker.io/library/busybox-latest", 0, 0, 423, 417, 0, {{"sha256", 6}}},
    // SPDX JSON under a .sbom name.
    {"spdx/syft-0.60-jx-darwin-arm64.tar.gz.sbom", Format::spdx, Encoding::json, "SPDX-2.2",
     "jx-darwin-arm64.tar.gz", 84, 0, 3, 0, 0, {{"sha256", 3}}},
    // syft's all-zero SHA1 on every file: 70 placeholders, no digest to trust.
    {"spdx/syft-0.64-rancher-local-path-provisioner-image.spdx.json", Format::spdx,
     Encoding::json, "SPDX-2.3",
     "rancher/local-path-provisioner@sha256:"
     "3c5e691964b4689ebad5b087edd08a522852e57094628e9a0426bff68afde7a6",
     57, 0, 70, 70, 70, {}},
    {"spdx/syft-legacy-helm-controller-0.16.0.spdx.json", Format::spdx, Encoding::json,
     "SPDX-2.2", "helm-controller_0.16.0_source_code.tar.gz", 173, 0, 134, 1, 0,
     {{"sha256", 133}}},
    {"spdx/usbutils-reuse.spdx", Format::spdx, Encoding::tag_value, "SPDX-2.1", "usbutils", 0, 0,
     48, 0, 0, {{"sha1", 48}}},
};

fs::path corpus_dir() { return EIMA_SBOM_CORPUS_DIR; }

TEST(SbomCorpus, EveryFileIsCovered)
{
	std::set<std::string> listed;
	for (auto &c : corpus)
		listed.insert(c.file);
	std::size_t files = 0;
	for (const char *sub : {"spdx", "cyclonedx"}) {
		ASSERT_TRUE(fs::is_directory(corpus_dir() / sub)) << corpus_dir() / sub;
		for (auto &e : fs::directory_iterator(corpus_dir() / sub)) {
			std::string name = std::string(sub) + "/" + e.path().filename().string();
			if (e.path().filename() == "SOURCES.md")
				continue;
			++files;
			EXPECT_TRUE(listed.count(name)) << name << " has no expectations here";
		}
	}
	EXPECT_EQ(files, std::size(corpus));
}

TEST(SbomCorpus, EveryFileParsesWithItsCounts)
{
	for (const CorpusSbom &c : corpus) {
		SCOPED_TRACE(c.file);
		std::size_t emitted = 0, emitted_with_digest = 0;
		auto s = read_sbom(corpus_dir() / c.file, [&](SbomFile &&f) {
			++emitted;
			emitted_with_digest += !f.digests.empty();
		});
		ASSERT_TRUE(s) << s.error().message();
		EXPECT_EQ(s->format, c.format);
		EXPECT_EQ(s->encoding, c.encoding);
		EXPECT_EQ(s->spec_version, c.spec_version);
		EXPECT_EQ(s->name, c.name);
		EXPECT_EQ(s->packages, c.packages);
		EXPECT_EQ(s->components, c.components);
		EXPECT_EQ(s->files, c.files);
		EXPECT_EQ(s->files_without_digest, c.files_without_digest);
		EXPECT_EQ(s->placeholder_digests, c.placeholder_digests);
		EXPECT_EQ(s->invalid_digests, 0u);
		EXPECT_EQ(s->file_digests, c.file_digests);
		EXPECT_EQ(s->bytes, fs::file_size(corpus_dir() / c.file));
		EXPECT_EQ(emitted, c.files);
		EXPECT_EQ(emitted_with_digest, c.files - c.files_without_digest);
	}
}

} // namespace
} // namespace eima::sbom

namespace eima::sbom {
namespace {

// Damaged copies of every corpus file: cut at 64 places, and 64 single bytes replaced (a
// fixed seed, so a failure repeats). Each must give a result or an error naming the file,
// never a crash or a hang.
TEST(SbomCorpus, DamagedCopiesFailCleanly)
{
	fs::path tmp = fs::temp_directory_path() / ("eima-sbom-damaged-" + std::to_string(::getpid()));
	fs::create_directories(tmp);
	std::mt19937 rng(8);
	const char replacements[] = {'\0', '"', '{', '[', ']', '}', ':', ',', '\n', '\\', '\xff', 'x'};
	std::size_t parsed = 0, refused = 0;
	for (const CorpusSbom &c : corpus) {
		SCOPED_TRACE(c.file);
		auto text = read_file(corpus_dir() / c.file);
		ASSERT_TRUE(text);
		std::string path = tmp / "damaged";
		for (int i = 0; i < 128; ++i) {
			std::string copy = *text;
			if (i < 64) {
				copy.resize(copy.size() * static_cast<std::size_t>(i) / 64);
			} else {
				std::size_t at = rng() % copy.size();
				copy[at] = replacements[rng() % sizeof(replacements)];
			}
			ASSERT_TRUE(write_file(path, copy));
			auto s = read_sbom(path, [](SbomFile &&) {});
			if (s) {
				++parsed;
			} else {
				++refused;
				EXPECT_NE(s.error().message().find(path), std::string::npos)
					<< s.error().message();
			}
		}
	}
	fs::remove_all(tmp);
	// Most cuts and many replacements break a document; some replacements land in text.
	EXPECT_GT(refused, std::size(corpus) * 64);
	EXPECT_GT(parsed, 0u);
}

} // namespace
} // namespace eima::sbom
