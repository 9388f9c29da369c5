// TpmExtender against a real swtpm: a queued quote covers exactly the records submitted
// before it, however many follow while it waits its turn. Backed by a list, it keeps only a
// few records in memory and reads the rest back, and after swtpm is killed it starts it
// again and extends the whole list again, in order.
#include "agent/tpm_extender.h"

#include <signal.h>

#include <atomic>

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

TEST_F(TpmExtenderTest, BackedByItsListItKeepsFewRecordsAndRecoversAKilledTpm)
{
	// The "list on disk": every record ever submitted, read back by index.
	std::vector<ExtendRecord> list;
	std::mutex list_mu;
	std::atomic<int> reads{0}, reopens{0};
	tpm::Swtpm *sw = swtpm_.get();
	std::string tcti = swtpm_->tcti();
	auto t = tpm::Tpm::open(tcti);
	ASSERT_TRUE(t) << t.error().message();
	TpmExtender ext(std::make_unique<tpm::Tpm>(std::move(*t)));
	ext.back_with_list(
		{[&, reopen = tpm_reopener(sw, tcti)]() {
			 ++reopens;
			 return reopen();
		 },
		 [&](std::uint64_t from, std::size_t max) -> Result<std::vector<ExtendRecord>> {
			 ++reads;
			 std::lock_guard lock(list_mu);
			 std::vector<ExtendRecord> out;
			 for (auto i = from; i < list.size() && out.size() < max; ++i)
				 out.push_back(list[i]);
			 return out;
		 },
		 {HashAlgo::sha1, HashAlgo::sha256}, 4},
		0);
	auto submit = [&](std::uint8_t n) {
		{
			std::lock_guard lock(list_mu);
			list.push_back(record(n)); // written first, then submitted
		}
		ext.submit(record(n));
	};
	Bytes expected(32, 0);
	::kill(sw->pid(), SIGSTOP); // the first 40 queue up behind a stalled TPM
	for (std::uint8_t n = 1; n <= 40; ++n) {
		submit(n);
		expected = pcr_extend(HashAlgo::sha256, expected, Bytes(32, n));
	}
	EXPECT_GE(ext.pending(), 39u);
	::kill(sw->pid(), SIGCONT);
	auto pcr10 = [&] {
		return ext.later<std::map<std::uint32_t, Bytes>>([](tpm::Tpm &t) {
				  return t.read_pcrs(HashAlgo::sha256, {10});
			  }).get();
	};
	auto now = pcr10();
	ASSERT_TRUE(now) << now.error().message();
	EXPECT_EQ(now->at(10), expected);
	EXPECT_GT(reads.load(), 0); // beyond 4 in memory, records came back from the list
	EXPECT_EQ(ext.pending(), 0u);

	::kill(sw->pid(), SIGKILL); // its PCRs die with it
	for (std::uint8_t n = 41; n <= 60; ++n) {
		submit(n);
		expected = pcr_extend(HashAlgo::sha256, expected, Bytes(32, n));
	}
	now = pcr10();
	ASSERT_TRUE(now) << now.error().message();
	EXPECT_EQ(now->at(10), expected); // all 60 again, in order, in the new swtpm
	EXPECT_GE(reopens.load(), 1);
	EXPECT_EQ(ext.recoveries(), 1u);
	EXPECT_EQ(ext.describe(), "open");
	EXPECT_EQ(ext.failures(), 0u);
}

// Submits and reads from several threads while another looks at its state, as eimad's event
// loop, control answers and metrics do (scripts/sanitize.sh runs this under TSan): each read
// covers exactly the records submitted before it, and they reach the TPM in that order.
TEST_F(TpmExtenderTest, ConcurrentSubmitsReadsAndStatusKeepTheOrder)
{
	auto t = tpm::Tpm::open(swtpm_->tcti());
	ASSERT_TRUE(t) << t.error().message();
	TpmExtender ext(std::make_unique<tpm::Tpm>(std::move(*t)));
	std::mutex order_mu; // makes "submitted before" one order the test can replay
	Bytes expected(32, 0);
	struct Read {
		std::future<Result<tpm::Quote>> quote;
		Bytes expected;
	};
	std::vector<std::vector<Read>> reads(3);
	std::atomic<bool> done{false};
	std::thread watcher([&] {
		while (!done) {
			(void)ext.describe();
			(void)ext.queued();
			(void)ext.pending();
			(void)ext.extended();
			(void)ext.failures();
			(void)ext.last_error();
			(void)ext.state();
		}
	});
	std::vector<std::thread> submitters;
	for (int k = 0; k < 3; ++k)
		submitters.emplace_back([&, k] {
			for (int n = 0; n < 20; ++n) {
				auto v = static_cast<std::uint8_t>(k * 20 + n + 1);
				std::lock_guard lock(order_mu);
				ext.submit(record(v));
				expected = pcr_extend(HashAlgo::sha256, expected, Bytes(32, v));
				if (n % 5 == 4)
					reads[k].push_back({ext.quote_later(HashAlgo::sha256, {10}, Bytes(8, v)),
							    expected});
			}
		});
	for (auto &s : submitters)
		s.join();
	for (auto &per_thread : reads)
		for (auto &r : per_thread) {
			auto q = r.quote.get();
			ASSERT_TRUE(q) << q.error().message();
			EXPECT_EQ(q->pcrs.at(10), r.expected);
		}
	done = true;
	watcher.join();
	EXPECT_EQ(ext.extended(), 60u);
	EXPECT_EQ(ext.queued(), 0u);
	EXPECT_EQ(ext.failures(), 0u);
}

} // namespace
} // namespace eima::agent
