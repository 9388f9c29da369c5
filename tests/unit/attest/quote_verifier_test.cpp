// Evidence made with a real swtpm (PCRs extended with the entries of an ima-ng list built
// here, quoted by tpm::Tpm::quote), verified, and then tampered with one way at a time: each
// tamper must fail at the check that names it.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "../tpm/tpm_test_support.h"
#include "quote_test_support.h"
#include "attest/evidence.h"
#include "attest/quote_verifier.h"
#include "ima/binary_log.h"
#include "ima/hash_algo.h"
#include "ima/template_entry.h"

namespace eima::attest
{
namespace
{

using ima::HashAlgo;
using tpm::testing::TempDir;
using namespace attest::testing;

const Bytes nonce = *from_hex("0badc0ffee0ddf00d15ea5e5b0a710ad");

class QuoteVerifierTest : public ::testing::Test
{
protected:
	// One swtpm for the suite: the entries are extended, the quote taken and the evidence
	// assembled once; each test tampers with its own copy.
	// Made by the first test's SetUp, not SetUpTestSuite: a failed assertion there would
	// mark every test skipped, and the suite would read as "swtpm is not installed".
	static void make_suite()
	{
		dir_ = new TempDir;
		auto sw = tpm::Swtpm::start(dir_->path() + "/tpm");
		ASSERT_TRUE(sw) << sw.error().message();
		auto t = tpm::Tpm::open((*sw)->tcti());
		ASSERT_TRUE(t) << t.error().message();

		std::vector<ima::TemplateEntry> entries;
		auto boot = ima::make_boot_aggregate(HashAlgo::sha256, Bytes(32, 0));
		ASSERT_TRUE(boot);
		entries.push_back(*boot);
		entries.push_back(file_entry("/usr/bin/true", 1));
		entries.push_back(file_entry("/usr/lib/x86_64-linux-gnu/libc.so.6", 2));
		entries.push_back(file_entry("c0ffee:/bin/busybox", 3, 11));
		entries.push_back(file_entry("/usr/bin/env", 4));
		entries.push_back(file_entry("c0ffee:/bin/sh", 5, 11));
		entries.push_back(file_entry("/usr/sbin/eimad", 6));
		extend_entries(*t, entries);
		auto q = t->quote(HashAlgo::sha256, {10, 11}, nonce);
		ASSERT_TRUE(q) << q.error().message();

		// The reply eimad gives (agent/quote_service.cpp), over a list that has grown since:
		// the evidence must cut it back to the entries quoted.
		nlohmann::json reply = quote_reply(*q, nonce, entries.size());
		auto grown = entries;
		grown.push_back(file_entry("/usr/bin/later", 7));
		auto ev = evidence_from_quote_reply(reply, write_list(grown));
		ASSERT_TRUE(ev) << ev.error().message();
		evidence_ = new Evidence(*ev);
		ak_pem_ = new std::string(q->ak_pem);
		entries_ = new std::vector<ima::TemplateEntry>(entries);
		(*sw)->stop();
	}

	static void TearDownTestSuite()
	{
		delete evidence_;
		delete ak_pem_;
		delete entries_;
		delete dir_;
		evidence_ = nullptr;
	}

	void SetUp() override
	{
		// Skipped only without swtpm; with it, a set-up that fails fails the test with
		// its error (the first test's assertion inside make_suite).
		if (!tpm::testing::program_on_path("swtpm"))
			GTEST_SKIP() << "swtpm is not installed (apt-get install swtpm)";
		if (!suite_attempted_) {
			suite_attempted_ = true;
			make_suite();
		}
		ASSERT_NE(evidence_, nullptr) << "the suite's set-up with swtpm failed (see the first "
					     "failure of this suite for its error)";
		ev_ = *evidence_;
	}

	QuoteReport verify(const Evidence &ev, const Bytes &n = nonce, const std::string &ak = {})
	{
		auto r = verify_evidence(ev, n, ak.empty() ? *ak_pem_ : ak);
		EXPECT_TRUE(r) << r.error().message();
		return r ? *r : QuoteReport{};
	}

