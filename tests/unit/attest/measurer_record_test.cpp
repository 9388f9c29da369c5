// The records by which eimad measures itself (docs/measurer.md): their exact bytes (what a
// verifier rebuilds with jq to pin a digest), parsing back, refusing what is malformed, and
// a runtime policy that pins them failing with a message that names what differs.
#include <gtest/gtest.h>

#include <string>

#include "attest/measurer_record.h"
#include "attest/runtime_policy.h"
#include "ima/hash_algo.h"
#include "ima/template_entry.h"

namespace eima::attest
{
namespace
{

BpfProgRecord sample()
{
	BpfProgRecord r;
	r.name = "eima_sched_exec";
	r.type = "tracing";
	r.tag = *from_hex("0123456789abcdef");
	r.object = "measure_trace.bpf.o";
	r.object_sha256 = Bytes(32, 0xab);
	return r;
}

std::string text_of(const Bytes &b) { return std::string(b.begin(), b.end()); }

Result<BpfProgRecord> parse(const std::string &text)
{
	return parse_bpf_prog_record(
		std::span(reinterpret_cast<const std::uint8_t *>(text.data()), text.size()),
		"host list entry 3");
}

TEST(BpfProgRecord, BytesAreCompactJsonWithSortedKeys)
{
	auto b = bpf_prog_buffer(sample());
	ASSERT_TRUE(b) << b.error().message();
	// docs/measurer.md promises exactly this form: `jq -cS` of the same object.
	EXPECT_EQ(text_of(*b), R"({"format":"eima-bpf-prog","name":"eima_sched_exec",)"
			       R"("object":"measure_trace.bpf.o","object_sha256":")" +
				       to_hex(Bytes(32, 0xab)) +
				       R"(","signed":false,"tag":"0123456789abcdef","type":"tracing",)"
				       R"("version":1})");
	auto signed_rec = sample();
	signed_rec.is_signed = true;
	signed_rec.signer = "CN=eima build key";
	auto s = bpf_prog_buffer(signed_rec);
	ASSERT_TRUE(s);
	EXPECT_NE(text_of(*s).find(R"("signed":true,"signer":"CN=eima build key","tag")"),
		  std::string::npos)
		<< text_of(*s);
}

TEST(BpfProgRecord, RoundTrips)
{
	for (bool is_signed : {false, true}) {
		auto r = sample();
		r.is_signed = is_signed;
		r.signer = is_signed ? "CN=k" : "";
		auto b = bpf_prog_buffer(r);
		ASSERT_TRUE(b);
		auto back = parse_bpf_prog_record(*b, "here");
		ASSERT_TRUE(back) << back.error().message();
		EXPECT_EQ(*back, r);
	}
}

TEST(BpfProgRecord, EncodingRefusesWhatAVerifierWouldRefuse)
{
	auto r = sample();
	r.tag.pop_back();
	EXPECT_FALSE(bpf_prog_buffer(r));
	r = sample();
	r.object_sha256.resize(20);
	EXPECT_FALSE(bpf_prog_buffer(r));
	r = sample();
	r.name.clear();
	EXPECT_FALSE(bpf_prog_buffer(r));
	r = sample();
	r.signer = "CN=k"; // a signer without a signature
	EXPECT_FALSE(bpf_prog_buffer(r));
}

TEST(BpfProgRecord, MalformedRecordsAreRefusedWithTheEntry)
{
	std::string good = text_of(*bpf_prog_buffer(sample()));
	auto with = [&](const std::string &from, const std::string &to) {
		std::string t = good;
		auto at = t.find(from);
		EXPECT_NE(at, std::string::npos) << from;
		return t.replace(at, from.size(), to);
	};
	for (std::string bad :
	     {std::string("not json"), std::string("[1]"), with("eima-bpf-prog", "eima-vtpm-binding"),
	      with(R"("version":1)", R"("version":"1")"), with("0123456789abcdef", "0123"),
	      with("0123456789abcdef", "0123456789abcdeg"), with(R"("signed":false)", R"("signed":0)"),
	      with(R"("signed":false)", R"("signed":true)"), with(R"("name":"eima_sched_exec")", R"("name":7)"),
	      with(to_hex(Bytes(32, 0xab)), "ab")}) {
		auto r = parse(bad);
		ASSERT_FALSE(r) << bad;
		EXPECT_NE(r.error().message().find("host list entry 3"), std::string::npos)
			<< r.error().message();
	}
}

