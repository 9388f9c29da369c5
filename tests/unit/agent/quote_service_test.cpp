// QuoteService against a real swtpm, the way eimad uses it: the event loop (this thread)
// appends entries and asks for quotes and PCR reads, which wait their turn on the host
// extender's thread while more entries come in, and the loop looks in on the answers
// without waiting. Every answer covers exactly the entries it counts: its PCR 10 is the
// first `entries` entries of the list replayed. scripts/sanitize.sh runs this under TSan
// too: the two threads share the extender's queue and the answers' futures.
#include "agent/quote_service.h"

#include <thread>

#include "../tpm/tpm_test_support.h"
#include "agent/container_registry.h"
#include "agent/host_recorder.h"
#include "agent/tpm_extender.h"
#include "agent_fakes.h"

namespace eima::agent {
namespace {

using ima::HashAlgo;
using tpm::testing::pcr_extend;

const std::vector<HashAlgo> banks{HashAlgo::sha1, HashAlgo::sha256};

class QuoteServiceTest : public tpm::testing::SwtpmTest {
protected:
	void SetUp() override
	{
		SwtpmTest::SetUp();
		if (IsSkipped() || HasFatalFailure())
			return;
		auto t = tpm::Tpm::open(swtpm_->tcti());
		ASSERT_TRUE(t) << t.error().message();
		extender_ = std::make_unique<TpmExtender>(std::make_unique<tpm::Tpm>(std::move(*t)));
		host_.emplace(dir_.path() + "/host", extender_.get());
		auto first = *ima::make_boot_aggregate(HashAlgo::sha256, Bytes(32, 0), "ima-ng");
		ASSERT_TRUE(host_->open(banks, false, "b\n", first));
		remember(first);
		registry_.emplace(proc_, "", 10);
		service_.emplace(QuoteService::Site{
			extender_.get(), &*host_, &*registry_, HashAlgo::sha256, 10, 11,
			[](std::uint64_t) -> Container * { return nullptr; }, [this] { host_->flush(); }});
	}

	void append(int n)
	{
		auto e = *ima::make_ima_ng(HashAlgo::sha256, Bytes(32, static_cast<std::uint8_t>(n)),
					   "/bin/f" + std::to_string(n), 10);
		host_->append(e);
		remember(e);
	}

	// PCR 10 (sha256) after the list's first n entries, computed here from their records.
	std::string pcr10_after(std::size_t n) const
	{
		Bytes pcr(32, 0);
		for (std::size_t i = 0; i < n && i < records_.size(); ++i)
			pcr = pcr_extend(HashAlgo::sha256, pcr, records_[i].digests.at(1).second);
		return to_hex(pcr);
	}

	std::unique_ptr<TpmExtender> extender_;
	std::optional<HostRecorder> host_;
	testing::FakeProcesses proc_;
	std::optional<ContainerRegistry> registry_;
	std::optional<QuoteService> service_;

private:
	void remember(const ima::TemplateEntry &e)
	{
		auto r = extend_record(e, banks);
		ASSERT_TRUE(r) << r.error().message();
		ASSERT_EQ(r->digests.at(1).first, HashAlgo::sha256);
		records_.push_back(std::move(*r));
	}
	std::vector<ExtendRecord> records_;
};

TEST_F(QuoteServiceTest, AnswersCoverExactlyTheEntriesTheyCountWhileEntriesKeepComing)
{
	std::vector<ControlAnswer> answers;
	for (int round = 0; round < 16; ++round) {
		for (int i = 0; i < 5; ++i)
			append(round * 5 + i);
		if (round % 2)
			answers.push_back(service_->pcrs({{"cmd", "pcrs"}, {"banks", {"sha1", "sha256"}}}));
		else
			answers.push_back(service_->quote({{"cmd", "quote"},
							  {"nonce", to_hex(Bytes(16, round))},
							  {"pcrs", {10}}}));
	}
	for (int i = 80; i < 90; ++i) // written by no answer's flush: counted by none
		append(i);

	// Looked in on without waiting, as the event loop does, until every answer is in.
	std::vector<std::optional<nlohmann::json>> replies(answers.size());
	auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
	for (bool all = false; !all && std::chrono::steady_clock::now() < deadline;) {
		all = true;
		for (std::size_t i = 0; i < answers.size(); ++i) {
			if (!replies[i])
				replies[i] = answers[i](false);
			all = all && replies[i];
		}
		std::this_thread::sleep_for(std::chrono::milliseconds(1));
	}
	for (std::size_t i = 0; i < replies.size(); ++i) {
		ASSERT_TRUE(replies[i]) << "answer " << i << " never came in";
		const auto &r = *replies[i];
		ASSERT_FALSE(r.contains("error")) << r.dump();
		auto entries = r.at("entries").get<std::size_t>();
		EXPECT_EQ(entries, 1 + 5 * (i + 1)); // the boot aggregate, then 5 per round
		const auto &pcr10 = i % 2 ? r.at("banks").at("sha256").at("10") : r.at("pcrs").at("10");
		EXPECT_EQ(pcr10, pcr10_after(entries)) << "answer " << i;
	}
	host_->flush();
	auto last = service_->pcrs({{"cmd", "pcrs"}})(true);
	ASSERT_TRUE(last);
	EXPECT_EQ(last->at("entries"), 91);
	EXPECT_EQ(last->at("banks").at("sha256").at("10"), pcr10_after(91));
}

TEST_F(QuoteServiceTest, BadRequestsAndAMissingContainerAreAnsweredAtOnce)
{
	auto bad = service_->quote({{"cmd", "quote"}, {"nonce", "zz"}})(false);
	ASSERT_TRUE(bad);
	EXPECT_NE(bad->at("error").get<std::string>().find("nonce"), std::string::npos);
	auto bank = service_->pcrs({{"cmd", "pcrs"}, {"bank", "md4"}})(false);
	ASSERT_TRUE(bank);
	EXPECT_EQ(bank->at("error"), "unknown bank: md4");
	auto none = service_->quote(
		{{"cmd", "quote"}, {"nonce", "0102"}, {"container", "nowhere"}})(false);
	ASSERT_TRUE(none);
	EXPECT_EQ(none->at("error"), "no such container: nowhere");
}

} // namespace
} // namespace eima::agent
