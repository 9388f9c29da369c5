#include <fstream>
#include <iterator>

#include <gtest/gtest.h>

#include "attest/log_verifier.h"
#include "ima/ascii_log.h"
#include "ima/binary_log.h"

using namespace eima;

namespace
{

ima::UnverifiedLog sample_log()
{
	ima::UnverifiedLog log;
	Bytes zeros(32, 0);
	log.entries.push_back(*ima::make_boot_aggregate(ima::HashAlgo::sha256, zeros));
	for (int i = 0; i < 4; ++i) {
		Bytes d(32, static_cast<uint8_t>(i + 1));
		log.entries.push_back(*ima::make_ima_ng(
			ima::HashAlgo::sha256, d, "/bin/f" + std::to_string(i), i % 2 ? 11 : 10));
	}
	return log;
}

std::map<ima::HashAlgo, ima::PcrValues> pcrs_of(const ima::UnverifiedLog &log)
{
	std::map<ima::HashAlgo, ima::PcrValues> out;
	for (auto bank : {ima::HashAlgo::sha1, ima::HashAlgo::sha256})
		out[bank] = *ima::replay(log.entries, bank);
	return out;
}

} // namespace

TEST(LogVerifier, GoodLogMatchesAtTheLastEntry)
{
	auto log = sample_log();
	auto rep = attest::verify_log(log, pcrs_of(log));
	EXPECT_TRUE(rep.ok());
	EXPECT_EQ(rep.entries, 5u);
	EXPECT_TRUE(rep.pcr_match.value_or(false));
	EXPECT_TRUE(rep.early_match.empty());
}

TEST(LogVerifier, AppendedEntryIsCaught)
{
	auto log = sample_log();
	auto pcrs = pcrs_of(log);
	Bytes d(32, 0x77);
	log.entries.push_back(*ima::make_ima_ng(ima::HashAlgo::sha256, d, "/bin/evil", 10));
	auto rep = attest::verify_log(log, pcrs);
	EXPECT_FALSE(rep.ok());
	ASSERT_TRUE(rep.early_match.contains(ima::HashAlgo::sha256));
	EXPECT_EQ(rep.early_match[ima::HashAlgo::sha256], 4u);
}

TEST(LogVerifier, FlippedPathIsATemplateHashError)
{
	auto log = sample_log();
	auto pcrs = pcrs_of(log);
	log.entries[2].fields[1][3] ^= 1;
	auto rep = attest::verify_log(log, pcrs);
	ASSERT_EQ(rep.template_hash_errors.size(), 1u);
	EXPECT_EQ(rep.template_hash_errors[0].first, 2u);
	EXPECT_FALSE(rep.pcr_match.value_or(true));
}

TEST(LogVerifier, DroppedAndSwappedEntriesMismatch)
{
	auto log = sample_log();
	auto pcrs = pcrs_of(log);
	auto dropped = log;
	dropped.entries.erase(dropped.entries.begin() + 3);
	EXPECT_FALSE(attest::verify_log(dropped, pcrs).ok());
	auto swapped = log;
	std::swap(swapped.entries[1], swapped.entries[3]); // same PCR 10, different order
	EXPECT_FALSE(attest::verify_log(swapped, pcrs).ok());
	auto moved = log;
	moved.entries[2].pcr = 10;
	EXPECT_FALSE(attest::verify_log(moved, pcrs).ok());
}

TEST(LogVerifier, TellsAsciiFromBinary)
{
	auto log = sample_log();
	auto ascii = ima::write_ascii_log(log);
	auto bin = ima::write_binary_log(log);
	ASSERT_TRUE(ascii && bin);
	auto a = attest::read_any_log(*ascii, "a");
	auto b = attest::read_any_log({reinterpret_cast<const char *>(bin->data()), bin->size()},
				      "b");
	ASSERT_TRUE(a && b);
	EXPECT_EQ(a->entries, log.entries);
	EXPECT_EQ(b->entries, log.entries);
	auto bad = attest::read_any_log(ascii->substr(0, 30) + "zz", "bad.log");
	ASSERT_FALSE(bad);
	EXPECT_NE(bad.error().message().find("bad.log"), std::string::npos);
}

namespace
{

std::string corpus_file(const std::string &name)
{
	std::ifstream in(std::string(CORPUS_DIR) + "/ima-logs/" + name, std::ios::binary);
	return {std::istreambuf_iterator<char>(in), {}};
}

} // namespace