	// Replaces the list with these entries (and their count).
	void set_list(const std::vector<ima::TemplateEntry> &entries)
	{
		ev_.list = write_list(entries);
		ev_.entries = entries.size();
	}

	static inline TempDir *dir_ = nullptr;
	static inline Evidence *evidence_ = nullptr;
	static inline bool suite_attempted_ = false;
	static inline std::string *ak_pem_ = nullptr;
	static inline std::vector<ima::TemplateEntry> *entries_ = nullptr;
	Evidence ev_;
};

TEST_F(QuoteVerifierTest, GoodEvidencePassesEveryCheckInOrder)
{
	EXPECT_EQ(ev_.entries, entries_->size());
	EXPECT_EQ(read_list(ev_.list), *entries_) << "the list is cut to the quoted entries";
	auto rep = verify(ev_);
	EXPECT_TRUE(rep.ok()) << rep.to_json().dump(2);
	EXPECT_EQ(rep.first_failure(), "");
	EXPECT_EQ(rep.entries, entries_->size());
	std::vector<std::string> names;
	for (auto &c : rep.checks)
		names.push_back(c.name);
	EXPECT_EQ(names, (std::vector<std::string>{"ak", "signature", "attest", "nonce",
						   "pcr_digest", "parse", "template_hash",
						   "appended_entries", "replay", "policy"}));
	auto j = rep.to_json();
	EXPECT_EQ(j["ok"], true);
	EXPECT_EQ(j["source"], "host");
	EXPECT_EQ(j["checks"]["replay"]["result"], "pass");
	// Not asked for: skipped, and not held against the verdict.
	EXPECT_EQ(j["checks"]["policy"]["result"], "skipped");
	EXPECT_EQ(j["checks"]["policy"]["why"], "no policy given");
}

TEST_F(QuoteVerifierTest, PolicyJudgesTheHostList)
{
	RuntimePolicy policy;
	for (auto &e : *entries_) {
		auto d = ima::file_digest(e);
		auto n = ima::event_name(e);
		ASSERT_TRUE(d && n);
		policy.digests[std::string(*n)].push_back(
			{"sha256", Bytes(d->digest.begin(), d->digest.end()), true});
	}
	auto r = verify_evidence(ev_, nonce, *ak_pem_, &policy);
	ASSERT_TRUE(r);
	EXPECT_TRUE(r->ok()) << r->to_json().dump(2);
	EXPECT_EQ(r->check("policy")->verdict, CheckVerdict::pass);

	policy.digests.erase("/usr/bin/env");
	r = verify_evidence(ev_, nonce, *ak_pem_, &policy);
	ASSERT_TRUE(r);
	EXPECT_EQ(r->first_failure(), "policy");
	ASSERT_EQ(r->policy_failures.size(), 1u);
	EXPECT_EQ(r->policy_failures[0].entry, 4u);
	EXPECT_EQ(r->policy_failures[0].reason, "not in policy");
	EXPECT_EQ(r->to_json()["policy_failures"][0]["path"], "/usr/bin/env");
}

TEST_F(QuoteVerifierTest, EvidenceSurvivesJsonRoundTrip)
{
	auto text = evidence_to_json(ev_).dump();
	auto back = parse_evidence(text, "mem");
	ASSERT_TRUE(back) << back.error().message();
	EXPECT_EQ(back->list, ev_.list);
	EXPECT_EQ(back->attest, ev_.attest);
	EXPECT_EQ(back->pcrs, ev_.pcrs);
	EXPECT_TRUE(verify(*back).ok());
}

TEST_F(QuoteVerifierTest, MalformedEvidenceIsAnErrorNamingTheMember)
{
	EXPECT_FALSE(parse_evidence("{", "e.json"));
	auto j = evidence_to_json(ev_);
	j["quote"].erase("attest");
	auto r = evidence_from_json(j, "e.json");
	ASSERT_FALSE(r);
	EXPECT_NE(r.error().message().find("attest"), std::string::npos) << r.error().message();
	j = evidence_to_json(ev_);
	j["list"]["data"] = "AAA"; // not a multiple of 4
	EXPECT_FALSE(evidence_from_json(j, "e.json"));
	j = evidence_to_json(ev_);
	j["quote"]["pcrs"]["10"] = "00";
	EXPECT_FALSE(evidence_from_json(j, "e.json"));
	j = evidence_to_json(ev_);
	j["version"] = 2;
	EXPECT_FALSE(evidence_from_json(j, "e.json"));
	// Members of another type are errors naming them, not exceptions (type_error.302).
	for (const char *key : {"format", "run_dir", "hostname"}) {
		j = evidence_to_json(ev_);
		j[key] = 7;
		r = evidence_from_json(j, "e.json");
		ASSERT_FALSE(r) << key;
		if (std::string_view(key) != "format")
			EXPECT_NE(r.error().message().find(key), std::string::npos)
				<< r.error().message();
	}
}

TEST_F(QuoteVerifierTest, Base64RoundTripsEveryLength)
{
	for (std::size_t n = 0; n < 10; ++n) {
		Bytes b(n);
		for (std::size_t i = 0; i < n; ++i)
			b[i] = static_cast<std::uint8_t>(0xF0 + i);
		auto back = base64_decode(base64_encode(b));
		ASSERT_TRUE(back);
		EXPECT_EQ(*back, b);
	}
	EXPECT_FALSE(base64_decode("A=AA"));
	EXPECT_FALSE(base64_decode("AA*A"));
}

TEST_F(QuoteVerifierTest, FlippedByteInAPathFailsTemplateHash)
{
	auto entries = *entries_;
	entries[2].fields[1][3] ^= 0x20;
	set_list(entries);
	auto rep = verify(ev_);
	EXPECT_EQ(rep.first_failure(), "template_hash") << rep.to_json().dump(2);
}

TEST_F(QuoteVerifierTest, FlippedByteInAFileDigestFailsTemplateHash)
{
	auto entries = *entries_;
	entries[4].fields[0].back() ^= 1;
	set_list(entries);
	EXPECT_EQ(verify(ev_).first_failure(), "template_hash");
}

TEST_F(QuoteVerifierTest, DroppedEntryFailsReplay)
{
	auto entries = *entries_;
	entries.erase(entries.begin() + 2);
	set_list(entries);
	auto rep = verify(ev_);
	EXPECT_EQ(rep.first_failure(), "replay") << rep.to_json().dump(2);
}

TEST_F(QuoteVerifierTest, DroppedLastEntryFailsReplay)
{
	auto entries = *entries_;
	entries.pop_back();
	set_list(entries);
	EXPECT_EQ(verify(ev_).first_failure(), "replay");
}

TEST_F(QuoteVerifierTest, InsertedEntryFailsReplay)
{
	auto entries = *entries_;
	entries.insert(entries.begin() + 3, file_entry("/tmp/evil", 9));
	set_list(entries);
	EXPECT_EQ(verify(ev_).first_failure(), "replay");
}

TEST_F(QuoteVerifierTest, SwappedEntriesFailReplay)
{
	auto entries = *entries_;
	std::swap(entries[1], entries[2]);
	set_list(entries);
	EXPECT_EQ(verify(ev_).first_failure(), "replay");
}

TEST_F(QuoteVerifierTest, AppendedEntryFailsAppendedEntries)
{
	auto entries = *entries_;
	entries.push_back(file_entry("/tmp/after-the-quote", 8));
	set_list(entries);
	auto rep = verify(ev_);
	EXPECT_EQ(rep.first_failure(), "appended_entries") << rep.to_json().dump(2);
	// Appended without fixing the count: the list does not hold what the evidence says.
	ev_.entries -= 1;
	EXPECT_EQ(verify(ev_).first_failure(), "parse");
}

TEST_F(QuoteVerifierTest, ChangedPcrIndexFailsReplay)
{
	auto entries = *entries_;
	entries[4].pcr = 11; // the header digest does not cover the PCR index
	set_list(entries);
	EXPECT_EQ(verify(ev_).first_failure(), "replay");
	entries = *entries_;
	entries[4].pcr = 12; // a PCR outside the quote
	set_list(entries);
	EXPECT_EQ(verify(ev_).first_failure(), "replay");
}

TEST_F(QuoteVerifierTest, TruncatedRecordFailsParse)
{
	ev_.list.resize(ev_.list.size() - 5);
	auto rep = verify(ev_);
	EXPECT_EQ(rep.first_failure(), "parse") << rep.to_json().dump(2);
	EXPECT_EQ(rep.check("replay")->verdict, CheckVerdict::skipped);
}

TEST_F(QuoteVerifierTest, ForgedSignatureByteFailsSignature)
{
	// TPMT_SIGNATURE: sigAlg(2) hash(2) r(2+32) s(2+32): flip a byte of r, then of s.
	ASSERT_EQ(ev_.signature.size(), 4u + 2 + 32 + 2 + 32);
	ev_.signature[10] ^= 1;
	EXPECT_EQ(verify(ev_).first_failure(), "signature");
	ev_ = *evidence_;
	ev_.signature.back() ^= 0x80;
	EXPECT_EQ(verify(ev_).first_failure(), "signature");
	// A byte of the attest blob: the signature no longer covers it.
	ev_ = *evidence_;
	ev_.attest[ev_.attest.size() - 3] ^= 1;
	EXPECT_EQ(verify(ev_).first_failure(), "signature");
}

TEST_F(QuoteVerifierTest, WrongNonceFailsNonce)
{
	Bytes other = nonce;
	other[0] ^= 1;
	auto rep = verify(ev_, other);
	EXPECT_EQ(rep.first_failure(), "nonce") << rep.to_json().dump(2);
}

TEST_F(QuoteVerifierTest, WrongAkFailsAkOrSignature)
{
	std::string other = other_key_pem();
	// The verifier trusts another key than the one in the evidence.
	EXPECT_EQ(verify(ev_, nonce, other).first_failure(), "ak");
	// The evidence claims another key than the trusted one.
	Evidence claimed = ev_;
	claimed.ak_pem = other;
	EXPECT_EQ(verify(claimed).first_failure(), "ak");
	// Both name the other key: the TPM's signature does not verify under it.
	auto rep = verify(claimed, nonce, other);
	EXPECT_EQ(rep.first_failure(), "signature") << rep.to_json().dump(2);
	// Not a key at all.
	EXPECT_FALSE(verify_evidence(ev_, nonce, "not a key"));
}

TEST_F(QuoteVerifierTest, TamperedQuotedPcrValueFailsPcrDigest)
{
	ev_.pcrs[10][5] ^= 1;
	auto rep = verify(ev_);
	EXPECT_EQ(rep.first_failure(), "pcr_digest") << rep.to_json().dump(2);
	// A PCR left out of the evidence: the selection no longer matches.
	ev_ = *evidence_;
	ev_.pcrs.erase(11);
	EXPECT_EQ(verify(ev_).first_failure(), "pcr_digest");
}

TEST(CutBinaryList, FailsWhenTheListIsShorterThanTheQuote)
{
	auto e = ima::make_ima_ng(HashAlgo::sha256, Bytes(32, 1), "/a");
	ASSERT_TRUE(e);
	Bytes list = write_list({*e, *e});
	auto cut = cut_binary_list(list, 1);
	ASSERT_TRUE(cut);
	EXPECT_EQ(cut->size(), list.size() / 2);
	EXPECT_FALSE(cut_binary_list(list, 3));
	EXPECT_FALSE(cut_binary_list(Bytes(list.begin(), list.end() - 1), 2));
}

} // namespace
} // namespace eima::attest
