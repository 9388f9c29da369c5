// The software TPM2_MakeCredential checked by the only judge that counts: a real swtpm's
// TPM2_ActivateCredential. tpm2_makecredential's blob (tpm2-tools, --tcti none) is activated
// through eima too, so both sides of the format agree with another implementation.
#include <gtest/gtest.h>

#include <fstream>

#include "../tpm/tpm_test_support.h"
#include "attest/enrollment.h"
#include "common/file_io.h"

namespace eima::attest {
namespace {

using tpm::testing::SwtpmTest;

// Every test runs for both EKs the profile's low range has: RSA 2048 (the seed encrypted
// with OAEP) and ECC P-256 (the seed from ECDH with an ephemeral key and KDFe).
class EnrollmentTest : public SwtpmTest, public ::testing::WithParamInterface<tpm::EkType> {
protected:
	void SetUp() override
	{
		SwtpmTest::SetUp();
		if (IsSkipped())
			return;
		auto t = tpm::Tpm::open(swtpm_->tcti());
		ASSERT_TRUE(t) << t.error().message();
		tpm_.emplace(std::move(*t));
		auto ek = tpm_->endorsement_key(GetParam());
		ASSERT_TRUE(ek) << ek.error().message();
		ek_ = std::move(*ek);
		auto id = tpm_->identity();
		ASSERT_TRUE(id) << id.error().message();
		ak_public_ = id->ak_public;
		auto name = tpm::public_name(ak_public_);
		ASSERT_TRUE(name) << name.error().message();
		ak_name_ = *name;
	}
	std::optional<tpm::Tpm> tpm_;
	tpm::EndorsementKey ek_;
	Bytes ak_public_, ak_name_;
};

TEST_P(EnrollmentTest, SoftwareCredentialActivatesInTheTpm)
{
	EXPECT_TRUE(ek_.certificate.empty()); // a plain swtpm has no EK certificate
	for (std::size_t size : {1u, 16u, 32u}) {
		Bytes secret(size);
		for (std::size_t i = 0; i < size; ++i)
			secret[i] = static_cast<std::uint8_t>(0xa0 + i);
		auto c = make_credential(ek_.public_area, ak_name_, secret);
		ASSERT_TRUE(c) << c.error().message();
		// RSA: the OAEP ciphertext; ECC: the ephemeral point, two 32-byte coordinates.
		EXPECT_EQ(c->encrypted_secret.size(),
			  GetParam() == tpm::EkType::rsa2048 ? 2u + 256u : 2u + 2u + 32u + 2u + 32u);
		auto got = tpm_->activate_credential(GetParam(), *c);
		ASSERT_TRUE(got) << got.error().message();
		EXPECT_EQ(*got, secret) << "secret of " << size << " bytes";
	}
}

TEST_P(EnrollmentTest, CredentialForAnotherNameIsRefused)
{
	auto ek_name = tpm::public_name(ek_.public_area);
	ASSERT_TRUE(ek_name);
	auto c = make_credential(ek_.public_area, *ek_name, Bytes(32, 7));
	ASSERT_TRUE(c);
	auto got = tpm_->activate_credential(GetParam(), *c);
	ASSERT_FALSE(got);
	EXPECT_NE(got.error().message().find("integrity"), std::string::npos) << got.error().message();
	// Every byte of the HMAC'd part matters.
	auto good = make_credential(ek_.public_area, ak_name_, Bytes(32, 7));
	ASSERT_TRUE(good);
	for (std::size_t at : {std::size_t{4}, good->credential_blob.size() - 1}) {
		auto bad = *good;
		bad.credential_blob[at] ^= 1;
		EXPECT_FALSE(tpm_->activate_credential(GetParam(), bad)) << "byte " << at;
	}
	// And the TPM still activates the untouched one afterwards.
	auto got2 = tpm_->activate_credential(GetParam(), *good);
	ASSERT_TRUE(got2) << got2.error().message();
	EXPECT_EQ(*got2, Bytes(32, 7));
}

TEST_P(EnrollmentTest, Tpm2ToolsMakeCredentialActivatesThroughEima)
{
	if (!tpm::testing::program_on_path("tpm2_makecredential"))
		GTEST_SKIP() << "no tpm2_makecredential (Debian package tpm2-tools)";
	std::string dir = dir_.path();
	ASSERT_TRUE(write_file(dir + "/ek.pem", ek_.pem));
	std::string secret = "eima enrolment cross-check 32 B!";
	ASSERT_TRUE(write_file(dir + "/secret", secret));
	auto r = tpm::testing::run(std::string("tpm2_makecredential -T none -G ") +
				   (GetParam() == tpm::EkType::rsa2048 ? "rsa" : "ecc") + " -u " + dir + "/ek.pem -s " +
				   dir + "/secret -n " + to_hex(ak_name_) + " -o " + dir + "/blob");
	ASSERT_EQ(r.status, 0) << r.output;
	auto file = read_file(dir + "/blob");
	ASSERT_TRUE(file);
	Bytes b(file->begin(), file->end());
	// tpm2-tools' file: magic BADCC0DE, version 1, TPM2B_ID_OBJECT, TPM2B_ENCRYPTED_SECRET.
	ASSERT_GT(b.size(), 10u);
	ASSERT_EQ(to_hex(Bytes(b.begin(), b.begin() + 8)), "badcc0de00000001");
	std::size_t id_len = 2u + (std::size_t(b[8]) << 8 | b[9]);
	ASSERT_LT(8 + id_len, b.size());
	tpm::Credential theirs{Bytes(b.begin() + 8, b.begin() + 8 + long(id_len)),
			       Bytes(b.begin() + 8 + long(id_len), b.end())};
	auto got = tpm_->activate_credential(GetParam(), theirs);
	ASSERT_TRUE(got) << got.error().message();
	EXPECT_EQ(std::string(got->begin(), got->end()), secret);
	// Ours has the same layout (sizes), only the random seed differs.
	auto ours = make_credential(ek_.public_area, ak_name_, Bytes(secret.begin(), secret.end()));
	ASSERT_TRUE(ours);
	EXPECT_EQ(ours->credential_blob.size(), theirs.credential_blob.size());
	EXPECT_EQ(ours->encrypted_secret.size(), theirs.encrypted_secret.size());
	EXPECT_EQ(Bytes(ours->credential_blob.begin(), ours->credential_blob.begin() + 4),
		  Bytes(theirs.credential_blob.begin(), theirs.credential_blob.begin() + 4));
}

TEST_P(EnrollmentTest, IdentityJsonRoundTripsAndBadInputIsAnError)
{
	NodeIdentity id{{ek_}, ak_public_};
	auto text = identity_json(id).dump();
	auto back = parse_identity(text, "id.json");
	ASSERT_TRUE(back) << back.error().message();
	ASSERT_NE(back->ek(GetParam()), nullptr);
	EXPECT_EQ(back->ek(GetParam())->public_area, ek_.public_area);
	EXPECT_EQ(back->ek(GetParam())->pem, ek_.pem);
	EXPECT_EQ(back->ak_public, ak_public_);
	EXPECT_TRUE(check_attestation_key(ak_public_));
	// The EK is no AK: a decryption key, not a signing one.
	EXPECT_FALSE(check_attestation_key(ek_.public_area));

	EXPECT_FALSE(make_credential(ek_.public_area, ak_name_, {}));
	EXPECT_FALSE(make_credential(ek_.public_area, ak_name_, Bytes(33)));
	EXPECT_FALSE(make_credential(ek_.public_area, Bytes(10), Bytes(32)));
	EXPECT_FALSE(make_credential(Bytes{0, 1, 2}, ak_name_, Bytes(32)));
	// The AK is a P-256 key too, but no decryption key: it has no symmetric algorithm.
	auto not_ek = make_credential(ak_public_, ak_name_, Bytes(32));
	ASSERT_FALSE(not_ek);
	EXPECT_EQ(not_ek.error().err, ENOTSUP);
	for (auto bad : {"", "{", "[]", "{\"version\":1}", "{\"version\":1,\"ek\":{},\"ak\":{}}",
			 "{\"version\":1,\"ek\":{\"rsa2048\":{\"public\":\"0000\"}},\"ak\":{}}"}) {
		auto r = parse_identity(bad, "bad.json");
		ASSERT_FALSE(r) << bad;
		EXPECT_NE(r.error().message().find("bad.json"), std::string::npos) << r.error().message();
	}
}

INSTANTIATE_TEST_SUITE_P(Ek, EnrollmentTest,
			 ::testing::Values(tpm::EkType::rsa2048, tpm::EkType::ecc_p256),
			 [](const auto &info) {
				 return info.param == tpm::EkType::rsa2048 ? std::string("Rsa2048")
									  : std::string("EccP256");
			 });

} // namespace
} // namespace eima::attest
