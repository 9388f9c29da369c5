// --appraise and the policy: which mode, and every request that cannot be met is an error
// at start, never a silent "off".
#include <gtest/gtest.h>

#include <fstream>

#include "enforce/enforcer.h"

namespace eima::enforce {
namespace {

EnforceConfig with(AppraiseChoice c, bool cert = true)
{
	EnforceConfig e;
	e.appraise = c;
	if (cert)
		e.trusted_certs = {"cert.pem"};
	return e;
}

TEST(Enforcer, ModeFromChoiceAndPolicy)
{
	auto s = decide_appraise_mode(with(AppraiseChoice::automatic), true, true);
	ASSERT_TRUE(s);
	EXPECT_EQ(s->mode, static_cast<std::uint32_t>(EIMA_APPRAISE_ENFORCE));
	s = decide_appraise_mode(with(AppraiseChoice::automatic, false), false, false);
	ASSERT_TRUE(s); // no appraise rules: off, whatever else is missing
	EXPECT_EQ(s->mode, static_cast<std::uint32_t>(EIMA_APPRAISE_OFF));
	s = decide_appraise_mode(with(AppraiseChoice::audit), true, true);
	ASSERT_TRUE(s);
	EXPECT_EQ(s->mode, static_cast<std::uint32_t>(EIMA_APPRAISE_AUDIT));
	s = decide_appraise_mode(with(AppraiseChoice::off), true, true);
	ASSERT_TRUE(s);
	EXPECT_EQ(s->mode, static_cast<std::uint32_t>(EIMA_APPRAISE_OFF));
}

TEST(Enforcer, UnmeetableRequestsAreErrors)
{
	auto s = decide_appraise_mode(with(AppraiseChoice::enforce), false, true);
	ASSERT_FALSE(s);
	EXPECT_NE(s.error().message().find("no appraise rules"), std::string::npos);
	s = decide_appraise_mode(with(AppraiseChoice::automatic), true, false);
	ASSERT_FALSE(s);
	EXPECT_NE(s.error().message().find("sleepable"), std::string::npos);
	s = decide_appraise_mode(with(AppraiseChoice::audit, false), true, true);
	ASSERT_FALSE(s);
	EXPECT_NE(s.error().message().find("--trusted-cert"), std::string::npos);
}

TEST(Enforcer, CertificateFileErrorsNameTheFile)
{
	char t[] = "/tmp/eima-cert-test.XXXXXX";
	int fd = ::mkstemp(t);
	ASSERT_GE(fd, 0);
	::write(fd, "not a certificate\n", 18);
	::close(fd);
	auto c = read_certificates(t);
	::unlink(t);
	ASSERT_FALSE(c);
	EXPECT_NE(c.error().message().find(t), std::string::npos);
	EXPECT_NE(c.error().message().find("no PEM or DER"), std::string::npos);
	EXPECT_FALSE(read_certificates("/nonexistent.pem"));
}

TEST(Enforcer, ChoiceNames)
{
	EXPECT_EQ(appraise_choice_from_name("enforce"), AppraiseChoice::enforce);
	EXPECT_EQ(appraise_choice_from_name("auto"), AppraiseChoice::automatic);
	EXPECT_FALSE(appraise_choice_from_name("permissive"));
	EXPECT_EQ(appraise_mode_name(EIMA_APPRAISE_AUDIT), "audit");
}

} // namespace
} // namespace eima::enforce