TEST(BpfProgRecord, EntryNames)
{
	EXPECT_EQ(bpf_prog_entry_name("p"), "eima-bpf-prog:p");
	EXPECT_EQ(bpf_prog_entry_program("eima-bpf-prog:p"), "p");
	EXPECT_EQ(bpf_prog_entry_program("eima-vtpm:p"), "");
	EXPECT_EQ(bpf_prog_entry_program("eima-bpf-prog:"), "");
}

ima::TemplateEntry buf_entry(const std::string &name, const Bytes &buf)
{
	auto d = ima::digest(ima::HashAlgo::sha256, buf);
	return *ima::make_ima_buf(ima::HashAlgo::sha256, *d, name, buf);
}

TEST(MeasurerPolicy, PinnedRecordsPassAndAChangedProgramIsNamed)
{
	Bytes prog = *bpf_prog_buffer(sample());
	Bytes pol = {1, 0, 0, 0, 2, 0, 0, 0};
	ima::UnverifiedLog log;
	log.entries = {buf_entry("eima-bpf-prog:eima_sched_exec", prog), buf_entry("eima-policy", pol)};
	RuntimePolicy p;
	p.ima_buf["eima-bpf-prog:eima_sched_exec"] = {
		{"sha256", *ima::digest(ima::HashAlgo::sha256, prog), true}};
	p.ima_buf["eima-policy"] = {{"sha256", *ima::digest(ima::HashAlgo::sha256, pol), true}};
	EXPECT_TRUE(evaluate(p, log).empty());

	auto other = sample();
	other.tag = *from_hex("fedcba9876543210");
	log.entries[0] = buf_entry("eima-bpf-prog:eima_sched_exec", *bpf_prog_buffer(other));
	pol[0] = 2;
	log.entries[1] = buf_entry("eima-policy", pol);
	auto f = evaluate(p, log);
	ASSERT_EQ(f.size(), 2u);
	EXPECT_EQ(f[0].entry, 0u);
	EXPECT_EQ(f[0].path, "eima-bpf-prog:eima_sched_exec");
	EXPECT_EQ(f[0].reason,
		  "digest not allowed: eimad's BPF program eima_sched_exec differs from the one "
		  "pinned (tag fedcba9876543210, measure_trace.bpf.o sha256 " +
			  to_hex(Bytes(32, 0xab)) + ", unsigned)");
	EXPECT_EQ(f[1].path, "eima-policy");
	EXPECT_EQ(f[1].reason,
		  "digest not allowed: eimad runs another compiled policy than the one pinned");
}

TEST(MeasurerPolicy, APinnedRecordMissingFromTheListFails)
{
	ima::UnverifiedLog log;
	Bytes pol = {0, 0, 0, 0, 0, 0, 0, 0};
	log.entries = {buf_entry("eima-policy", pol)};
	RuntimePolicy p;
	p.ima_buf["eima-policy"] = {{"sha256", *ima::digest(ima::HashAlgo::sha256, pol), true}};
	p.ima_buf["eima-bpf-prog:gone"] = {{"sha256", Bytes(32, 1), true}};
	p.ima_buf["kernel_version"] = {{"sha256", Bytes(32, 2), true}}; // others: Keylime's rule
	auto f = evaluate(p, log);
	ASSERT_EQ(f.size(), 1u);
	EXPECT_EQ(f[0].path, "eima-bpf-prog:gone");
	EXPECT_EQ(f[0].entry, 1u); // one past the list: no entry holds it
	EXPECT_NE(f[0].reason.find("missing from the list"), std::string::npos);
	p.exclude_globs = {"eima-bpf-prog:*"};
	EXPECT_TRUE(evaluate(p, log).empty());
}

} // namespace
} // namespace eima::attest
