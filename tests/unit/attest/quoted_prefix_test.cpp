// quoted_prefix on synthetic kernel-format lists: the quote is a replay of some prefix, and
// the list goes on past it as the kernel's does while a quote is taken.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "attest/quoted_prefix.h"
#include "ima/binary_log.h"
#include "ima/replay.h"
#include "ima/template_entry.h"

namespace eima::attest
{
namespace
{

using ima::HashAlgo;

// boot_aggregate, then files on PCR 10 with a violation among them (zero header digest,
// extended as 0xFF..), then two on PCR 11.
std::vector<ima::TemplateEntry> sample_entries()
{
	std::vector<ima::TemplateEntry> v;
	v.push_back(*ima::make_boot_aggregate(HashAlgo::sha256, Bytes(32, 0x42)));
	for (int i = 0; i < 3; ++i)
		v.push_back(*ima::make_ima_ng(HashAlgo::sha256,
					      Bytes(32, static_cast<uint8_t>(i + 1)),
					      "/usr/bin/f" + std::to_string(i)));
	v.push_back(*ima::make_violation("ima-ng", HashAlgo::sha256, "/tmp/tomtou"));
	v.push_back(*ima::make_ima_ng(HashAlgo::sha256, Bytes(32, 0x77), "/usr/bin/after"));
	v.push_back(*ima::make_violation("ima-ng", HashAlgo::sha256, "/tmp/open-writers"));
	v.push_back(*ima::make_ima_ng(HashAlgo::sha256, Bytes(32, 0x88), "/c/one", 11));
	v.push_back(*ima::make_ima_ng(HashAlgo::sha256, Bytes(32, 0x99), "/c/two", 11));
	return v;
}

Bytes binary(const std::vector<ima::TemplateEntry> &entries)
{
	ima::UnverifiedLog log;
	log.entries = entries;
	return *ima::write_binary_log(log);
}

// The quoted values of PCRs `pcrs` after the first n entries, zeros where none touched one.
std::map<std::uint32_t, Bytes> quote_after(const std::vector<ima::TemplateEntry> &entries,
					   std::size_t n, HashAlgo bank,
					   std::vector<std::uint32_t> pcrs = {10})
{
	auto replayed = *ima::replay(std::span(entries).first(n), bank);
	std::map<std::uint32_t, Bytes> out;
	for (auto p : pcrs)
		out[p] = replayed.contains(p) ? replayed[p] : Bytes(ima::digest_size(bank), 0);
	return out;
}

TEST(QuotedPrefix, ListLongerThanTheQuote)
{
	auto entries = sample_entries();
	auto list = binary(entries);
	for (std::size_t n : {1u, 2u, 4u})
		EXPECT_EQ(quoted_prefix(list, HashAlgo::sha256,
					quote_after(entries, n, HashAlgo::sha256)),
			  n);
}

TEST(QuotedPrefix, ExactList)
{
	auto entries = sample_entries();
	auto list = binary(entries);
	auto q = quote_after(entries, entries.size(), HashAlgo::sha256, {10, 11});
	EXPECT_EQ(quoted_prefix(list, HashAlgo::sha256, q), entries.size());
}

TEST(QuotedPrefix, NoMatchIsTheWholeList)
{
	auto entries = sample_entries();
	auto list = binary(entries);
	EXPECT_EQ(quoted_prefix(list, HashAlgo::sha256, {{10, Bytes(32, 0x5a)}}), entries.size());
	// A sha512 quote of the sha256 replay's values (zero-padded) matches nothing either.
	auto v = quote_after(entries, 3, HashAlgo::sha256)[10];
	v.resize(64, 0);
	EXPECT_EQ(quoted_prefix(list, HashAlgo::sha512, {{10, v}}), entries.size());
}

TEST(QuotedPrefix, ViolationsExtendOnes)
{
	auto entries = sample_entries();
	auto list = binary(entries);
	// Right after the first violation (entry 4) and after the second (entry 6).
	EXPECT_EQ(quoted_prefix(list, HashAlgo::sha256, quote_after(entries, 5, HashAlgo::sha256)),
		  5u);
	EXPECT_EQ(quoted_prefix(list, HashAlgo::sha256, quote_after(entries, 7, HashAlgo::sha256)),
		  7u);
	EXPECT_EQ(quoted_prefix(list, HashAlgo::sha1, quote_after(entries, 7, HashAlgo::sha1)), 7u);

	// A quote of a TPM that saw the violation extended as zeros (not what the kernel does)
	// matches no prefix.
	auto zeroed = entries;
	Bytes pcr(32, 0);
	for (std::size_t i = 0; i < 5; ++i) {
		Bytes h = ima::is_violation(zeroed[i])
				  ? Bytes(32, 0)
				  : *ima::template_hash(zeroed[i], HashAlgo::sha256);
		pcr.insert(pcr.end(), h.begin(), h.end());
		pcr = *ima::digest(HashAlgo::sha256, pcr);
	}
	EXPECT_EQ(quoted_prefix(list, HashAlgo::sha256, {{10, pcr}}), entries.size());
}

TEST(QuotedPrefix, ShortestPrefixWhenLaterEntriesLeaveThePcrsAlone)
{
	auto entries = sample_entries();
	auto list = binary(entries);
	// Entries 7 and 8 extend PCR 11 only: PCR 10 keeps its value after 7, 8 and 9 entries.
	EXPECT_EQ(quoted_prefix(list, HashAlgo::sha256, quote_after(entries, 7, HashAlgo::sha256)),
		  7u);
	// With PCR 11 quoted too, the prefix must reach the PCR 11 entries.
	auto q = quote_after(entries, 8, HashAlgo::sha256, {10, 11});
	EXPECT_EQ(quoted_prefix(list, HashAlgo::sha256, q), 8u);
}

TEST(QuotedPrefix, UntouchedPcrsAreZeros)
{
	auto entries = sample_entries();
	auto list = binary(entries);
	// PCR 11 quoted at zeros: matches before the PCR 11 entries.
	auto q = quote_after(entries, 3, HashAlgo::sha256, {10, 11});
	EXPECT_EQ(q[11], Bytes(32, 0));
	EXPECT_EQ(quoted_prefix(list, HashAlgo::sha256, q), 3u);
	// PCR 12, never touched, quoted nonzero: no prefix can match.
	q[12] = Bytes(32, 1);
	EXPECT_EQ(quoted_prefix(list, HashAlgo::sha256, q), entries.size());
	// Only zeros quoted: the empty prefix.
	EXPECT_EQ(quoted_prefix(list, HashAlgo::sha256, {{10, Bytes(32, 0)}}), 0u);
	EXPECT_EQ(quoted_prefix({}, HashAlgo::sha256, {{10, Bytes(32, 0)}}), 0u);
	EXPECT_EQ(quoted_prefix({}, HashAlgo::sha256, {{10, Bytes(32, 1)}}), 0u);
}

TEST(QuotedPrefix, ParseErrorBeforeTheMatchNamesEntryAndOffset)
{
	auto entries = sample_entries();
	auto list = binary(entries);
	auto first_three = binary(std::vector(entries.begin(), entries.begin() + 3));
	// Cut inside entry 3 (its template name length claims more than is left).
	Bytes cut(list.begin(),
		  list.begin() + static_cast<std::ptrdiff_t>(first_three.size()) + 30);
	auto r = quoted_prefix(cut, HashAlgo::sha256, quote_after(entries, 5, HashAlgo::sha256));
	ASSERT_FALSE(r);
	EXPECT_NE(r.error().message().find("entry 3"), std::string::npos) << r.error().message();
	EXPECT_NE(r.error().message().find("offset"), std::string::npos) << r.error().message();
	// A bad record after the match is never read.
	EXPECT_EQ(quoted_prefix(cut, HashAlgo::sha256, quote_after(entries, 2, HashAlgo::sha256)),
		  2u);
}

TEST(QuotedPrefix, QuotedValueOfTheWrongSizeIsAnError)
{
	auto list = binary(sample_entries());
	auto r = quoted_prefix(list, HashAlgo::sha256, {{10, Bytes(20, 1)}});
	ASSERT_FALSE(r);
	EXPECT_NE(r.error().message().find("PCR 10"), std::string::npos);
}

} // namespace
} // namespace eima::attest
