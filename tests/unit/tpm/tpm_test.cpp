// Tpm against a real swtpm: extends checked against PCR arithmetic done here with OpenSSL
// and against tpm2-tools reading the same TPM; boot_aggregate as the kernel computes it.
#include "tpm_test_support.h"

namespace eima::tpm::testing {
namespace {

using ima::HashAlgo;

Bytes pattern(std::size_t size, std::uint8_t seed)
{
	Bytes b(size);
	for (std::size_t i = 0; i < size; ++i)
		b[i] = static_cast<std::uint8_t>(seed * 31 + i * 7);
	return b;
}

class TpmTest : public SwtpmTest {};

TEST_F(TpmTest, ExtendBothBanksMatchesOpenSslAndTpm2Pcrread)
{
	std::map<std::pair<HashAlgo, std::uint32_t>, Bytes> expected;
	for (auto bank : {HashAlgo::sha1, HashAlgo::sha256})
		for (std::uint32_t pcr : {10u, 11u})
			expected[{bank, pcr}] = Bytes(ima::digest_size(bank), 0);
	{
		auto t = Tpm::open(swtpm_->tcti());
		ASSERT_TRUE(t) << t.error().message();
		for (std::uint8_t i = 0; i < 20; ++i) {
			std::uint32_t pcr = i % 3 == 0 ? 11 : 10;
			Bytes d1 = pattern(20, i), d256 = pattern(32, i + 100);
			auto r = t->extend(pcr, {{HashAlgo::sha1, d1}, {HashAlgo::sha256, d256}});
			ASSERT_TRUE(r) << r.error().message();
			expected[{HashAlgo::sha1, pcr}] =
				pcr_extend(HashAlgo::sha1, expected[{HashAlgo::sha1, pcr}], d1);
			expected[{HashAlgo::sha256, pcr}] =
				pcr_extend(HashAlgo::sha256, expected[{HashAlgo::sha256, pcr}], d256);
		}
		// One bank only: the other stays as it was.
		Bytes only = pattern(32, 77);
		ASSERT_TRUE(t->extend(11, {{HashAlgo::sha256, only}}));
		expected[{HashAlgo::sha256, 11}] =
			pcr_extend(HashAlgo::sha256, expected[{HashAlgo::sha256, 11}], only);

		for (auto bank : {HashAlgo::sha1, HashAlgo::sha256}) {
			auto v = t->read_pcrs(bank, {11, 10});
			ASSERT_TRUE(v) << v.error().message();
			ASSERT_EQ(v->size(), 2u);
			for (std::uint32_t pcr : {10u, 11u})
				EXPECT_EQ(to_hex((*v)[pcr]), to_hex(expected[{bank, pcr}]))
					<< ima::hash_algo_name(bank) << " PCR " << pcr;
		}
	} // ESYS context closed before another client talks to swtpm
	for (auto bank : {HashAlgo::sha1, HashAlgo::sha256}) {
		auto tools = tpm2_pcrread(swtpm_->tcti(),
					  std::string(ima::hash_algo_name(bank)) + ":10,11");
		ASSERT_EQ(tools.size(), 2u);
		for (std::uint32_t pcr : {10u, 11u})
			EXPECT_EQ(to_hex(tools[pcr]), to_hex(expected[{bank, pcr}]))
				<< ima::hash_algo_name(bank) << " PCR " << pcr;
	}
}

TEST_F(TpmTest, ReadsAllTwentyFourPcrsAcrossSeveralTpmCalls)
{
	auto t = Tpm::open(swtpm_->tcti());
	ASSERT_TRUE(t) << t.error().message();
	// Make PCRs distinguishable: PCR i extended with a digest of its own.
	std::vector<std::uint32_t> all;
	for (std::uint32_t i = 0; i <= 23; ++i) {
		all.push_back(23 - i); // descending, to check the answer is not order-dependent
		if (i == 17 || i == 18 || i == 19 || i == 20 || i == 21 || i == 22)
			continue; // PCRs 17-22 are locality-protected; leave them as they start
		ASSERT_TRUE(t->extend(i, {{HashAlgo::sha256, pattern(32, i)}}));
	}
	all.push_back(5); // a duplicate
	auto v = t->read_pcrs(HashAlgo::sha256, all);
	ASSERT_TRUE(v) << v.error().message();
	ASSERT_EQ(v->size(), 24u);
	t = Tpm::open(swtpm_->tcti()); // closes the first context
	ASSERT_TRUE(t);
	auto tools = tpm2_pcrread(swtpm_->tcti(), "sha256:all");
	ASSERT_EQ(tools.size(), 24u);
	for (std::uint32_t i = 0; i <= 23; ++i)
		EXPECT_EQ(to_hex((*v)[i]), to_hex(tools[i])) << "PCR " << i;
	EXPECT_EQ((*v)[3], pcr_extend(HashAlgo::sha256, Bytes(32, 0), pattern(32, 3)));
}

TEST_F(TpmTest, BootAggregateIsTheKernelsOverTpm2PcrreadValues)
{
	{
		auto t = Tpm::open(swtpm_->tcti());
		ASSERT_TRUE(t) << t.error().message();
		// Firmware-like history in PCRs 0..9, so every PCR contributes.
		for (std::uint32_t i = 0; i <= 9; ++i)
			ASSERT_TRUE(t->extend(i, {{HashAlgo::sha1, pattern(20, i)},
						  {HashAlgo::sha256, pattern(32, i)}}));
	}
	// What the kernel records: sha1 over PCRs 0-7 only, other banks over 0-9.
	auto sha1_pcrs = tpm2_pcrread(swtpm_->tcti(), "sha1:0,1,2,3,4,5,6,7,8,9");
	auto sha256_pcrs = tpm2_pcrread(swtpm_->tcti(), "sha256:0,1,2,3,4,5,6,7,8,9");
	ASSERT_EQ(sha1_pcrs.size(), 10u);
	ASSERT_EQ(sha256_pcrs.size(), 10u);
	Bytes cat1, cat256;
	for (std::uint32_t i = 0; i <= 7; ++i)
		cat1.insert(cat1.end(), sha1_pcrs[i].begin(), sha1_pcrs[i].end());
	for (std::uint32_t i = 0; i <= 9; ++i)
		cat256.insert(cat256.end(), sha256_pcrs[i].begin(), sha256_pcrs[i].end());

	auto t = Tpm::open(swtpm_->tcti());
	ASSERT_TRUE(t) << t.error().message();
	auto a1 = t->boot_aggregate(HashAlgo::sha1);
	ASSERT_TRUE(a1) << a1.error().message();
	EXPECT_EQ(to_hex(*a1), to_hex(openssl_digest("SHA1", cat1)));
	auto a256 = t->boot_aggregate(HashAlgo::sha256);
	ASSERT_TRUE(a256) << a256.error().message();
	EXPECT_EQ(to_hex(*a256), to_hex(openssl_digest("SHA256", cat256)));

	// PCR 8 is outside the sha1 aggregate and inside the sha256 one.
	ASSERT_TRUE(t->extend(8, {{HashAlgo::sha1, pattern(20, 99)},
				  {HashAlgo::sha256, pattern(32, 99)}}));
	EXPECT_EQ(*t->boot_aggregate(HashAlgo::sha1), *a1);
	EXPECT_NE(*t->boot_aggregate(HashAlgo::sha256), *a256);
}

TEST_F(TpmTest, BootAggregateOfAFreshTpmIsTheHashOfZeros)
{
	auto t = Tpm::open(swtpm_->tcti());
	ASSERT_TRUE(t) << t.error().message();
	auto a = t->boot_aggregate(HashAlgo::sha256);
	ASSERT_TRUE(a) << a.error().message();
	// sha256 of 320 zero bytes (10 PCRs of 32), as a fresh TPM's IMA list starts.
	EXPECT_EQ(to_hex(*a), to_hex(openssl_digest("SHA256", Bytes(320, 0))));
	auto missing = t->boot_aggregate(HashAlgo::sha512);
	ASSERT_FALSE(missing);
	EXPECT_EQ(missing.error().err, ENOENT);
}

TEST_F(TpmTest, ExtendRejectsBadInputWithoutTouchingTheTpm)
{
	auto t = Tpm::open(swtpm_->tcti());
	ASSERT_TRUE(t) << t.error().message();
	auto r = t->extend(24, {{HashAlgo::sha256, Bytes(32, 1)}});
	ASSERT_FALSE(r);
	EXPECT_EQ(r.error().err, EINVAL);
	r = t->extend(10, {{HashAlgo::sha256, Bytes(20, 1)}}); // sha1-sized digest
	ASSERT_FALSE(r);
	EXPECT_NE(r.error().message().find("sha256 digest of 20 bytes"), std::string::npos)
		<< r.error().message();
	r = t->extend(10, {{HashAlgo::sha1, Bytes(20, 1)}, {HashAlgo::sha1, Bytes(20, 2)}});
	ASSERT_FALSE(r);
	r = t->extend(10, {});
	ASSERT_FALSE(r);
	auto v = t->read_pcrs(HashAlgo::sha256, {10, 24});
	ASSERT_FALSE(v);
	EXPECT_EQ(v.error().err, EINVAL);
	v = t->read_pcrs(HashAlgo::sha256, {10});
	ASSERT_TRUE(v);
	EXPECT_EQ((*v)[10], Bytes(32, 0)); // nothing above reached the TPM
}

TEST_F(TpmTest, ExtendOfALocalityProtectedPcrCarriesTheDecodedTpmError)
{
	auto t = Tpm::open(swtpm_->tcti());
	ASSERT_TRUE(t) << t.error().message();
	// PCR 17 (DRTM) cannot be extended from locality 0: TPM_RC_LOCALITY.
	auto r = t->extend(17, {{HashAlgo::sha256, Bytes(32, 1)}});
	ASSERT_FALSE(r);
	EXPECT_EQ(r.error().op, "Esys_PCR_Extend");
	EXPECT_NE(r.error().message().find("locality"), std::string::npos) << r.error().message();
}

TEST(Tpm, BadTctiIsAClearError)
{
	auto t = Tpm::open("nosuchtcti:foo");
	ASSERT_FALSE(t);
	EXPECT_EQ(t.error().op, "Tss2_TctiLdr_Initialize");
	EXPECT_NE(t.error().message().find("nosuchtcti:foo"), std::string::npos)
		<< t.error().message();
	EXPECT_NE(t.error().message().find("0x"), std::string::npos) << t.error().message();

	TempDir dir;
	auto absent = Tpm::open("swtpm:path=" + dir.path() + "/sock");
	if (absent) { // a TCTI may connect lazily: then the first command fails
		auto r = absent->read_pcrs(ima::HashAlgo::sha256, {0});
		ASSERT_FALSE(r);
		EXPECT_NE(r.error().message().find("0x"), std::string::npos);
	} else {
		EXPECT_FALSE(absent.error().message().empty());
	}
	auto device = Tpm::open("device:" + dir.path() + "/tpmrm0");
	EXPECT_FALSE(device);
}

} // namespace
} // namespace eima::tpm::testing
