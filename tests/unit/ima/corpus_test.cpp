// Every file of the IMA log corpus (real kernels, upstream test suites; SOURCES.md there)
// must survive a round trip byte for byte, and every non-violation entry must hash to its
// stored header digest.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "ima/ascii_log.h"
#include "ima/binary_log.h"
#include "ima/replay.h"
#include "test_files.h"

namespace eima::ima {
namespace {

namespace fs = std::filesystem;

struct CorpusFile {
	const char *name;
	bool binary;
	std::size_t entries;
	std::size_t violations;
	HashAlgo header_algo;		    // what the stored header digests are computed with
	std::optional<HashAlgo> typed;	    // "sha256:" header digests (research format)
	const char *error = nullptr;	    // a deliberately invalid file: the expected error
};

const CorpusFile corpus[] = {
    {"ima-evm-utils-test.ascii_runtime_measurements", false, 3, 0, HashAlgo::sha1, {}},
    {"keylime-perf-ubuntu-ima-ng-sha256.ascii_runtime_measurements", false, 780, 0,
     HashAlgo::sha1, {}},
    {"keylime-test_ima_ast-valid-entries.ascii_runtime_measurements", false, 6, 0,
     HashAlgo::sha1, {}},
    {"keylime-tests-policy-commands-ima-ng-ima-buf.ascii_runtime_measurements", false, 5, 0,
     HashAlgo::sha1, {}},
    // boot_aggregate has an all-zero header: read as a violation, as keylime does.
    {"keylime-create-runtime-policy-ima-log-sha384", false, 2, 1, HashAlgo::sha1, {}},
    // A fixture with 32-byte bare-hex header digests: they are SM3 of the template data.
    {"keylime-create-runtime-policy-ima-log-sm3_256", false, 2, 1, HashAlgo::sm3_256, {}},
    // Negative keylime fixture: "unknown:" is no kernel hash algorithm.
    {"keylime-create-runtime-policy-ima-log-unknown", false, 0, 0, HashAlgo::sha1, {},
     "line 1: unknown digest algorithm 'unknown'"},
    // Research kernel: template ima-dep-cgn, header digests "sha256:..." / u32 size + 32 bytes.
    {"embrave-research-ima-dep-cgn.ascii_runtime_measurements", false, 819, 0, HashAlgo::sha256,
     HashAlgo::sha256},
    {"embrave-research-ima-dep-cgn.binary_runtime_measurements", true, 819, 0, HashAlgo::sha256,
     HashAlgo::sha256},
};

// Printed by gtest for parameterised tests (instead of raw bytes).
void PrintTo(const CorpusFile &c, std::ostream *os) { *os << c.name; }

std::string path_of(const char *name) { return std::string(EIMA_IMA_CORPUS_DIR) + "/" + name; }

TEST(Corpus, EveryFileIsCovered)
{
	std::set<std::string> known;
	for (const auto &c : corpus)
		known.insert(c.name);
	std::size_t seen = 0;
	for (const auto &de : fs::directory_iterator(EIMA_IMA_CORPUS_DIR)) {
		std::string name = de.path().filename();
		if (name == "SOURCES.md")
			continue;
		++seen;
		EXPECT_TRUE(known.count(name)) << "corpus file without expectations: " << name;
	}
	EXPECT_EQ(seen, std::size(corpus));
}

class CorpusRoundTrip : public testing::TestWithParam<CorpusFile> {};

TEST_P(CorpusRoundTrip, ReadWriteVerify)
{
	const CorpusFile &c = GetParam();
	const std::string text = test::read_text(path_of(c.name));
	ASSERT_FALSE(text.empty()) << c.name;

	auto log = c.binary ? read_binary_log(test::as_bytes(text)) : read_ascii_log(text);
	if (c.error) {
		ASSERT_FALSE(log) << c.name << " should not parse";
		EXPECT_NE(log.error().message().find(c.error), std::string::npos)
		    << log.error().message();
		return;
	}
	ASSERT_TRUE(log) << c.name << ": " << log.error().message();
	EXPECT_EQ(log->header.typed, c.typed);

	std::size_t violations = 0, matched = 0;
	for (std::size_t i = 0; i < log->entries.size(); ++i) {
		const TemplateEntry &e = log->entries[i];
		if (is_violation(e)) {
			++violations;
			continue;
		}
		auto expected = expected_header_digest(e, c.header_algo);
		ASSERT_TRUE(expected);
		if (*expected == e.template_hash_sha1)
			++matched;
		else
			ADD_FAILURE() << c.name << " entry " << i << " (" << e.template_name
				      << "): header " << to_hex(e.template_hash_sha1)
				      << " != " << to_hex(*expected);
	}
	EXPECT_EQ(log->entries.size(), c.entries) << c.name;
	EXPECT_EQ(violations, c.violations) << c.name;
	EXPECT_EQ(matched, c.entries - c.violations) << c.name << ": header digests that verify";

	// The model prints back to the very same bytes.
	if (c.binary) {
		auto bin = write_binary_log(*log);
		ASSERT_TRUE(bin) << bin.error().message();
		EXPECT_TRUE(test::as_string(*bin) == text) << c.name << ": binary round trip differs";

		// ... and prints as its ascii twin, line for line.
		std::string twin_name = c.name;
		twin_name.replace(twin_name.find("binary"), 6, "ascii");
		const std::string twin = test::read_text(path_of(twin_name.c_str()));
		auto ascii = write_ascii_log(*log);
		ASSERT_TRUE(ascii) << ascii.error().message();
		EXPECT_TRUE(*ascii == twin) << c.name << ": binary -> ascii differs from " << twin_name;
		auto twin_log = read_ascii_log(twin);
		ASSERT_TRUE(twin_log);
		EXPECT_TRUE(twin_log->entries == log->entries);

		// Read with the wrong header format, the file gives an error, not garbage.
		auto wrong = read_binary_log(test::as_bytes(text), BinaryHeaderMode::kernel);
		EXPECT_FALSE(wrong);
	} else {
		auto ascii = write_ascii_log(*log);
		ASSERT_TRUE(ascii) << ascii.error().message();
		EXPECT_TRUE(*ascii == text) << c.name << ": ascii round trip differs";

		// ascii -> binary -> model gives the same entries, when the kernel's binary format
		// can hold the header digest (not the 32-byte bare-hex fixture).
		auto bin = write_binary_log(*log);
		if (log->header.typed || c.header_algo == HashAlgo::sha1) {
			ASSERT_TRUE(bin) << bin.error().message();
			auto back = read_binary_log(*bin, log->header.typed ? BinaryHeaderMode::typed
									     : BinaryHeaderMode::kernel);
			ASSERT_TRUE(back) << back.error().message();
			EXPECT_TRUE(back->entries == log->entries);
		} else {
			EXPECT_FALSE(bin) << "a 32-byte header digest has no kernel binary form";
		}
	}

	// Replay runs over every entry in every bank.
	for (HashAlgo bank : {HashAlgo::sha1, HashAlgo::sha256}) {
		auto pcrs = replay(log->entries, bank);
		ASSERT_TRUE(pcrs) << pcrs.error().message();
		ASSERT_TRUE(pcrs->count(10));
		EXPECT_EQ(pcrs->at(10).size(), digest_size(bank));
	}
}

INSTANTIATE_TEST_SUITE_P(Ima, CorpusRoundTrip, testing::ValuesIn(corpus),
			 [](const testing::TestParamInfo<CorpusFile> &info) {
				 std::string n = info.param.name;
				 for (char &ch : n)
					 if (!std::isalnum(static_cast<unsigned char>(ch)))
						 ch = '_';
				 return n;
			 });

// The streaming reader yields the same entries as the whole-list reader.
TEST(Corpus, StreamingReaderMatches)
{
	const std::string text =
	    test::read_text(path_of("embrave-research-ima-dep-cgn.binary_runtime_measurements"));
	auto log = read_binary_log(test::as_bytes(text));
	ASSERT_TRUE(log);
	BinaryLogReader reader(test::as_bytes(text));
	TemplateEntry e;
	std::size_t n = 0;
	for (;;) {
		auto more = reader.next(e);
		ASSERT_TRUE(more) << more.error().message();
		if (!*more)
			break;
		ASSERT_LT(n, log->entries.size());
		EXPECT_TRUE(e == log->entries[n]) << "entry " << n;
		++n;
	}
	EXPECT_EQ(n, 819u);
	EXPECT_EQ(reader.offset(), text.size());
}

} // namespace
} // namespace eima::ima
