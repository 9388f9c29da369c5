// Container evidence made with three real swtpms: the host TPM, and the vTPMs of containers
// A and B. The host list binds both vTPMs' AKs (ima-buf "eima-vtpm:<id>" entries on PCR 11,
// extended as the kernel would); each container's list is extended into its vTPM's PCR 10.
// Good evidence verifies under the host AK alone; each swap, replay or tamper fails at the
// check that names it.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "../tpm/tpm_test_support.h"
#include "attest/evidence.h"
#include "common/file_io.h"
#include "attest/quote_verifier.h"
#include "attest/runtime_policy.h"
#include "attest/vtpm_binding.h"
#include "quote_test_support.h"

namespace eima::attest
{
namespace
{

using ima::HashAlgo;
using namespace attest::testing;
using tpm::testing::TempDir;

const Bytes nonce = *from_hex("5eed0fc0ffee0ddba11c0de0b0a710ad");
const Bytes stale = *from_hex("01d0badc0de5eed01d");

ima::TemplateEntry binding_entry(const std::string &id, const std::string &ak_pem)
{
	// The EK is not checked by the verifier; any key stands in for it.
	Bytes buf = vtpm_binding_buffer({id, other_key_pem(), ak_pem, 4026532000});
	auto d = ima::digest(HashAlgo::sha256, buf);
	EXPECT_TRUE(d);
	auto e = ima::make_ima_buf(HashAlgo::sha256, *d, vtpm_binding_name(id), buf, 11);
	EXPECT_TRUE(e) << e.error().message();
	return *e;
}

std::vector<std::string> names(const QuoteReport &rep)
{
	std::vector<std::string> out;
	for (auto &c : rep.checks)
		out.push_back(c.name);
	return out;
}

struct Tpms {
	TempDir dir;
	std::unique_ptr<tpm::Swtpm> sw[3];
	std::optional<tpm::Tpm> host, a, b;
};

class ContainerEvidenceTest : public ::testing::Test
{
protected:
	// The swtpms are started (each with its own endorsement seed, so its own AK), extended
	// and quoted once for the suite; the tests tamper with copies of the evidence.
	// Made by the first test's SetUp, not SetUpTestSuite: a failed assertion there would
	// mark every test skipped, and the suite would read as "swtpm is not installed".
	static void make_suite()
	{
		auto t = std::make_unique<Tpms>();
		for (int i = 0; i < 3; ++i) {
			auto sw = tpm::Swtpm::start(t->dir.path() + "/tpm" + std::to_string(i));
			ASSERT_TRUE(sw) << sw.error().message();
			t->sw[i] = std::move(*sw);
		}
		std::optional<tpm::Tpm> *tpms[] = {&t->host, &t->a, &t->b};
		for (int i = 0; i < 3; ++i) {
			auto opened = tpm::Tpm::open(t->sw[i]->tcti());
			ASSERT_TRUE(opened) << opened.error().message();
			tpms[i]->emplace(std::move(*opened));
		}

		auto boot = ima::make_boot_aggregate(HashAlgo::sha256, Bytes(32, 0));
		ASSERT_TRUE(boot);
		list_a_ = {*boot, file_entry("/bin/busybox", 0xa1), file_entry("/bin/sh", 0xa2),
			   file_entry("/lib/ld-musl-x86_64.so.1", 0xa3)};
		list_b_ = {*boot, file_entry("/bin/busybox", 0xb1),
			   file_entry("/usr/bin/python3", 0xb2)};
		extend_entries(*t->a, list_a_);
		extend_entries(*t->b, list_b_);
		auto qa = t->a->quote(HashAlgo::sha256, {10}, nonce);
		auto qb = t->b->quote(HashAlgo::sha256, {10}, nonce);
		auto qa_stale = t->a->quote(HashAlgo::sha256, {10}, stale);
		ASSERT_TRUE(qa && qb && qa_stale);

		// A was bound once to a vTPM that is gone (another key), then to its current one:
		// the last binding is the one that counts.
		host_ = {*boot,
			 file_entry("/usr/bin/containerd", 1),
			 binding_entry("A", other_key_pem()),
			 binding_entry("A", qa->ak_pem),
			 file_entry("A:/bin/busybox", 0xa1, 11),
			 binding_entry("B", qb->ak_pem),
			 file_entry("B:/bin/busybox", 0xb1, 11),
			 file_entry("/usr/bin/runc", 2)};
		extend_entries(*t->host, host_);
		auto qh = t->host->quote(HashAlgo::sha256, {10, 11}, nonce);
		auto qh_stale = t->host->quote(HashAlgo::sha256, {10, 11}, stale);
		ASSERT_TRUE(qh && qh_stale);
		// Later A gets a vTPM of yet another key.
		auto rebound = host_;
		rebound.push_back(binding_entry("A", other_key_pem()));
		extend_entries(*t->host, {rebound.back()});
		auto qh_rebound = t->host->quote(HashAlgo::sha256, {10, 11}, nonce);
		ASSERT_TRUE(qh_rebound);
		host_ak_ = qh->ak_pem;

		// eimad's replies; the lists are read after them and have grown (the host list
		// by the rebinding, the containers' by one entry): evidence cuts them back.
		auto grown_a = list_a_;
		grown_a.push_back(file_entry("/bin/later", 0xa4));
		const Bytes read_a = write_list(grown_a), read_b = write_list(list_b_),
			    read_host = write_list(rebound);
		auto evidence = [&](const std::string &id, const tpm::Quote &cq, const Bytes &cn,
				    const Bytes &clist, std::size_t centries, const tpm::Quote &hq,
				    const Bytes &hn, std::size_t hentries) {
			nlohmann::json reply = quote_reply(cq, cn, centries);
			reply["container"] = id;
			reply["log_dir"] = "/run/eima/containers/" + id;
			reply["host"] = quote_reply(hq, hn, hentries);
			auto ev = evidence_from_container_quote_reply(reply, clist, read_host);
			EXPECT_TRUE(ev) << ev.error().message();
			return ev ? *ev : Evidence{};
		};
		const std::size_t na = list_a_.size(), nb = list_b_.size(), nh = host_.size();
		ev_a_ = evidence("A", *qa, nonce, read_a, na, *qh, nonce, nh);
		ev_b_ = evidence("B", *qb, nonce, read_b, nb, *qh, nonce, nh);
		ev_a_stale_ = evidence("A", *qa_stale, stale, read_a, na, *qh, nonce, nh);
		ev_a_stale_host_ = evidence("A", *qa, nonce, read_a, na, *qh_stale, stale, nh);
		ev_a_rebound_ =
			evidence("A", *qa, nonce, read_a, na, *qh_rebound, nonce, rebound.size());
		tpms_ = t.release(); // the swtpms stop with the suite
	}