TEST(LogVerifier, StreamingAgreesWithParsedOnTheCorpus)
{
	for (auto name : {"embrave-research-ima-dep-cgn.binary_runtime_measurements",
			  "keylime-perf-ubuntu-ima-ng-sha256.ascii_runtime_measurements",
			  "keylime-create-runtime-policy-ima-log-sm3_256"}) {
		auto bytes = corpus_file(name);
		ASSERT_FALSE(bytes.empty()) << name;
		auto log = attest::read_any_log(bytes, name);
		ASSERT_TRUE(log) << log.error().message();
		auto a = attest::verify_log(*log, {});
		auto b = attest::verify_log_bytes(bytes, {});
		EXPECT_TRUE(a.ok()) << name;
		EXPECT_TRUE(b.ok()) << name;
		EXPECT_EQ(a.entries, b.entries);
		EXPECT_EQ(a.templates, b.templates);
		EXPECT_EQ(a.replay, b.replay);
		EXPECT_EQ(b.first_failure(), "");
	}
}

TEST(LogVerifier, LargeListUsesTwoPassesWithTheSameResult)
{
	// Over the 4 MiB threshold: the banks are split over two threads.
	ima::UnverifiedLog log = sample_log();
	log.entries.push_back(*ima::make_violation("ima-ng", ima::HashAlgo::sha256, "/tmp/x"));
	while (log.entries.size() < 60000)
		log.entries.push_back(log.entries[1 + log.entries.size() % 5]);
	auto bin = ima::write_binary_log(log);
	ASSERT_TRUE(bin);
	ASSERT_GT(bin->size(), 4u << 20);
	auto pcrs = pcrs_of(log);
	auto rep = attest::verify_log_bytes(
		{reinterpret_cast<const char *>(bin->data()), bin->size()}, pcrs);
	EXPECT_TRUE(rep.ok());
	EXPECT_EQ(rep.entries, log.entries.size());
	EXPECT_EQ(rep.replay, pcrs);
	EXPECT_EQ(rep.pcr_match, true);
	EXPECT_EQ(rep.violations, 12000u);

	// Cut in the last record: both passes stop after the entries before it.
	auto cut = attest::verify_log_bytes(
		{reinterpret_cast<const char *>(bin->data()), bin->size() - 5}, pcrs);
	ASSERT_TRUE(cut.parse_error);
	EXPECT_EQ(cut.entries, log.entries.size() - 1);
	log.entries.pop_back();
	EXPECT_EQ(cut.replay, pcrs_of(log));
	EXPECT_EQ(cut.first_failure(), "parse");
}

TEST(LogVerifier, ParseErrorsAreReportedNotThrown)
{
	auto log = sample_log();
	auto bin = ima::write_binary_log(log);
	ASSERT_TRUE(bin);
	std::string bytes(reinterpret_cast<const char *>(bin->data()), bin->size() - 7);
	auto rep = attest::verify_log_bytes(bytes, pcrs_of(log));
	ASSERT_TRUE(rep.parse_error);
	EXPECT_NE(rep.parse_error->find("offset"), std::string::npos) << *rep.parse_error;
	EXPECT_EQ(rep.first_failure(), "parse");
	EXPECT_EQ(rep.entries, log.entries.size() - 1);
	EXPECT_FALSE(rep.ok());
	EXPECT_EQ(attest::verify_log_bytes("", {}).first_failure(), "parse");
	EXPECT_EQ(rep.to_json()["checks"]["parse"], "fail");
}

TEST(LogVerifier, FirstFailureNamesTheCheck)
{
	auto log = sample_log();
	auto pcrs = pcrs_of(log);
	auto appended = log;
	appended.entries.push_back(log.entries[2]);
	EXPECT_EQ(attest::verify_log(appended, pcrs).first_failure(), "appended_entries");
	auto flipped = log;
	flipped.entries[2].fields[1][1] ^= 1;
	EXPECT_EQ(attest::verify_log(flipped, pcrs).first_failure(), "template_hash");
	auto moved = log;
	moved.entries[2].pcr = 12;
	EXPECT_EQ(attest::verify_log(moved, pcrs).first_failure(), "pcr_replay");
	EXPECT_EQ(attest::verify_log(log, pcrs).to_json()["first_failure"], nullptr);
}
