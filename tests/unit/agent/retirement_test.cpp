// Retirement with a fake quote source: a container without a vTPM is exited at once; one
// with a vTPM stays retiring (final evidence "pending" in `eima ps`) until its final quote
// is in, whose nonce is the SHA-256 of its final binary list; a refused or failed quote is
// said in final_evidence, never silently dropped.
#include "agent/retirement.h"

#include <gtest/gtest.h>

#include "../tpm/tpm_test_support.h"
#include "agent_fakes.h"
#include "common/file_io.h"

namespace eima::agent {
namespace {

using ima::HashAlgo;
using testing::event_in;
using testing::FakeProcesses;

// Container quotes whose answers the test decides (refuse, reply), recording the calls.
class FakeQuotes : public ContainerQuotes {
public:
	std::optional<nlohmann::json> refuse; // start_quote's answer
	std::optional<nlohmann::json> reply;  // step_quote's, once set
	std::vector<std::string> started;
	std::optional<nlohmann::json> start_quote(Container &c, ContainerQuote &q) override
	{
		started.push_back(c.id);
		last_nonce = q.nonce;
		return refuse;
	}
	std::optional<nlohmann::json> step_quote(Container *, ContainerQuote &, bool wait) override
	{
		if (!reply && wait)
			return nlohmann::json{{"error", "gave up waiting"}};
		return reply;
	}
	Bytes last_nonce;
};

class RetirementTest : public ::testing::Test {
protected:
	RetirementTest()
		: registry_(proc_, "", 10),
		  retirement_({&registry_, &quotes_, tmp_.path(),
			       [this](const Container &c) { forgotten_.push_back(c.key); },
			       [this] { ++flushes_; }})
	{
	}

	// A live container with a list of two entries (written only at flush).
	Container &container(std::uint64_t key, bool with_vtpm)
	{
		Container &c = registry_.add(event_in(key, 1000 + key, 1));
		auto list = MeasurementList::create(tmp_.path() + "/containers/c" + std::to_string(key),
						    {HashAlgo::sha1, HashAlgo::sha256});
		EXPECT_TRUE(list);
		c.list = std::move(*list);
		for (int i = 0; i < 2; ++i)
			EXPECT_TRUE(c.list->append(*ima::make_ima_ng(HashAlgo::sha256, Bytes(32, i),
								     "/bin/x", 10)));
		if (with_vtpm)
			c.vtpm = std::make_unique<VirtualTpm>(c.list->dir() + "/vtpm",
							      c.list->dir() + "/binary_runtime_measurements",
							      "test vTPM");
		return c;
	}

	const nlohmann::json *ps_entry(const std::string &id)
	{
		ps_ = ps_json(registry_, retirement_);
		for (auto &e : ps_["containers"])
			if (e["id"] == id)
				return &e;
		return nullptr;
	}

	tpm::testing::TempDir tmp_;
	FakeProcesses proc_;
	FakeQuotes quotes_;
	ContainerRegistry registry_;
	Retirement retirement_;
	std::vector<std::uint64_t> forgotten_;
	int flushes_ = 0;
	nlohmann::json ps_;
};

TEST_F(RetirementTest, WithoutAVtpmAContainerExitsAtOnce)
{
	Container &c = container(1, false);
	std::string id = c.id, dir = c.list->dir();
	ASSERT_EQ(ps_entry(id)->at("state"), "running");
	retirement_.retire(registry_.take(1));
	EXPECT_EQ(forgotten_, std::vector<std::uint64_t>{1});
	EXPECT_TRUE(retirement_.retiring().empty());
	EXPECT_TRUE(quotes_.started.empty());
	auto *e = registry_.find_exited(id);
	ASSERT_NE(e, nullptr);
	EXPECT_EQ(e->final_evidence, "none: no vTPM");
	EXPECT_EQ(e->entries, 2u);
	EXPECT_EQ(e->log_dir, dir);
	// Its list was written on the way out.
	auto ascii = read_file(dir + "/ascii_runtime_measurements").value_or("");
	EXPECT_EQ(std::count(ascii.begin(), ascii.end(), '\n'), 2);
	auto *ps = ps_entry(id);
	ASSERT_NE(ps, nullptr);
	EXPECT_EQ(ps->at("state"), "exited");
	EXPECT_EQ(ps->at("final_evidence"), "none: no vTPM");
	EXPECT_EQ(ps->at("vtpm").at("state"), "none");
}

class RetirementVtpmTest : public RetirementTest {
protected:
	void SetUp() override
	{
		if (!tpm::testing::program_on_path("swtpm"))
			GTEST_SKIP() << "swtpm is not installed (apt-get install swtpm swtpm-tools)";
	}
};

TEST_F(RetirementVtpmTest, FinalEvidenceIsPendingUntilTheQuoteIsIn)
{
	Container &c = container(2, true);
	std::string id = c.id, dir = c.list->dir();
	retirement_.retire(registry_.take(2));
	ASSERT_EQ(quotes_.started, std::vector<std::string>{id});
	// Nonce: the SHA-256 of the final binary list, as a verifier recomputes it.
	auto list = read_file(dir + "/binary_runtime_measurements");
	ASSERT_TRUE(list);
	EXPECT_EQ(quotes_.last_nonce, *ima::digest(HashAlgo::sha256, as_bytes(*list)));
	EXPECT_TRUE(registry_.retiring(id));
	EXPECT_NE(retirement_.find(2), nullptr);
	EXPECT_EQ(ps_entry(id)->at("final_evidence"), "pending");

	retirement_.advance(false); // the quote is not in
	EXPECT_EQ(retirement_.retiring().size(), 1u);
	EXPECT_EQ(registry_.find_exited(id), nullptr);

	quotes_.reply = nlohmann::json{{"error", "vTPM: it went away"}};
	int before = flushes_;
	retirement_.advance(false);
	EXPECT_TRUE(retirement_.retiring().empty());
	EXPECT_EQ(retirement_.find(2), nullptr);
	EXPECT_GT(flushes_, before);
	auto *e = registry_.find_exited(id);
	ASSERT_NE(e, nullptr);
	EXPECT_EQ(e->final_evidence, "none: final quote: vTPM: it went away");
	EXPECT_EQ(e->vtpm.at("state"), "stopped");
	EXPECT_FALSE(registry_.retiring(id));
}

TEST_F(RetirementVtpmTest, ARefusedQuoteIsSaidInFinalEvidence)
{
	quotes_.refuse = nlohmann::json{{"error", "no host TPM"}};
	Container &c = container(3, true);
	std::string id = c.id;
	retirement_.retire(registry_.take(3));
	EXPECT_TRUE(retirement_.retiring().empty());
	ASSERT_NE(registry_.find_exited(id), nullptr);
	EXPECT_EQ(registry_.find_exited(id)->final_evidence, "none: no host TPM");
}

TEST_F(RetirementVtpmTest, WaitingTakesEveryRetiringContainerToTheEnd)
{
	container(4, true);
	container(5, true);
	retirement_.retire(registry_.take(4));
	retirement_.retire(registry_.take(5));
	EXPECT_EQ(retirement_.retiring().size(), 2u);
	retirement_.advance(true);
	EXPECT_TRUE(retirement_.retiring().empty());
	EXPECT_EQ(registry_.exited().size(), 2u);
}

} // namespace
} // namespace eima::agent