	static void TearDownTestSuite()
	{
		delete tpms_;
		tpms_ = nullptr;
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
		ASSERT_NE(tpms_, nullptr) << "the suite's set-up with swtpm failed (see the first "
					     "failure of this suite for its error)";
	}

	static QuoteReport verify(const Evidence &ev, const std::string &ak = host_ak_,
				  const RuntimePolicy *policy = nullptr)
	{
		auto r = verify_evidence(ev, nonce, ak, policy);
		EXPECT_TRUE(r) << r.error().message();
		return r ? *r : QuoteReport{};
	}

	// A copy of ev whose host evidence is changed by f.
	template <typename F> static Evidence with_host(const Evidence &ev, F f)
	{
		Evidence host = *ev.host;
		f(host);
		Evidence out = ev;
		out.host = std::make_shared<const Evidence>(std::move(host));
		return out;
	}

	static RuntimePolicy policy_of(const std::vector<ima::TemplateEntry> &entries)
	{
		RuntimePolicy p;
		for (auto &e : entries) {
			auto d = ima::file_digest(e);
			auto n = ima::event_name(e);
			EXPECT_TRUE(d && n);
			p.digests[std::string(*n)].push_back(
				{"sha256", Bytes(d->digest.begin(), d->digest.end()), true});
		}
		return p;
	}

