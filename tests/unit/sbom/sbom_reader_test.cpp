// The readers on small documents written here: each format's fields, algorithm names,
// placeholders, paths, and every kind of bad input giving an error with its place.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>

#include <fmt/format.h>

#include "common/file_io.h"
#include "sbom/sbom.h"

namespace eima::sbom {
namespace {

namespace fs = std::filesystem;

class SbomReader : public testing::Test {
protected:
	void SetUp() override
	{
		dir_ = fs::temp_directory_path() / ("eima-sbom-" + std::to_string(::getpid()));
		fs::create_directories(dir_);
	}
	void TearDown() override { fs::remove_all(dir_); }

	std::string write(const std::string &name, std::string_view text)
	{
		std::string p = dir_ / name;
		EXPECT_TRUE(write_file(p, text));
		return p;
	}

	// Reads and collects; the result's error, if any, is in err_.
	std::optional<SbomSummary> read(const std::string &path)
	{
		files_.clear();
		auto r = read_sbom(path, [&](SbomFile &&f) { files_.push_back(std::move(f)); });
		if (!r) {
			err_ = r.error().message();
			return std::nullopt;
		}
		return *r;
	}

	fs::path dir_;
	std::vector<SbomFile> files_;
	std::string err_;
};

TEST(SbomNames, AlgorithmsNormalise)
{
	EXPECT_EQ(normalise_algo("SHA256"), "sha256");
	EXPECT_EQ(normalise_algo("SHA-256"), "sha256");
	EXPECT_EQ(normalise_algo("sha-1"), "sha1");
	EXPECT_EQ(normalise_algo("sha_512"), "sha512");
	EXPECT_EQ(normalise_algo("SHA3-256"), "sha3-256");
	EXPECT_EQ(normalise_algo("BLAKE2b-256"), "blake2b-256");
	EXPECT_EQ(normalise_algo("MD5"), "md5");
}

TEST(SbomNames, PathsNormalise)
{
	for (auto p : {"/usr/bin/x", "./usr/bin/x", "usr/bin/x", "//usr/./bin//x", "usr/bin/x/"})
		EXPECT_EQ(normalise_path(p), "usr/bin/x") << p;
	EXPECT_EQ(normalise_path("/"), "");
	EXPECT_EQ(normalise_path("./"), "");
	EXPECT_EQ(normalise_path("usr/../etc/x"), "usr/../etc/x");
	EXPECT_TRUE(is_placeholder_digest("0000000000000000000000000000000000000000"));
	EXPECT_FALSE(is_placeholder_digest("0000000000000000000000000000000000000001"));
	EXPECT_FALSE(is_placeholder_digest(""));
}

TEST_F(SbomReader, SpdxJsonFilesPackagesAndPlaceholders)
{
	// "files" before "spdxVersion", as the Microsoft SBOM tool writes it.
	auto p = write("doc.json", R"({
  "files": [
    {"fileName": "./usr/bin/a", "checksums": [
      {"algorithm": "SHA256", "checksumValue": "ABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB"},
      {"algorithm": "SHA1", "checksumValue": "0000000000000000000000000000000000000000"}]},
    {"fileName": "/usr/bin/b", "checksums": [
      {"algorithm": "SHA1", "checksumValue": "0000000000000000000000000000000000000000"}]},
    {"fileName": "usr/bin/c", "checksums": [{"algorithm": "sha256", "checksumValue": "12"}]},
    {"fileName": "usr/bin/d"}
  ],
  "packages": [{"name": "p", "checksums": [{"algorithm": "SHA1", "checksumValue": "00"}],
                "files": [{"fileName": "not-a-file-of-the-document"}]}, {"name": "q"}],
  "spdxVersion": "SPDX-2.3",
  "name": "doc"
})");
	auto s = read(p);
	ASSERT_TRUE(s) << err_;
	EXPECT_EQ(s->format, Format::spdx);
	EXPECT_EQ(s->encoding, Encoding::json);
	EXPECT_EQ(s->spec_version, "SPDX-2.3");
	EXPECT_EQ(s->name, "doc");
	EXPECT_EQ(s->packages, 2u);
	EXPECT_EQ(s->files, 4u);
	EXPECT_EQ(s->file_digests, (std::map<std::string, std::size_t>{{"sha256", 1}}));
	EXPECT_EQ(s->files_without_digest, 3u);
	EXPECT_EQ(s->placeholder_digests, 2u);
	EXPECT_EQ(s->invalid_digests, 1u);
	ASSERT_EQ(files_.size(), 4u);
	EXPECT_EQ(files_[0].path, "./usr/bin/a");
	ASSERT_EQ(files_[0].digests.size(), 1u);
	std::string ab;
	for (int i = 0; i < 32; ++i)
		ab += "ab";
	EXPECT_EQ(files_[0].digests[0], (FileDigest{"sha256", ab}));
	EXPECT_EQ(files_[1].placeholder_digests, 1u);
}

TEST_F(SbomReader, CycloneDxNestedComponentsAndFileComponents)
{
	auto p = write("bom.json", R"({
  "bomFormat": "CycloneDX", "specVersion": "1.6",
  "metadata": {"component": {"name": "app", "components": [{"name": "not counted"}]},
               "tools": {"components": [{"name": "syft"}]}},
  "components": [
    {"type": "library", "name": "a", "hashes": [{"alg": "SHA-256", "content": "aa"}],
     "components": [{"type": "library", "name": "a1",
                     "components": [{"type": "file", "name": "/usr/lib/a1.so",
                       "hashes": [{"alg": "SHA-256", "content": "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"},
                                  {"alg": "SHA-1", "content": "0000000000000000000000000000000000000000"}]}]}]},
    {"name": "/bin/x", "hashes": [{"alg": "SHA-512", "content": "ab"}], "type": "file"}
  ]
})");
	auto s = read(p);
	ASSERT_TRUE(s) << err_;
	EXPECT_EQ(s->format, Format::cyclonedx);
	EXPECT_EQ(s->spec_version, "1.6");
	EXPECT_EQ(s->name, "app");
	EXPECT_EQ(s->components, 4u);
	EXPECT_EQ(s->files, 2u);
	EXPECT_EQ(s->file_digests, (std::map<std::string, std::size_t>{{"sha256", 1}}));
	EXPECT_EQ(s->files_without_digest, 1u); // /bin/x's sha512 is too short
	EXPECT_EQ(s->placeholder_digests, 1u);
	EXPECT_EQ(s->invalid_digests, 1u); // /bin/x's; library a's "aa" is no file's
	ASSERT_EQ(files_.size(), 2u);
	EXPECT_EQ(files_[0].path, "/usr/lib/a1.so");
	EXPECT_EQ(files_[1].path, "/bin/x");
}

