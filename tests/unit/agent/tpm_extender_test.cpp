// TpmExtender against a real swtpm: a queued quote covers exactly the records submitted
// before it, however many follow while it waits its turn.
#include "agent/tpm_extender.h"

#include "../tpm/tpm_test_support.h"

namespace eima::agent {
namespace {

using ima::HashAlgo;
using tpm::testing::pcr_extend;

ExtendRecord record(std::uint8_t n)
{
	return {10, {{HashAlgo::sha1, Bytes(20, n)}, {HashAlgo::sha256, Bytes(32, n)}}};
}

class TpmExtenderTest : public tpm::testing::SwtpmTest {};

TEST_F(TpmExtenderTest, QueuedQuoteCoversExactlyTheRecordsBeforeIt)
{
	auto t = tpm::Tpm::open(swtpm_->tcti());
	ASSERT_TRUE(t) << t.error().message();
	TpmExtender ext(std::make_unique<tpm::Tpm>(std::move(*t)));
	Bytes expected(32, 0);
	for (std::uint8_t n = 1; n <= 20; ++n) {
		ext.submit(record(n));
		expected = pcr_extend(HashAlgo::sha256, expected, Bytes(32, n));
	}
	Bytes nonce(16, 0xab);
	auto later = ext.quote_later(HashAlgo::sha256, {10}, nonce);
	for (std::uint8_t n = 21; n <= 40; ++n) // queued behind the quote
		ext.submit(record(n));
	auto q = later.get();
	ASSERT_TRUE(q) << q.error().message();
	EXPECT_EQ(q->pcrs.at(10), expected);

	// A read queued afterwards sees all 40.
	Bytes all = expected;
	for (std::uint8_t n = 21; n <= 40; ++n)
		all = pcr_extend(HashAlgo::sha256, all, Bytes(32, n));
	auto now = ext.later<std::map<std::uint32_t, Bytes>>([](tpm::Tpm &t) {
			      return t.read_pcrs(HashAlgo::sha256, {10});
		      }).get();
	ASSERT_TRUE(now) << now.error().message();
	EXPECT_EQ(now->at(10), all);
	EXPECT_EQ(ext.extended(), 40u);
}

TEST_F(TpmExtenderTest, QueuedQuoteWaitsForTheOpenerAndReportsItsFailure)
{
	std::string tcti = swtpm_->tcti();
	TpmExtender slow([tcti]() -> Result<std::unique_ptr<tpm::Tpm>> {
		auto t = tpm::Tpm::open(tcti);
		if (!t)
			return std::unexpected(t.error());
		return std::make_unique<tpm::Tpm>(std::move(*t));
	});
	slow.submit(record(7));
	auto q = slow.quote_later(HashAlgo::sha256, {10}, Bytes(8, 1)).get();
	ASSERT_TRUE(q) << q.error().message();
	EXPECT_EQ(q->pcrs.at(10), pcr_extend(HashAlgo::sha256, Bytes(32, 0), Bytes(32, 7)));

	TpmExtender broken([]() -> Result<std::unique_ptr<tpm::Tpm>> {
		return fail(ECONNREFUSED, "start swtpm", "/nowhere");
	});
	auto bad = broken.quote_later(HashAlgo::sha256, {10}, Bytes(8, 1)).get();
	ASSERT_FALSE(bad);
	EXPECT_NE(bad.error().message().find("TPM did not open"), std::string::npos);
	EXPECT_NE(bad.error().message().find("/nowhere"), std::string::npos)
		<< bad.error().message();
}

} // namespace
} // namespace eima::agent