	static inline Tpms *tpms_ = nullptr;
	static inline bool suite_attempted_ = false;
	static inline std::vector<ima::TemplateEntry> list_a_, list_b_, host_;
	static inline std::string host_ak_;
	static inline Evidence ev_a_, ev_b_, ev_a_stale_, ev_a_stale_host_, ev_a_rebound_;
};

TEST_F(ContainerEvidenceTest, BothContainersVerifyEveryCheckInOrder)
{
	EXPECT_EQ(ev_a_.source, "container");
	EXPECT_EQ(ev_a_.container, "A");
	EXPECT_EQ(read_list(ev_a_.list), list_a_) << "the list is cut to the quoted entries";
	EXPECT_EQ(read_list(ev_a_.host->list), host_) << "so is the host list";
	auto rep = verify(ev_a_);
	EXPECT_TRUE(rep.ok()) << rep.to_json().dump(2);
	EXPECT_EQ(rep.first_failure(), "");
	EXPECT_EQ(rep.entries, list_a_.size());
	EXPECT_EQ(rep.host_entries, host_.size());
	EXPECT_EQ(names(rep), (std::vector<std::string>{
				      "host.ak", "host.signature", "host.attest", "host.nonce",
				      "host.pcr_digest", "host.parse", "host.template_hash",
				      "host.appended_entries", "host.replay", "signature", "attest",
				      "nonce", "pcr_digest", "parse", "template_hash",
				      "appended_entries", "replay", "binding", "policy"}));
	// Two bindings for A: the last one counts, and the report says so.
	EXPECT_NE(rep.check("binding")->why.find("the last one counts"), std::string::npos)
		<< rep.check("binding")->why;
	auto j = rep.to_json();
	EXPECT_EQ(j["container"], "A");
	EXPECT_EQ(j["checks"]["policy"]["why"], "no policy given");

	auto rb = verify(ev_b_);
	EXPECT_TRUE(rb.ok()) << rb.to_json().dump(2);
	EXPECT_EQ(rb.check("binding")->why, "");
}

TEST_F(ContainerEvidenceTest, EvidenceSurvivesJsonRoundTrip)
{
	auto j = evidence_to_json(ev_a_);
	EXPECT_EQ(j["source"], "container");
	EXPECT_EQ(j["container"], "A");
	EXPECT_EQ(j["host"]["source"], "host");
	EXPECT_FALSE(j["host"].contains("host"));
	auto back = parse_evidence(j.dump(), "ev.json");
	ASSERT_TRUE(back) << back.error().message();
	EXPECT_EQ(back->container, "A");
	ASSERT_TRUE(back->host);
	EXPECT_EQ(back->host->list, ev_a_.host->list);
	EXPECT_EQ(back->list, ev_a_.list);
	EXPECT_TRUE(verify(*back).ok());
}

TEST_F(ContainerEvidenceTest, HostListByFileRoundTripsLoadsAndIsAuthenticatedByTheQuote)
{
	tpm::testing::TempDir dir;
	std::string file = dir.path() + "/host.bin";
	// The file holds more than the quote covers (it only grows): the prefix is read.
	Bytes grown = ev_a_.host->list;
	grown.insert(grown.end(), ev_b_.list.begin(), ev_b_.list.end());
	ASSERT_TRUE(write_file(file, grown));

	auto j = evidence_to_json(ev_a_);
	j["host"]["list"] = {{"format", "binary"}, {"entries", ev_a_.host->entries}, {"file", file}};

	auto back = parse_evidence(j.dump(), "ev.json");
	ASSERT_TRUE(back) << back.error().message();
	EXPECT_EQ(back->host->list_file, file);
	EXPECT_TRUE(back->host->list.empty());
	auto again = evidence_to_json(*back);
	EXPECT_EQ(again["host"]["list"], j["host"]["list"]) << "written back as a file reference";
	EXPECT_TRUE(again["list"].contains("data")) << "the container's own list stays embedded";
	ASSERT_TRUE(load_list_files(*back));
	EXPECT_EQ(back->host->list, ev_a_.host->list);
	EXPECT_TRUE(verify(*back).ok()) << verify(*back).to_json().dump(2);

	// A copy with one entry fewer than the quote covers: an error naming the file.
	auto shorter = parse_evidence(j.dump(), "ev.json");
	std::string short_file = dir.path() + "/short.bin";
	auto cut = cut_binary_list(ev_a_.host->list, ev_a_.host->entries - 1);
	ASSERT_TRUE(cut);
	ASSERT_TRUE(write_file(short_file, *cut));
	auto loaded = load_list_files(*shorter, short_file);
	ASSERT_FALSE(loaded);
	EXPECT_NE(loaded.error().message().find(short_file), std::string::npos)
		<< loaded.error().message();

	// The file name comes from untrusted evidence: a device is not read.
	auto device = parse_evidence(j.dump(), "ev.json");
	auto dev = load_list_files(*device, "/dev/zero");
	ASSERT_FALSE(dev);
	EXPECT_NE(dev.error().message().find("/dev/zero: not a regular file"), std::string::npos)
		<< dev.error().message();

	// Another host's list in its place: the quote does not cover it.
	auto other = parse_evidence(j.dump(), "ev.json");
	std::string b_file = dir.path() + "/b-host.bin";
	Bytes b_host = ev_b_.host->list;
	b_host.back() ^= 1; // the last record's last byte: a path or buffer byte
	ASSERT_TRUE(write_file(b_file, b_host));
	ASSERT_TRUE(load_list_files(*other, b_file));
	EXPECT_EQ(verify(*other).first_failure().rfind("host.", 0), 0u)
		<< verify(*other).to_json().dump(2);

	// data and file at once is malformed.
	j["host"]["list"]["data"] = "AAAA";
	auto both = evidence_from_json(j, "ev.json");
	ASSERT_FALSE(both);
	EXPECT_NE(both.error().message().find("ev.json: host.list.file: a list has data or a file"),
		  std::string::npos)
		<< both.error().message();
}

TEST_F(ContainerEvidenceTest, AnotherContainersListFailsReplay)
{
	Evidence ev = ev_a_;
	ev.list = ev_b_.list;
	ev.entries = ev_b_.entries;
	EXPECT_EQ(verify(ev).first_failure(), "replay");
}

TEST_F(ContainerEvidenceTest, AnotherVtpmsQuoteFailsBinding)
{
	// B's quote, AK and list presented as A's: all of it is a good quote from a real
	// TPM, but not from the vTPM the host list binds to A.
	Evidence ev = ev_b_;
	ev.container = "A";
	auto rep = verify(ev);
	EXPECT_EQ(rep.first_failure(), "binding") << rep.to_json().dump(2);
	EXPECT_NE(rep.check("binding")->why.find("another AK"), std::string::npos);
	// B's quote and AK over A's list: the list does not replay to B's PCR first.
	ev = ev_a_;
	ev.attest = ev_b_.attest;
	ev.signature = ev_b_.signature;
	ev.pcrs = ev_b_.pcrs;
	ev.ak_pem = ev_b_.ak_pem;
	ev.ak_public = ev_b_.ak_public;
	rep = verify(ev);
	EXPECT_EQ(rep.first_failure(), "replay") << rep.to_json().dump(2);
	EXPECT_EQ(rep.check("binding")->verdict, CheckVerdict::fail);
	// A's quote under B's claimed AK: the signature does not verify under it.
	ev = ev_a_;
	ev.ak_pem = ev_b_.ak_pem;
	EXPECT_EQ(verify(ev).first_failure(), "signature");
}

TEST_F(ContainerEvidenceTest, StaleContainerQuoteFailsNonce)
{
	auto rep = verify(ev_a_stale_);
	EXPECT_EQ(rep.first_failure(), "nonce") << rep.to_json().dump(2);
}

TEST_F(ContainerEvidenceTest, StaleHostQuoteFailsHostNonce)
{
	auto rep = verify(ev_a_stale_host_);
	EXPECT_EQ(rep.first_failure(), "host.nonce") << rep.to_json().dump(2);
	EXPECT_EQ(rep.check("binding")->verdict, CheckVerdict::skipped);
	// The whole evidence replayed for another nonce fails at the host first.
	auto r = verify_evidence(ev_a_, stale, host_ak_);
	ASSERT_TRUE(r);
	EXPECT_EQ(r->first_failure(), "host.nonce");
}

TEST_F(ContainerEvidenceTest, DroppedBindingFailsHostReplay)
{
	auto ev = with_host(ev_a_, [](Evidence &h) {
		auto entries = host_;
		entries.erase(entries.begin() + 3); // A's current binding
		h.list = write_list(entries);
		h.entries = entries.size();
	});
	auto rep = verify(ev);
	EXPECT_EQ(rep.first_failure(), "host.replay") << rep.to_json().dump(2);
	EXPECT_EQ(rep.check("binding")->verdict, CheckVerdict::skipped);
	EXPECT_FALSE(rep.ok());
}

TEST_F(ContainerEvidenceTest, TamperedBindingFailsHostTemplateHash)
{
	// Another AK written into A's binding record: its header digest no longer matches.
	auto ev = with_host(ev_a_, [](Evidence &h) {
		auto entries = host_;
		auto forged = binding_entry("A", ev_b_.ak_pem);
		entries[3].fields = forged.fields;
		h.list = write_list(entries);
	});
	EXPECT_EQ(verify(ev).first_failure(), "host.template_hash");
}

TEST_F(ContainerEvidenceTest, NoBindingForTheIdFailsBinding)
{
	Evidence ev = ev_a_;
	ev.container = "C";
	auto rep = verify(ev);
	EXPECT_EQ(rep.first_failure(), "binding") << rep.to_json().dump(2);
	EXPECT_NE(rep.check("binding")->why.find("eima-vtpm:C"), std::string::npos);
}

TEST_F(ContainerEvidenceTest, LaterBindingOfAnotherVtpmFailsBinding)
{
	auto rep = verify(ev_a_rebound_);
	EXPECT_EQ(rep.first_failure(), "binding") << rep.to_json().dump(2);
	EXPECT_NE(rep.check("binding")->why.find("3 binding entries"), std::string::npos)
		<< rep.check("binding")->why;
	// B is bound as before.
	auto ev = ev_b_;
	ev.host = ev_a_rebound_.host;
	EXPECT_TRUE(verify(ev).ok());
}

TEST_F(ContainerEvidenceTest, WrongHostAkFailsHostAk)
{
	EXPECT_EQ(verify(ev_a_, other_key_pem()).first_failure(), "host.ak");
	// A vTPM's AK is never a trusted key.
	auto rep = verify(ev_a_, ev_a_.ak_pem);
	EXPECT_EQ(rep.first_failure(), "host.ak");
	EXPECT_EQ(rep.check("binding")->verdict, CheckVerdict::skipped);
	// The host part signed by a container's vTPM: its AK is not the host's.
	auto ev = with_host(ev_a_, [](Evidence &h) {
		h.attest = ev_a_.attest;
		h.signature = ev_a_.signature;
		h.ak_pem = ev_a_.ak_pem;
	});
	EXPECT_EQ(verify(ev).first_failure(), "host.ak");
}

TEST_F(ContainerEvidenceTest, PolicyJudgesTheContainersList)
{
	auto policy = policy_of(list_a_);
	auto rep = verify(ev_a_, host_ak_, &policy);
	EXPECT_TRUE(rep.ok()) << rep.to_json().dump(2);
	EXPECT_EQ(rep.check("policy")->verdict, CheckVerdict::pass);

	// /bin/sh with another digest allowed: the entry the list holds is not.
	policy.digests["/bin/sh"][0].value[0] ^= 1;
	rep = verify(ev_a_, host_ak_, &policy);
	EXPECT_EQ(rep.first_failure(), "policy") << rep.to_json().dump(2);
	ASSERT_EQ(rep.policy_failures.size(), 1u);
	EXPECT_EQ(rep.policy_failures[0].entry, 2u);
	EXPECT_EQ(rep.policy_failures[0].path, "/bin/sh");
	EXPECT_EQ(rep.policy_failures[0].reason, "digest not allowed");
	EXPECT_EQ(rep.policy_failures[0].digest, "sha256:" + to_hex(Bytes(32, 0xa2)));
	auto j = rep.to_json();
	EXPECT_EQ(j["policy_failures"][0]["path"], "/bin/sh");
	EXPECT_NE(rep.check("policy")->why.find("/bin/sh"), std::string::npos);

	// Each container's own list is judged: B's under A's policy fails on busybox (another
	// digest) and python3 (not in it).
	auto rb = verify(ev_b_, host_ak_, &policy);
	EXPECT_EQ(rb.first_failure(), "policy");
	ASSERT_EQ(rb.policy_failures.size(), 2u) << rb.to_json().dump(2);
	EXPECT_EQ(rb.policy_failures[1].reason, "not in policy");
}

TEST_F(ContainerEvidenceTest, MalformedEvidenceIsAnErrorNamingTheMember)
{
	auto err = [](const nlohmann::json &j) {
		auto r = evidence_from_json(j, "ev.json");
		EXPECT_FALSE(r);
		return r ? std::string() : r.error().message();
	};
	auto r = parse_evidence("{\"format\": ", "ev.json");
	ASSERT_FALSE(r);
	EXPECT_NE(r.error().message().find("ev.json: not valid JSON"), std::string::npos);

	auto j = evidence_to_json(ev_a_);
	j.erase("host");
	EXPECT_NE(err(j).find("ev.json: host: missing"), std::string::npos) << err(j);
	j = evidence_to_json(ev_a_);
	j["host"]["quote"].erase("attest");
	EXPECT_NE(err(j).find("ev.json: host.quote.attest: missing"), std::string::npos) << err(j);
	j = evidence_to_json(ev_a_);
	j["host"]["list"]["data"] = "AAA";
	EXPECT_NE(err(j).find("ev.json: host.list.data: not base64"), std::string::npos) << err(j);
	j = evidence_to_json(ev_a_);
	j["host"]["quote"]["pcrs"]["11"] = "00";
	EXPECT_NE(err(j).find("ev.json: host.quote.pcrs.11:"), std::string::npos) << err(j);
	j = evidence_to_json(ev_a_);
	j["host"]["source"] = "container";
	EXPECT_NE(err(j).find("ev.json: host.source:"), std::string::npos) << err(j);
	j = evidence_to_json(ev_a_);
	j.erase("container");
	EXPECT_NE(err(j).find("ev.json: container: missing"), std::string::npos) << err(j);
	j = evidence_to_json(ev_a_);
	j["source"] = "vm";
	EXPECT_NE(err(j).find("ev.json: source:"), std::string::npos) << err(j);
	// Host evidence carries no container parts.
	j = evidence_to_json(*ev_a_.host);
	j["container"] = "A";
	EXPECT_NE(err(j).find("ev.json: container: only container evidence"), std::string::npos)
		<< err(j);
}

TEST_F(ContainerEvidenceTest, MalformedReplyIsAnErrorNamingTheMember)
{
	nlohmann::json reply = {{"container", "A"}};
	auto r = evidence_from_container_quote_reply(reply, ev_a_.list, ev_a_.host->list);
	ASSERT_FALSE(r);
	EXPECT_NE(r.error().message().find("host: missing"), std::string::npos)
		<< r.error().message();
	reply["host"] = nlohmann::json::object();
	r = evidence_from_container_quote_reply(reply, ev_a_.list, ev_a_.host->list);
	ASSERT_FALSE(r);
	EXPECT_NE(r.error().message().find("host.bank"), std::string::npos) << r.error().message();
}

} // namespace
} // namespace eima::attest
