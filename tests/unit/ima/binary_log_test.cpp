#include "ima/binary_log.h"

#include <gtest/gtest.h>

#include <chrono>

#include "ima/ascii_log.h"
#include "test_files.h"

namespace eima::ima {
namespace {

void put_u32(Bytes &b, std::uint32_t v)
{
	for (int i = 0; i < 4; ++i)
		b.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

UnverifiedLog sample_log()
{
	UnverifiedLog log;
	log.entries.push_back(*make_boot_aggregate(HashAlgo::sha256, Bytes(32, 0)));
	log.entries.push_back(*make_ima_ng(HashAlgo::sha256, Bytes(32, 0xab), "/usr/bin/bash"));
	log.entries.push_back(*make_ima_sig(HashAlgo::sha512, Bytes(64, 0xcd), "/usr/lib/x.so",
					    Bytes{0x03, 0x02, 0x04, 0xaa}));
	log.entries.push_back(*make_ima(Bytes(20, 0x11), "/sbin/init"));
	log.entries.push_back(*make_ima_buf(HashAlgo::sha256, Bytes(32, 0x22), "kexec-cmdline",
					    Bytes{'r', 'o', ' ', 'q'}));
	log.entries.push_back(*make_violation("ima-ng", HashAlgo::sha256, "/var/log/x"));
	log.entries.back().pcr = 11;
	return log;
}

TEST(BinaryLog, ImaNgRecordLayout)
{
	auto e = make_ima_ng(HashAlgo::sha256, Bytes(32, 0xab), "/a");
	ASSERT_TRUE(e);
	Bytes out;
	ASSERT_TRUE(append_binary_entry(out, *e));
	Bytes want;
	put_u32(want, 10);
	want.insert(want.end(), e->template_hash_sha1.begin(), e->template_hash_sha1.end());
	put_u32(want, 6);
	for (char c : std::string("ima-ng"))
		want.push_back(static_cast<std::uint8_t>(c));
	put_u32(want, 4 + 40 + 4 + 3);
	put_u32(want, 40);
	for (char c : std::string("sha256:"))
		want.push_back(static_cast<std::uint8_t>(c));
	want.push_back(0);
	want.insert(want.end(), 32, 0xab);
	put_u32(want, 3);
	want.insert(want.end(), {'/', 'a', 0});
	EXPECT_EQ(out, want);
}

TEST(BinaryLog, LegacyImaRecordHasNoDataLength)
{
	auto e = make_ima(Bytes(20, 0x11), "/sbin/init");
	ASSERT_TRUE(e);
	Bytes out;
	ASSERT_TRUE(append_binary_entry(out, *e));
	// pcr, header, name_len "ima", digest, u32 strlen, name without NUL.
	EXPECT_EQ(out.size(), 4u + 20u + 4u + 3u + 20u + 4u + 10u);
	EXPECT_EQ(out[4 + 20 + 4 + 3 + 20], 10); // strlen("/sbin/init")
	EXPECT_EQ(out.back(), 't');
}

TEST(BinaryLog, RoundTripsEveryTemplate)
{
	UnverifiedLog log = sample_log();
	auto bin = write_binary_log(log);
	ASSERT_TRUE(bin) << bin.error().message();
	auto back = read_binary_log(*bin);
	ASSERT_TRUE(back) << back.error().message();
	EXPECT_EQ(back->header.typed, std::nullopt);
	ASSERT_EQ(back->entries.size(), log.entries.size());
	for (std::size_t i = 0; i < log.entries.size(); ++i)
		EXPECT_TRUE(back->entries[i] == log.entries[i]) << "entry " << i;
	EXPECT_EQ(*write_binary_log(*back), *bin);

	// And the ascii lines, as the kernel prints them (single-digit PCR padded, ima-sig's sig
	// as hex, ima-buf's buffer as hex, the 'ima' template's bare sha1 digest).
	auto ascii = write_ascii_log(*back);
	ASSERT_TRUE(ascii);
	EXPECT_NE(ascii->find(" ima-sig sha512:" + to_hex(Bytes(64, 0xcd)) +
			      " /usr/lib/x.so 030204aa\n"),
		  std::string::npos)
	    << *ascii;
	EXPECT_NE(ascii->find(" ima " + to_hex(Bytes(20, 0x11)) + " /sbin/init\n"), std::string::npos);
	EXPECT_NE(ascii->find(" kexec-cmdline 726f2071\n"), std::string::npos);
	EXPECT_NE(ascii->find("11 0000000000000000000000000000000000000000 ima-ng sha256:"),
		  std::string::npos);
	auto reparsed = read_ascii_log(*ascii);
	ASSERT_TRUE(reparsed) << reparsed.error().message();
	EXPECT_TRUE(reparsed->entries == log.entries);
}

TEST(BinaryLog, TypedHeaderFormat)
{
	UnverifiedLog log;
	log.header.typed = HashAlgo::sha256;
	TemplateEntry e = *make_ima_ng(HashAlgo::sha256, Bytes(32, 5), "/x");
	e.template_hash_sha1 = *expected_header_digest(e, HashAlgo::sha256);
	log.entries.push_back(e);
	auto bin = write_binary_log(log);
	ASSERT_TRUE(bin);
	EXPECT_EQ((*bin)[4], 32); // u32 digest size before the digest
	auto back = read_binary_log(*bin);
	ASSERT_TRUE(back);
	EXPECT_EQ(back->header.typed, HashAlgo::sha256);
	EXPECT_TRUE(back->entries == log.entries);
	// A 32-byte header has no place in the kernel format.
	log.header.typed.reset();
	EXPECT_FALSE(write_binary_log(log));
}

// Every truncation of a valid list either ends on a record boundary (fewer entries) or gives
// an error naming the entry and offset. Never a crash, never a partial entry.
TEST(BinaryLog, EveryTruncationIsAnErrorOrABoundary)
{
	auto bin = *write_binary_log(sample_log());
	std::vector<std::size_t> boundaries{0};
	{
		BinaryLogReader r(bin, BinaryHeaderMode::kernel);
		TemplateEntry e;
		while (*r.next(e))
			boundaries.push_back(r.offset());
	}
	ASSERT_EQ(boundaries.size(), 7u);
	std::size_t errors = 0;
	for (std::size_t len = 0; len < bin.size(); ++len) {
		auto r = read_binary_log(std::span(bin).first(len), BinaryHeaderMode::kernel);
		auto at = std::find(boundaries.begin(), boundaries.end(), len);
		if (at != boundaries.end()) {
			ASSERT_TRUE(r) << "prefix " << len << ": " << r.error().message();
			EXPECT_EQ(r->entries.size(), static_cast<std::size_t>(at - boundaries.begin()));
		} else {
			ASSERT_FALSE(r) << "prefix " << len << " parsed";
			const std::string m = r.error().message();
			EXPECT_NE(m.find("entry "), std::string::npos) << m;
			EXPECT_NE(m.find(" at offset "), std::string::npos) << m;
			++errors;
		}
	}
	EXPECT_EQ(errors, bin.size() - (boundaries.size() - 1));
}

Bytes header_with_name(std::uint32_t name_len, std::string_view name)
{
	Bytes b;
	put_u32(b, 10);
	b.insert(b.end(), 20, 0x42);
	put_u32(b, name_len);
	b.insert(b.end(), name.begin(), name.end());
	return b;
}

std::string error_of(const Bytes &b, BinaryHeaderMode mode = BinaryHeaderMode::kernel)
{
	auto r = read_binary_log(b, mode);
	return r ? std::string("(parsed)") : r.error().message();
}

TEST(BinaryLog, HugeAndBadLengths)
{
	EXPECT_EQ(error_of(header_with_name(0xffffffff, "")),
		  "parse binary measurement list entry 0 at offset 24: template name length "
		  "4294967295 outside 1..255");
	EXPECT_NE(error_of(header_with_name(300, std::string(300, 'a'))).find("length 300 outside"),
		  std::string::npos);
	EXPECT_NE(error_of(header_with_name(0, "")).find("length 0 outside"), std::string::npos);
	EXPECT_NE(error_of(header_with_name(10, "ima-ng")).find("template name length 10 exceeds the 6 bytes left"),
		  std::string::npos);

	Bytes b = header_with_name(6, "ima-ng");
	put_u32(b, 0xfffffff0); // data_len
	EXPECT_NE(error_of(b).find("offset 34: template data length 4294967280 exceeds the 0 bytes left"),
		  std::string::npos)
	    << error_of(b);

	// A field length past the end of the template data.
	Bytes f = header_with_name(6, "ima-ng");
	put_u32(f, 8);
	put_u32(f, 100);
	put_u32(f, 0);
	EXPECT_NE(error_of(f).find("offset 38: field length 100 exceeds the 4 bytes left"),
		  std::string::npos)
	    << error_of(f);

	// Known template with the wrong number of fields (ENFORCE_FIELDS).
	Bytes three = header_with_name(6, "ima-ng");
	put_u32(three, 12);
	put_u32(three, 0);
	put_u32(three, 0);
	put_u32(three, 0);
	EXPECT_NE(error_of(three).find("template ima-ng has 2 fields, record has 3"), std::string::npos);

	// Unknown templates are read generically, up to 15 fields.
	Bytes many = header_with_name(7, "x-y-z-w");
	put_u32(many, 16 * 4);
	for (int i = 0; i < 16; ++i)
		put_u32(many, 0);
	EXPECT_NE(error_of(many).find("more than 15 fields"), std::string::npos) << error_of(many);
	Bytes generic = header_with_name(7, "x-y-z-w");
	put_u32(generic, 5);
	put_u32(generic, 1);
	generic.push_back(9);
	auto g = read_binary_log(generic, BinaryHeaderMode::kernel);
	ASSERT_TRUE(g) << g.error().message();
	EXPECT_EQ(g->entries[0].fields, std::vector<Bytes>{Bytes{9}});
	auto printed = write_ascii_log(*g); // but nothing says how to print it
	ASSERT_FALSE(printed);
	EXPECT_NE(printed.error().message().find("unknown template"), std::string::npos);

	// 'ima' template: name over 255, name with a NUL, truncated digest.
	Bytes ima = header_with_name(3, "ima");
	ima.insert(ima.end(), 20, 1);
	put_u32(ima, 256);
	ima.insert(ima.end(), 256, 'a');
	EXPECT_NE(error_of(ima).find("ima event name length 256 over 255"), std::string::npos);
	Bytes nul = header_with_name(3, "ima");
	nul.insert(nul.end(), 20, 1);
	put_u32(nul, 3);
	nul.insert(nul.end(), {'/', 0, 'x'});
	EXPECT_NE(error_of(nul).find("contains a NUL"), std::string::npos);
	Bytes shortd = header_with_name(3, "ima");
	shortd.insert(shortd.end(), 5, 1);
	EXPECT_NE(error_of(shortd).find("ima digest length 20 exceeds the 5 bytes left"),
		  std::string::npos);

	// Typed headers: a size that is no digest size.
	Bytes typed;
	put_u32(typed, 10);
	put_u32(typed, 7);
	EXPECT_NE(error_of(typed, BinaryHeaderMode::typed).find("header digest size 7"),
		  std::string::npos);
}

TEST(BinaryLog, BadDigestFields)
{
	auto record = [](std::string_view dng) {
		Bytes b = header_with_name(6, "ima-ng");
		put_u32(b, static_cast<std::uint32_t>(4 + dng.size() + 4 + 3));
		put_u32(b, static_cast<std::uint32_t>(dng.size()));
		b.insert(b.end(), dng.begin(), dng.end());
		put_u32(b, 3);
		b.insert(b.end(), {'/', 'a', 0});
		return b;
	};
	using namespace std::string_literals;
	EXPECT_NE(error_of(record("unknown:\0"s + std::string(29, 'x')))
		      .find("entry 0 at offset 38: field d-ng: unknown digest algorithm 'unknown'"),
		  std::string::npos)
	    << error_of(record("unknown:\0"s + std::string(29, 'x')));
	EXPECT_NE(error_of(record("sha256:\0"s + std::string(31, 'x')))
		      .find("field d-ng: sha256 digest of 31 bytes, expected 32"),
		  std::string::npos);
	EXPECT_NE(error_of(record("sha256" + std::string(33, 'x'))).find("no \"algo:\\0\" prefix"),
		  std::string::npos);
	// The kernel's violation digest (20 zero bytes) and a real one both pass.
	EXPECT_EQ(error_of(record("sha256:\0"s + std::string(20, '\0'))), "(parsed)");
	EXPECT_EQ(error_of(record("sha256:\0"s + std::string(32, 'x'))), "(parsed)");
}

TEST(BinaryLog, WriterRejectsUnrepresentableEntries)
{
	Bytes out;
	TemplateEntry e = *make_ima_ng(HashAlgo::sha256, Bytes(32, 1), "/x");
	e.template_hash_sha1.resize(19);
	EXPECT_FALSE(append_binary_entry(out, e));
	TemplateEntry ima = *make_ima(Bytes(20, 1), "/x");
	ima.fields.pop_back();
	EXPECT_FALSE(append_binary_entry(out, ima));
	TemplateEntry noname = *make_ima_ng(HashAlgo::sha256, Bytes(32, 1), "/x");
	noname.template_name.clear();
	EXPECT_FALSE(append_binary_entry(out, noname));
	EXPECT_TRUE(out.empty());
}

// The verifier reads a million entries: the streaming reader must keep up (this machine:
// see the printed rate; the assertion only guards against pathological slowness).
TEST(BinaryLog, StreamingReaderThroughput)
{
	const std::size_t n = 200000;
	Bytes bin;
	bin.reserve(n * 120);
	for (std::size_t i = 0; i < n; ++i) {
		Bytes d(32, static_cast<std::uint8_t>(i));
		auto e = make_ima_ng(HashAlgo::sha256, d, "/usr/lib/x86_64-linux-gnu/libc.so.6");
		ASSERT_TRUE(append_binary_entry(bin, *e));
	}
	auto t0 = std::chrono::steady_clock::now();
	BinaryLogReader reader(bin);
	TemplateEntry e;
	std::size_t count = 0;
	while (true) {
		auto more = reader.next(e);
		ASSERT_TRUE(more);
		if (!*more)
			break;
		++count;
	}
	double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
	EXPECT_EQ(count, n);
	std::printf("streaming reader: %zu entries in %.3f s (%.0f entries/s)\n", n, secs, n / secs);
	EXPECT_LT(secs, 5.0);
}

} // namespace
} // namespace eima::ima
