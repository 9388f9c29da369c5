// The keyrings eimad makes and finds again after a restart, against the kernel's keyrings
// (they work in this sandbox; where they do not, the tests say why and skip).
#include "enforce/trusted_keyring.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "../test_keys.h"

namespace eima::enforce {
namespace {

class TrustedKeyringTest : public ::testing::Test {
protected:
	static void SetUpTestSuite()
	{
		dir_ = test::make_test_keys("eima-keyring-", {"a", "b"});
		ASSERT_FALSE(dir_.empty()) << "openssl could not make the test keys";
	}
	static void TearDownTestSuite() { std::filesystem::remove_all(dir_); }
	void TearDown() override
	{
		// Every keyring this test linked into @u, by its description.
		(void)unlink_user_keyrings(name_, [](std::string_view) { return false; });
	}
	static std::string cert(const char *n) { return (dir_ / (std::string(n) + ".pem")).string(); }
	Result<TrustedKeyring> make(const std::vector<std::string> &certs)
	{
		auto k = make_trusted_keyring(name_, certs);
		if (!k && (k.error().err == ENOSYS || k.error().err == EACCES || k.error().err == EPERM))
			skip_ = k.error().message();
		return k;
	}

	static inline std::filesystem::path dir_;
	std::string name_ = "eima:unit-test:" + std::to_string(::getpid());
	std::string skip_;
};

TEST_F(TrustedKeyringTest, ARestartFindsTheKeyringHoldingItsCertificate)
{
	auto made = make({cert("a")});
	if (!skip_.empty())
		GTEST_SKIP() << "no kernel keyrings here: " << skip_;
	ASSERT_TRUE(made) << made.error().message();
	auto found = find_trusted_keyring(name_, {cert("a")}, {12345, made->serial});
	ASSERT_TRUE(found) << found.error().message();
	ASSERT_TRUE(*found);
	EXPECT_EQ((*found)->serial, made->serial);
	EXPECT_EQ((*found)->description, name_);
	ASSERT_EQ((*found)->certs.size(), 1u);
	EXPECT_EQ((*found)->certs[0].key_serial, made->certs[0].key_serial);
	EXPECT_EQ((*found)->certs[0].path, cert("a"));
	EXPECT_NE((*found)->certs[0].subject.find("eima-test-a"), std::string::npos);
}

TEST_F(TrustedKeyringTest, AnotherCertificateOrNameOrSerialFindsNone)
{
	auto made = make({cert("a")});
	if (!skip_.empty())
		GTEST_SKIP() << "no kernel keyrings here: " << skip_;
	ASSERT_TRUE(made) << made.error().message();
	auto other_cert = find_trusted_keyring(name_, {cert("b")}, {made->serial});
	ASSERT_TRUE(other_cert) << other_cert.error().message();
	EXPECT_FALSE(*other_cert) << "a keyring holding another certificate";
	auto more_certs = find_trusted_keyring(name_, {cert("a"), cert("b")}, {made->serial});
	ASSERT_TRUE(more_certs);
	EXPECT_FALSE(*more_certs) << "a keyring holding fewer certificates than asked";
	auto other_name = find_trusted_keyring(name_ + ":x", {cert("a")}, {made->serial});
	ASSERT_TRUE(other_name);
	EXPECT_FALSE(*other_name) << "a keyring of another name";
	// A key's serial is not a keyring's.
	auto a_key = find_trusted_keyring(name_, {cert("a")}, {made->certs[0].key_serial});
	ASSERT_TRUE(a_key);
	EXPECT_FALSE(*a_key);
	auto none = find_trusted_keyring(name_, {cert("a")}, {});
	ASSERT_TRUE(none);
	EXPECT_FALSE(*none);
}

TEST_F(TrustedKeyringTest, TwoCertificatesInAnyOrder)
{
	auto made = make({cert("a"), cert("b")});
	if (!skip_.empty())
		GTEST_SKIP() << "no kernel keyrings here: " << skip_;
	ASSERT_TRUE(made) << made.error().message();
	auto found = find_trusted_keyring(name_, {cert("b"), cert("a")}, {made->serial});
	ASSERT_TRUE(found) << found.error().message();
	ASSERT_TRUE(*found);
	EXPECT_EQ((*found)->certs.size(), 2u);
}

TEST_F(TrustedKeyringTest, AnUnreadableCertificateIsAnErrorNamingIt)
{
	auto found = find_trusted_keyring(name_, {"/nonexistent/eima.pem"}, {});
	ASSERT_FALSE(found);
	EXPECT_NE(found.error().message().find("/nonexistent/eima.pem"), std::string::npos);
}

} // namespace
} // namespace eima::enforce
