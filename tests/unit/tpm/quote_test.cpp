// Quotes verified by tpm2_checkquote, the reference verifier, from the files Quote holds.
#include <fstream>

#include "tpm_test_support.h"

namespace eima::tpm::testing {
namespace {

using ima::HashAlgo;

void write_file(const std::string &path, const void *data, std::size_t size)
{
	std::ofstream out(path, std::ios::binary);
	out.write(static_cast<const char *>(data), static_cast<std::streamsize>(size));
}

class QuoteTest : public SwtpmTest {
protected:
	// Writes the quote's files and runs tpm2_checkquote on them.
	CommandResult checkquote(const Quote &q, const std::string &pcr_list,
				 const std::string &nonce_hex)
	{
		std::string d = dir_.path() + "/";
		write_file(d + "ak.pem", q.ak_pem.data(), q.ak_pem.size());
		write_file(d + "msg", q.attest.data(), q.attest.size());
		write_file(d + "sig", q.signature.data(), q.signature.size());
		Bytes values = q.pcr_values_file();
		write_file(d + "pcrs", values.data(), values.size());
		return run("tpm2_checkquote -u " + d + "ak.pem -m " + d + "msg -s " + d +
			   "sig -f " + d + "pcrs -l " + pcr_list + " -g sha256 -q " + nonce_hex);
	}
	// How many transient objects the swtpm holds, as tpm2_getcap lists them.
	std::size_t transient_objects()
	{
		auto r = run("tpm2_getcap handles-transient -T " + swtpm_->tcti());
		EXPECT_EQ(r.status, 0) << r.output;
		std::size_t n = 0;
		for (std::size_t at = 0; (at = r.output.find("0x80", at)) != std::string::npos; ++at)
			++n;
		return n;
	}
};

TEST_F(QuoteTest, Tpm2CheckquoteAcceptsTheQuoteAndRejectsAnotherNonce)
{
	if (!program_on_path("tpm2_checkquote"))
		GTEST_SKIP() << "tpm2-tools is not installed";
	auto t = Tpm::open(swtpm_->tcti());
	ASSERT_TRUE(t) << t.error().message();
	ASSERT_TRUE(t->extend(10, {{HashAlgo::sha1, Bytes(20, 1)}, {HashAlgo::sha256, Bytes(32, 1)}}));
	ASSERT_TRUE(t->extend(11, {{HashAlgo::sha1, Bytes(20, 2)}, {HashAlgo::sha256, Bytes(32, 2)}}));
	Bytes nonce = *from_hex("00112233445566778899aabbccddeeff");
	auto q = t->quote(HashAlgo::sha256, {11, 10}, nonce);
	ASSERT_TRUE(q) << q.error().message();
	EXPECT_EQ(q->bank, HashAlgo::sha256);
	ASSERT_EQ(q->pcrs.size(), 2u);
	EXPECT_EQ(q->pcrs[10], pcr_extend(HashAlgo::sha256, Bytes(32, 0), Bytes(32, 1)));
	EXPECT_NE(q->ak_pem.find("-----BEGIN PUBLIC KEY-----"), std::string::npos);
	// TPMS_ATTEST starts with TPM_GENERATED_VALUE 0xff544347 and TPM_ST_ATTEST_QUOTE 0x8018.
	ASSERT_GE(q->attest.size(), 6u);
	EXPECT_EQ(to_hex(std::span(q->attest).first(6)), "ff5443478018");

	auto ok = checkquote(*q, "sha256:10,11", "00112233445566778899aabbccddeeff");
	EXPECT_EQ(ok.status, 0) << ok.output;

	auto bad_nonce = checkquote(*q, "sha256:10,11", "00112233445566778899aabbccddeef0");
	EXPECT_NE(bad_nonce.status, 0) << bad_nonce.output;

	Quote tampered = *q;
	tampered.pcrs[11][0] ^= 1;
	auto bad_pcr = checkquote(tampered, "sha256:10,11", "00112233445566778899aabbccddeeff");
	EXPECT_NE(bad_pcr.status, 0) << bad_pcr.output;
}

TEST_F(QuoteTest, SameAkEveryTimeAndNoObjectSlotsLeak)
{
	auto t = Tpm::open(swtpm_->tcti());
	ASSERT_TRUE(t) << t.error().message();
	std::string first_pem;
	// One AK for all of them, loaded once.
	for (int i = 0; i < 6; ++i) {
		Bytes nonce(20, static_cast<std::uint8_t>(i));
		auto q = t->quote(HashAlgo::sha1, {0, 10}, nonce);
		ASSERT_TRUE(q) << "quote " << i << ": " << q.error().message();
		if (i == 0)
			first_pem = q->ak_pem;
		EXPECT_EQ(q->ak_pem, first_pem) << "quote " << i;
	}
	// A full TPM is made room in now, so a leaked AK would no longer fail a quote: count.
	if (program_on_path("tpm2_getcap")) {
		EXPECT_EQ(transient_objects(), 1u) << "six quotes, one AK loaded";
	}
	t = Tpm::open(swtpm_->tcti()); // a second ESYS context gets the same key
	ASSERT_TRUE(t);
	auto q = t->quote(HashAlgo::sha256, {10}, {});
	ASSERT_TRUE(q) << q.error().message();
	EXPECT_EQ(q->ak_pem, first_pem);
}

// The AK stays loaded between quotes (creating a primary is most of a quote's cost) and is
// flushed when the Tpm closes; one flushed behind its back is created again.
TEST_F(QuoteTest, AkStaysLoadedAndIsCreatedAgainWhenFlushed)
{
	if (!program_on_path("tpm2_getcap") || !program_on_path("tpm2_flushcontext"))
		GTEST_SKIP() << "tpm2-tools is not installed";
	std::string pem;
	{
		auto t = Tpm::open(swtpm_->tcti());
		ASSERT_TRUE(t) << t.error().message();
		auto q = t->quote(HashAlgo::sha256, {10}, Bytes(8, 1));
		ASSERT_TRUE(q) << q.error().message();
		pem = q->ak_pem;
		EXPECT_EQ(transient_objects(), 1u) << "the AK stays loaded";
		auto id = t->identity(); // the loaded AK, and an EK flushed again
		ASSERT_TRUE(id) << id.error().message();
		EXPECT_EQ(id->ak_pem, pem);
		EXPECT_EQ(transient_objects(), 1u);

		auto flushed = run("tpm2_flushcontext -t -T " + swtpm_->tcti());
		ASSERT_EQ(flushed.status, 0) << flushed.output;
		EXPECT_EQ(transient_objects(), 0u);
		q = t->quote(HashAlgo::sha256, {10}, Bytes(8, 2));
		ASSERT_TRUE(q) << "after the AK was flushed: " << q.error().message();
		EXPECT_EQ(q->ak_pem, pem);
		EXPECT_EQ(transient_objects(), 1u);
		auto ok = checkquote(*q, "sha256:10", "0202020202020202");
		EXPECT_EQ(ok.status, 0) << ok.output;
	}
	EXPECT_EQ(transient_objects(), 0u) << "closing the Tpm flushes its AK";
}

// Without a resource manager objects outlive their process: an eimad killed with -9 leaves its
// AK in swtpm, and three such kills filled its slots (TPM_RC_OBJECT_MEMORY) until the next
// eimad could create no key at all. A full TPM is made room in, sparing what this Tpm holds.
TEST_F(QuoteTest, ObjectsLeftByAKilledOwnerAreFlushedWhenTheTpmIsFull)
{
	if (!program_on_path("tpm2_getcap") || !program_on_path("tpm2_createprimary"))
		GTEST_SKIP() << "tpm2-tools is not installed";
	auto leave_object = [&](int i) {
		auto r = run("tpm2_createprimary -C o -g sha256 -G ecc -T " + swtpm_->tcti() + " -c " +
			     dir_.path() + "/left" + std::to_string(i) + ".ctx");
		ASSERT_EQ(r.status, 0) << r.output;
	};
	for (int i = 0; i < 3; ++i)
		leave_object(i);
	ASSERT_EQ(transient_objects(), 3u) << "tpm2-tools leaves its primaries loaded, as a killed eimad";

	auto t = Tpm::open(swtpm_->tcti());
	ASSERT_TRUE(t) << t.error().message();
	auto q = t->quote(HashAlgo::sha256, {10}, Bytes(8, 3));
	ASSERT_TRUE(q) << "a full TPM: " << q.error().message();
	EXPECT_EQ(transient_objects(), 1u) << "the stale objects went, the AK stays";
	auto ok = checkquote(*q, "sha256:10", "0303030303030303");
	EXPECT_EQ(ok.status, 0) << ok.output;

	// Full again while this Tpm holds its AK: the EK needs a slot, the AK is spared.
	leave_object(3);
	leave_object(4);
	ASSERT_EQ(transient_objects(), 3u);
	auto id = t->identity();
	ASSERT_TRUE(id) << "full, with the AK loaded: " << id.error().message();
	EXPECT_EQ(id->ak_pem, q->ak_pem);
	EXPECT_EQ(transient_objects(), 1u);
	q = t->quote(HashAlgo::sha256, {10}, Bytes(8, 4));
	ASSERT_TRUE(q) << q.error().message();
	ok = checkquote(*q, "sha256:10", "0404040404040404");
	EXPECT_EQ(ok.status, 0) << ok.output;
}

// The EK is the TCG profile's default ECC EK: the one tpm2_createek derives from the same
// endorsement seed. The AK is the one quotes are signed with.
TEST_F(QuoteTest, IdentityIsTheStandardEkAndTheQuotingAk)
{
	auto t = Tpm::open(swtpm_->tcti());
	ASSERT_TRUE(t) << t.error().message();
	auto id = t->identity();
	ASSERT_TRUE(id) << id.error().message();
	EXPECT_NE(id->ek_pem, id->ak_pem);
	EXPECT_FALSE(id->ek_public.empty());
	auto q = t->quote(HashAlgo::sha256, {10}, Bytes(8, 7));
	ASSERT_TRUE(q) << q.error().message();
	EXPECT_EQ(id->ak_pem, q->ak_pem);
	EXPECT_EQ(id->ak_public, q->ak_public);
	for (int i = 0; i < 4; ++i) // no object slot leaks (swtpm has 3)
		ASSERT_TRUE(t->identity()) << "identity " << i;

	if (!program_on_path("tpm2_createek"))
		GTEST_SKIP() << "tpm2-tools is not installed";
	std::string d = dir_.path() + "/";
	t = Tpm::open(swtpm_->tcti()); // tpm2-tools talks to the same swtpm after this one
	auto created = run("tpm2_createek -T '" + swtpm_->tcti() + "' -G ecc -c " + d +
			   "ek.ctx -u " + d + "ek.pem -f pem");
	ASSERT_EQ(created.status, 0) << created.output;
	std::ifstream in(d + "ek.pem");
	std::string pem((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
	EXPECT_EQ(pem, id->ek_pem);
}

TEST_F(QuoteTest, RejectsBadArguments)
{
	auto t = Tpm::open(swtpm_->tcti());
	ASSERT_TRUE(t) << t.error().message();
	auto q = t->quote(HashAlgo::sha256, {}, {});
	ASSERT_FALSE(q);
	EXPECT_EQ(q.error().err, EINVAL);
	q = t->quote(HashAlgo::sha256, {24}, {});
	ASSERT_FALSE(q);
	Bytes long_nonce(65, 0);
	q = t->quote(HashAlgo::sha256, {10}, long_nonce);
	ASSERT_FALSE(q);
	EXPECT_EQ(q.error().err, EINVAL);
	q = t->quote(HashAlgo::sha512, {10}, {}); // bank not allocated
	EXPECT_FALSE(q);
}

} // namespace
} // namespace eima::tpm::testing
