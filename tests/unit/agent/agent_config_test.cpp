// eimad's option values, as the command line and eimad.conf give them, parsed into enums.
#include "agent/agent_config.h"

#include <gtest/gtest.h>

using namespace eima::agent;

TEST(AgentConfig, ProtectTakesOnAutoOffAndTheConfigFilesBooleans)
{
	EXPECT_EQ(protect_choice_from_name("auto"), ProtectChoice::automatic);
	EXPECT_EQ(protect_choice_from_name("on"), ProtectChoice::on);
	EXPECT_EQ(protect_choice_from_name("true"), ProtectChoice::on); // protect = true
	EXPECT_EQ(protect_choice_from_name("off"), ProtectChoice::off);
	EXPECT_EQ(protect_choice_from_name("false"), ProtectChoice::off);
	EXPECT_FALSE(protect_choice_from_name(""));
	EXPECT_FALSE(protect_choice_from_name("yes")); // CLI11 refuses it first; so do we
	EXPECT_FALSE(protect_choice_from_name("Auto"));
}

TEST(AgentConfig, ModeAndTpmChoices)
{
	EXPECT_EQ(mode_choice_from_name("auto"), ModeChoice::automatic);
	EXPECT_EQ(mode_choice_from_name("lsm"), ModeChoice::lsm);
	EXPECT_FALSE(mode_choice_from_name("fanotify"));
	auto dev = tpm_choice_from_name("device:/dev/tpm0");
	ASSERT_TRUE(dev);
	EXPECT_EQ(dev->kind, TpmChoice::Kind::device);
	EXPECT_EQ(dev->device, "/dev/tpm0");
	auto bad = tpm_choice_from_name("device:");
	ASSERT_FALSE(bad);
	EXPECT_NE(bad.error().message().find("device[:PATH]"), std::string::npos);
}
