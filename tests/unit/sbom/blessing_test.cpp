// The two signatures of a blessing, with keys generated here by the openssl command (never
// committed): header bytes, the round trip through verify_blessing, and each way it must
// fail. tests/e2e/bless_test.sh checks the same values with evmctl and openssl cms.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include <fmt/format.h>

#include "common/file_io.h"
#include "tests/unit/test_keys.h"
#include "sbom/blessing.h"

extern "C" {
#include "bpf/abi/blessing.h"
}

namespace eima::sbom {
namespace {

namespace fs = std::filesystem;

class Blessing : public testing::Test {
protected:
	static void SetUpTestSuite()
	{
		dir_ = test::make_test_keys("eima-blessing-", {"a", "b"});
		ASSERT_FALSE(dir_.empty()) << "openssl could not make the test keys";
	}
	static void TearDownTestSuite() { fs::remove_all(dir_); }

	static std::string path(const char *name) { return (dir_ / name).string(); }
	// The blessing key a gives the SHA-256 digest d.
	static Result<Bytes> bless_with_a(const Bytes &d)
	{
		auto signer = BlessingSigner::load(path("a.key"), path("a.pem"));
		if (!signer)
			return std::unexpected(signer.error());
		return signer->blessing(ima::HashAlgo::sha256, d);
	}
	static inline fs::path dir_;
};

Bytes digest_of(std::string_view text)
{
	return *ima::digest(ima::HashAlgo::sha256, as_bytes(text));
}

TEST_F(Blessing, ImaSignatureHeader)
{
	auto signer = BlessingSigner::load(path("a.key"), path("a.pem"));
	ASSERT_TRUE(signer) << signer.error().message();
	auto sig = signer->ima_signature(ima::HashAlgo::sha256, digest_of("x"));
	ASSERT_TRUE(sig) << sig.error().message();
	ASSERT_EQ(sig->size(), 9u + 256u); // RSA-2048
	EXPECT_EQ((*sig)[0], 0x03);        // EVM_IMA_XATTR_DIGSIG
	EXPECT_EQ((*sig)[1], 2);           // signature v2
	EXPECT_EQ((*sig)[2], 4);           // HASH_ALGO_SHA256
	const Bytes &skid = signer->subject_key_id();
	EXPECT_EQ(Bytes(sig->begin() + 3, sig->begin() + 7), Bytes(skid.end() - 4, skid.end()));
	EXPECT_EQ((*sig)[7], 0x01);
	EXPECT_EQ((*sig)[8], 0x00);
}

TEST_F(Blessing, RoundTripAndEveryFailure)
{
	Bytes d = digest_of("content");
	auto value = bless_with_a(d);
	ASSERT_TRUE(value) << value.error().message();
	Bytes msg = blessing_message(ima::HashAlgo::sha256, d);
	ASSERT_EQ(msg.size(), 8u + 32u);
	EXPECT_EQ(Bytes(value->begin(), value->begin() + 40), msg);
	EXPECT_EQ(std::string(msg.begin(), msg.begin() + 4), "EIMA");
	EXPECT_EQ(msg[4], 1);
	EXPECT_EQ(msg[5], 4);
	EXPECT_EQ(msg[6], 32);
	EXPECT_EQ(msg[7], 0);

	auto ok = verify_blessing(*value, ima::HashAlgo::sha256, d, path("a.pem"));
	EXPECT_TRUE(ok) << ok.error().message();

	auto expect_fail = [&](std::span<const std::uint8_t> v, std::span<const std::uint8_t> dg,
			       const char *cert, const char *why) {
		auto r = verify_blessing(v, ima::HashAlgo::sha256, dg, path(cert));
		ASSERT_FALSE(r) << why;
		EXPECT_NE(r.error().message().find(why), std::string::npos) << r.error().message();
	};
	expect_fail(*value, digest_of("other content"), "a.pem", "not the blessed one");
	expect_fail(*value, d, "b.pem", "bad signature");
	Bytes flipped = *value;
	flipped.back() ^= 1;
	expect_fail(flipped, d, "a.pem", "bad signature");
	// The digest field and the file agree, but the signed message was another's.
	Bytes forged = *value;
	Bytes other = digest_of("other content");
	std::copy(other.begin(), other.end(), forged.begin() + 8);
	expect_fail(forged, other, "a.pem", "bad signature");
	expect_fail(std::span(*value).first(5), d, "a.pem", "shorter than its header");
	// Found by the blessing fuzz target: bytes after the DER signature were ignored, so one
	// blessing had many values (and one too long for the BPF program's buffer verified).
	Bytes trailing = *value;
	trailing.push_back(0);
	expect_fail(trailing, d, "a.pem", "1 bytes after the signature");
	Bytes huge = *value;
	huge.resize(EIMA_BLESSING_VALUE_MAX + 1);
	expect_fail(huge, d, "a.pem", "larger than a reader's 1024");
	Bytes wrong_magic = *value;
	wrong_magic[0] = 'X';
	expect_fail(wrong_magic, d, "a.pem", "not an eima blessing");
}

// Found by the blessing fuzz target: a signature whose digestAlgorithms name an algorithm
// OpenSSL does not know made CMS_verify leak its copy of the message (LeakSanitizer sees it
// in scripts/sanitize.sh); it must be refused, and leak nothing.
TEST_F(Blessing, UnknownDigestAlgorithmIsRefusedWithoutLeak)
{
	Bytes d = digest_of("content");
	auto value = bless_with_a(d);
	ASSERT_TRUE(value) << value.error().message();
	// The first SHA-256 OID (2.16.840.1.101.3.4.2.1) of the DER is digestAlgorithms'; its
	// last arc made 0x7f names no algorithm, and every length stays as it was.
	const Bytes sha256_oid = {0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01};
	auto at = std::search(value->begin() + 40, value->end(), sha256_oid.begin(), sha256_oid.end());
	ASSERT_NE(at, value->end());
	Bytes unknown = *value;
	unknown[static_cast<std::size_t>(at - value->begin()) + sha256_oid.size() - 1] = 0x7f;
	for (int i = 0; i < 3; ++i) {
		auto r = verify_blessing(unknown, ima::HashAlgo::sha256, d, path("a.pem"));
		ASSERT_FALSE(r);
		EXPECT_NE(r.error().message().find("bad signature"), std::string::npos)
			<< r.error().message();
	}
	auto ok = verify_blessing(*value, ima::HashAlgo::sha256, d, path("a.pem"));
	EXPECT_TRUE(ok) << ok.error().message();
}

// The blessing fuzz target's seeds (mode byte, then the value) are what their names say:
// the valid ones verify against the committed certificate, whose key no longer exists, and
// the others do not. Without this the target could run on seeds that never get past the
// signature check.
TEST(BlessingFuzzSeeds, ValidSeedsVerifyAndTheOthersDoNot)
{
	const fs::path seeds = EIMA_FUZZ_SEEDS_DIR;
	const std::string cert = seeds / "blessing-cert.pem";
	std::size_t valid = 0, invalid = 0;
	for (auto &e : fs::directory_iterator(seeds / "blessing")) {
		auto bytes = read_file(e.path().string());
		ASSERT_TRUE(bytes) << bytes.error().message();
		ASSERT_FALSE(bytes->empty());
		auto mode = static_cast<std::uint8_t>((*bytes)[0]);
		auto algo = ima::all_hash_algos[(mode & 7) % std::size(ima::all_hash_algos)];
		std::span<const std::uint8_t> value(reinterpret_cast<const std::uint8_t *>(bytes->data()) + 1,
						   bytes->size() - 1);
		Bytes d = *ima::digest(algo, as_bytes("eima fuzz"));
		if (mode & 8)
			d.assign(value.begin() + 8, value.begin() + 8 + static_cast<long>(d.size()));
		auto r = verify_blessing(value, algo, d, cert);
		std::string name = e.path().filename().string();
		if (name.starts_with("valid-")) {
			EXPECT_TRUE(r) << name << ": " << r.error().message();
			++valid;
		} else {
			EXPECT_FALSE(r) << name;
			++invalid;
		}
	}
	EXPECT_EQ(valid, 10u);
	EXPECT_GE(invalid, 9u);
}

TEST_F(Blessing, KeyAndCertificateMustMatch)
{
	auto r = BlessingSigner::load(path("a.key"), path("b.pem"));
	ASSERT_FALSE(r);
	EXPECT_NE(r.error().message().find("is not the key of"), std::string::npos);
	r = BlessingSigner::load(path("a.pem"), path("a.pem"));
	ASSERT_FALSE(r);
	EXPECT_NE(r.error().message().find("read PEM private key"), std::string::npos);
	r = BlessingSigner::load(path("absent.key"), path("a.pem"));
	ASSERT_FALSE(r);
	EXPECT_NE(r.error().message().find("absent.key"), std::string::npos);
}

} // namespace
} // namespace eima::sbom