// Found by the sbom fuzz target: a library component's placeholder or malformed hash was
// counted in the summary as a file's, so the counts disagreed with the files handed on.
TEST_F(SbomReader, HashesOfComponentsThatAreNotFilesAreNoFilesCounts)
{
	auto p = write("lib.json", R"({"bomFormat": "CycloneDX", "specVersion": "1.6",
  "components": [{"type": "library", "name": "lib", "hashes": [
    {"alg": "SHA-1", "content": "0000000000000000000000000000000000000000"},
    {"alg": "SHA-256", "content": "not hex"},
    {"alg": "SHA-256", "content": "abababababababababababababababababababababababababababababababab"}]},
    {"type": "file", "name": "/f", "hashes": [{"alg": "MD5", "content": "00"}]}]})");
	auto s = read(p);
	ASSERT_TRUE(s) << err_;
	EXPECT_EQ(s->components, 2u);
	EXPECT_EQ(s->files, 1u);
	EXPECT_EQ(s->files_without_digest, 1u);
	EXPECT_TRUE(s->file_digests.empty());
	EXPECT_EQ(s->placeholder_digests, 1u); // /f's, not the library's
	EXPECT_EQ(s->invalid_digests, 0u);
	ASSERT_EQ(files_.size(), 1u);
	EXPECT_EQ(files_[0].placeholder_digests, 1u);
}

TEST_F(SbomReader, TagValueWithTextBlocksAndBytePaths)
{
	auto p = write("doc.spdx", "\n# comment\nSPDXVersion: SPDX-2.2\nDocumentName: tv\n"
				   "DocumentComment: <text>FileName: not a file\nPackageName: nor "
				   "this</text>\nPackageName: p\nFileName: ./bin/\xff\xfe\n"
				   "FileChecksum: SHA1: 85ED0817AF83A24AD8DA68C2B5094DE69833983C\n"
				   "FileChecksum: SHA256: 0000000000000000000000000000000000000000000000000000000000000000\n"
				   "FileComment: <text>one line</text>\n"
				   "FileName: ./bin/b\nRelationship: SPDXRef-a CONTAINS SPDXRef-b\n");
	auto s = read(p);
	ASSERT_TRUE(s) << err_;
	EXPECT_EQ(s->encoding, Encoding::tag_value);
	EXPECT_EQ(s->spec_version, "SPDX-2.2");
	EXPECT_EQ(s->name, "tv");
	EXPECT_EQ(s->packages, 1u);
	EXPECT_EQ(s->files, 2u);
	EXPECT_EQ(s->file_digests, (std::map<std::string, std::size_t>{{"sha1", 1}}));
	EXPECT_EQ(s->placeholder_digests, 1u);
	ASSERT_EQ(files_.size(), 2u);
	EXPECT_EQ(files_[0].path, "./bin/\xff\xfe");
	EXPECT_EQ(files_[0].digests[0].hex, "85ed0817af83a24ad8da68c2b5094de69833983c");
}

