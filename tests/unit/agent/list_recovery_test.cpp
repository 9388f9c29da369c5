// Resuming a list after eimad stopped or was killed: the torn tail is cut off, the ascii
// list is made to agree with the binary one, and the prefix a TPM holds is found by replay
// (a fake TPM here: PCR values computed the way a TPM extends).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "agent/list_recovery.h"
#include "agent/measurement_list.h"
#include "common/file_io.h"

using namespace eima;
using namespace eima::agent;

namespace {

const std::vector<ima::HashAlgo> banks{ima::HashAlgo::sha1, ima::HashAlgo::sha256};

long lines(const std::string &path)
{
	auto text = read_file(path).value_or("");
	return std::count(text.begin(), text.end(), '\n');
}

// The PCRs of a TPM that extended exactly these records.
PcrBanks tpm_after(const std::vector<ExtendRecord> &records)
{
	PcrBanks pcrs;
	for (auto bank : banks)
		for (std::uint32_t i = 0; i < 24; ++i)
			pcrs[bank][i] = Bytes(ima::digest_size(bank), 0);
	for (auto &rec : records)
		for (auto &[bank, digest] : rec.digests) {
			Bytes both = pcrs[bank][rec.pcr];
			both.insert(both.end(), digest.begin(), digest.end());
			pcrs[bank][rec.pcr] = *ima::digest(bank, both);
		}
	return pcrs;
}

class ListRecoveryTest : public ::testing::Test {
protected:
	void SetUp() override
	{
		dir_ = (std::filesystem::temp_directory_path() /
			("eima-recovery-" + std::to_string(::getpid())))
			       .string();
		std::filesystem::remove_all(dir_);
		auto list = MeasurementList::create(dir_, banks);
		ASSERT_TRUE(list);
		Bytes d(32, 0x11);
		for (int i = 0; i < 6; ++i) {
			d[0] = static_cast<std::uint8_t>(i);
			auto e = ima::make_ima_ng(ima::HashAlgo::sha256, d, "/bin/f" + std::to_string(i),
						  i % 2 ? 11 : 10);
			ASSERT_TRUE(e);
			auto rec = list->append(*e);
			ASSERT_TRUE(rec);
			records_.push_back(*rec);
		}
		ASSERT_TRUE(list->flush());
	}
	void TearDown() override { std::filesystem::remove_all(dir_); }

	std::string dir_;
	std::vector<ExtendRecord> records_;
};

TEST_F(ListRecoveryTest, FindsThePrefixTheTpmHolds)
{
	for (std::size_t k = 0; k <= records_.size(); ++k) {
		std::vector<ExtendRecord> held(records_.begin(), records_.begin() + k);
		EXPECT_EQ(extended_prefix(records_, tpm_after(held)), k) << "prefix " << k;
	}
}

TEST_F(ListRecoveryTest, ATpmThatHoldsSomethingElseMatchesNoPrefix)
{
	auto other = records_;
	other[2].digests[1].second[0] ^= 1; // one entry extended that the list does not have
	EXPECT_EQ(extended_prefix(records_, tpm_after(other)), std::nullopt);
	auto reset = tpm_after({});
	reset[ima::HashAlgo::sha256][10][0] = 1; // a PCR no prefix reaches
	EXPECT_EQ(extended_prefix(records_, reset), std::nullopt);
}

TEST_F(ListRecoveryTest, ResumeCutsATornRecordAndRewritesTheAsciiList)
{
	std::string binary = dir_ + "/binary_runtime_measurements";
	std::string ascii = dir_ + "/ascii_runtime_measurements";
	auto whole = read_file(binary);
	ASSERT_TRUE(whole);
	// Killed inside write(): half of one more record; the ascii list behind by one line.
	{
		std::ofstream(binary, std::ios::app) << whole->substr(0, 30);
		auto text = *read_file(ascii);
		text.erase(text.rfind('\n', text.size() - 2) + 1);
		ASSERT_TRUE(write_file(ascii, text));
	}
	auto r = MeasurementList::resume(dir_, banks);
	ASSERT_TRUE(r) << r.error().message();
	EXPECT_EQ(r->torn_bytes, 30u);
	EXPECT_FALSE(r->torn_reason.empty());
	EXPECT_EQ(r->list.entries(), 6u);
	ASSERT_EQ(r->records.size(), 6u);
	EXPECT_EQ(r->records[5].digests, records_[5].digests);
	EXPECT_EQ(*read_file(binary), *whole);
	EXPECT_EQ(read_file(binary + ".torn")->size(), 30u);
	EXPECT_EQ(lines(ascii), 6);
	// Appending goes on after the last whole record, in both files.
	auto e = ima::make_ima_ng(ima::HashAlgo::sha256, Bytes(32, 0x22), "/bin/after", 10);
	ASSERT_TRUE(r->list.append(*e));
	ASSERT_TRUE(r->list.flush());
	auto again = MeasurementList::resume(dir_, banks);
	ASSERT_TRUE(again);
	EXPECT_EQ(again->torn_bytes, 0u);
	EXPECT_EQ(again->list.entries(), 7u);
	EXPECT_EQ(lines(ascii), 7);
}

TEST(ListRecovery, NoListIsAnError)
{
	EXPECT_FALSE(MeasurementList::resume("/nonexistent/eima", banks));
}

TEST(ListRecovery, InterruptionEntryIsAViolationNamingTheSpan)
{
	auto e = interruption_entry("ima-ng", ima::HashAlgo::sha256, 10, 5, 9);
	ASSERT_TRUE(e);
	EXPECT_TRUE(ima::is_violation(*e));
	EXPECT_EQ(*ima::event_name(*e), "eima-interrupted:5-9");
	EXPECT_EQ(e->pcr, 10u);
}

} // namespace