// Each bad document: an error, never a crash, naming the file and where.
TEST_F(SbomReader, BadInputNamesThePlace)
{
	struct Case {
		const char *name;
		std::string text;
		const char *want; // in the message
	};
	std::vector<Case> cases = {
	    {"truncated.json", R"({"spdxVersion": "SPDX-2.3", "files": [{"fileName": "a")",
	     "truncated.json:1:55 (offset 54): syntax error"},
	    {"garbage-after.json", "{\"spdxVersion\": \"SPDX-2.3\"}\n]", "garbage-after.json:2:1 (offset 28)"},
	    {"not-sbom.json", R"({"hello": "world"})", "without \"spdxVersion\""},
	    {"spdx3.json", R"({"spdxVersion": "SPDX-3.0"})", "spdx3.json:1:26 (offset 25): spdxVersion \"SPDX-3.0\""},
	    {"cdx-other.json", R"({"bomFormat": "SWID", "specVersion": "1.4"})", "cdx-other.json:1:20 (offset 19): bomFormat \"SWID\" is not CycloneDX"},
	    {"cdx2.json", "{\"bomFormat\": \"CycloneDX\",\n \"specVersion\": \"2.0\"}", "cdx2.json:2:21 (offset 47): specVersion \"2.0\""},
	    {"cdx-no-version.json", R"({"bomFormat": "CycloneDX"})", "cdx-no-version.json:1:25 (offset 24): CycloneDX without a specVersion"},
	    // Found by the sbom fuzz target: the JSON parser stops at a NUL byte, and what
	    // followed went unread.
	    {"nul.json", std::string("{\"spdxVersion\": \"SPDX-2.3\"}\0{}", 30),
	     "nul.json:1:28 (offset 27): a NUL byte, and more after it"},
	    {"array.json", "[1, 2]", "neither JSON nor SPDX tag-value"},
	    {"binary", "\x7f" "ELF\x02\x01", "offset 0"},
	    {"empty", "  \n ", "empty"},
	    {"deep.json", "{\"a\": " + std::string(300, '['), "nesting deeper than 256 levels"},
	    {"prose.spdx", "Hello, this is not\nan SBOM\n", "prose.spdx:1: neither JSON nor SPDX tag-value"},
	    {"other-tag.spdx", "DocumentName: x\nSPDXVersion: SPDX-2.2\n", "other-tag.spdx:1: the first tag"},
	    {"tv-noline.spdx", "SPDXVersion: SPDX-2.2\nnot a tag line\n", "tv-noline.spdx:2: expected"},
	    {"tv-open-text.spdx", "SPDXVersion: SPDX-2.2\n\nFileComment: <text>never closed\n",
	     "tv-open-text.spdx:3: <text> not closed"},
	    {"tv-checksum.spdx", "SPDXVersion: SPDX-2.2\nFileName: a\nFileChecksum: SHA1\n",
	     "tv-checksum.spdx:3: FileChecksum"},
	    {"bad-utf8.json", "{\"spdxVersion\": \"SPDX-2.3\", \"name\": \"\\ud800\"}", "offset"},
	};
	for (auto &c : cases) {
		SCOPED_TRACE(c.name);
		err_.clear();
		auto s = read(write(c.name, c.text));
		EXPECT_FALSE(s);
		EXPECT_NE(err_.find(c.want), std::string::npos) << err_;
		EXPECT_NE(err_.find(c.name), std::string::npos) << err_;
	}
	auto s = read((dir_ / "absent").string());
	EXPECT_FALSE(s);
	EXPECT_NE(err_.find("No such file"), std::string::npos) << err_;
}

// A string longer than max_token_bytes is refused at its offset, not buffered whole.
TEST_F(SbomReader, OverlongTokenIsRefused)
{
	std::string text = R"({"spdxVersion": "SPDX-2.3", "name": ")";
	std::size_t start = text.size();
	text.append(max_token_bytes + 10, 'x');
	text += "\"}";
	auto s = read(write("long.json", text));
	ASSERT_FALSE(s);
	EXPECT_NE(err_.find(fmt::format("offset {}: a token longer than 4 MiB", start)),
		  std::string::npos)
		<< err_;
	// In tag-value the token is the line: its offset is the line's.
	std::string line = "SPDXVersion: SPDX-2.2\n";
	start = line.size();
	line += "DocumentName: ";
	line.append(max_token_bytes + 10, 'y');
	s = read(write("long.spdx", line));
	ASSERT_FALSE(s);
	EXPECT_NE(err_.find(fmt::format("offset {}: a token longer", start)), std::string::npos)
		<< err_;
}

} // namespace
} // namespace eima::sbom
