// eimad and func=BPF_CHECK (signed_bpf_policy.h): what its policy file gives the BPF policy,
// what the measurement side no longer lists as "not honoured", where it cannot be applied,
// and what load() refuses before anything reaches the kernel.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "agent/policy_loader.h"
#include "agent/signed_bpf_policy.h"

namespace {

using namespace eima::agent;
using Mode = eima::policy::BpfCheckPolicy::Mode;
namespace bpfsign = eima::bpfsign;

class PolicyFile : public ::testing::Test {
protected:
	std::string write(const std::string &text)
	{
		std::ofstream(path_) << text;
		return path_;
	}
	void TearDown() override { std::filesystem::remove(path_); }
	std::string path_ = ::testing::TempDir() + "eima-bpf-check-" + std::to_string(::getpid());
};

TEST_F(PolicyFile, TheRuleReachesEimadAndIsNotListedAsNotHonoured)
{
	auto p = write("measure func=BPRM_CHECK\n"
		       "dont_appraise func=BPF_CHECK cgroup=/sys/fs/cgroup/boot.slice\n"
		       "appraise func=BPF_CHECK appraise_type=imasig keyrings=eima|.platform\n");
	for (auto mode : {ProbeMode::lsm, ProbeMode::trace}) {
		auto pol = load_measure_policy(p, mode);
		ASSERT_TRUE(pol) << pol.error().message();
		EXPECT_EQ(pol->bpf_check.mode, Mode::enforce);
		EXPECT_EQ(pol->bpf_check.line, 3u);
		EXPECT_EQ(pol->bpf_check.keyrings, (std::vector<std::string>{"eima", ".platform"}));
		ASSERT_EQ(pol->bpf_check.exceptions.size(), 1u);
		EXPECT_EQ(pol->bpf_check.exceptions[0].cgroup, "/sys/fs/cgroup/boot.slice");
		for (const auto &u : pol->unsupported)
			EXPECT_EQ(u.find("BPF_CHECK"), std::string::npos) << u;
		EXPECT_EQ(pol->rules, 3u);
	}
}

TEST_F(PolicyFile, TheAuditForm)
{
	auto pol = load_measure_policy(write("audit func=BPF_CHECK cgroup=/sys/fs/cgroup/x\n"),
				       ProbeMode::lsm);
	ASSERT_TRUE(pol) << pol.error().message();
	EXPECT_EQ(pol->bpf_check.mode, Mode::audit);
	EXPECT_EQ(pol->bpf_check.cgroup, "/sys/fs/cgroup/x");
}

TEST_F(PolicyFile, NoRuleIsModeNone)
{
	auto pol = load_measure_policy(write("measure func=BPRM_CHECK\n"), ProbeMode::lsm);
	ASSERT_TRUE(pol);
	EXPECT_EQ(pol->bpf_check.mode, Mode::none);
	auto builtin = load_measure_policy("exec", ProbeMode::lsm);
	ASSERT_TRUE(builtin);
	EXPECT_EQ(builtin->bpf_check.mode, Mode::none);
}

TEST_F(PolicyFile, ASecondRuleIsAStartError)
{
	// eimad refuses to start on what `eima policy check` reports: never half a policy.
	auto pol = load_measure_policy(write("appraise func=BPF_CHECK appraise_type=imasig\n"
					     "audit func=BPF_CHECK\n"),
				       ProbeMode::lsm);
	ASSERT_FALSE(pol);
	EXPECT_NE(pol.error().message().find(":2"), std::string::npos) << pol.error().message();
}

TEST(SignedBpfPolicy, UnavailableInTraceModeSayingWhy)
{
	EXPECT_EQ(signed_bpf_unavailable(ProbeMode::lsm, ""), "");
	auto why = signed_bpf_unavailable(ProbeMode::trace, "bpf not in /sys/kernel/security/lsm");
	EXPECT_NE(why.find("trace mode"), std::string::npos);
	EXPECT_NE(why.find("bpf not in /sys/kernel/security/lsm"), std::string::npos);
	EXPECT_NE(signed_bpf_unavailable(ProbeMode::trace, "").find("--mode trace"),
		  std::string::npos);
}

SignedBpfRequest request(const std::string &objects,
			 std::optional<bpfsign::SigningContext> signing)
{
	SignedBpfRequest r;
	r.rules.mode = Mode::enforce;
	r.rules.line = 4;
	r.rules.text = "appraise func=BPF_CHECK appraise_type=imasig";
	r.policy_source = "/etc/eima/policy";
	r.objects_dir = objects;
	r.signing = std::move(signing);
	return r;
}

TEST(SignedBpfPolicy, LoadNeedsTheSigningCertificate)
{
	auto p = SignedBpfPolicy::load(request(BPF_OBJ_DIR, std::nullopt));
	ASSERT_FALSE(p);
	EXPECT_NE(p.error().message().find("--bpf-cert"), std::string::npos) << p.error().message();
	EXPECT_NE(p.error().message().find("/etc/eima/policy:4"), std::string::npos);
}

TEST(SignedBpfPolicy, AMissingObjectIsNamedForEachPath)
{
	using bpfsign::SigningPath;
	const std::pair<SigningPath, const char *> paths[] = {
		{SigningPath::native, "/nonexistent-eima-objects/bpf_policy.signed.bpf.o"},
		{SigningPath::trusted_loader, "/nonexistent-eima-objects/bpf_policy_tl.signed.bpf.o"}};
	for (auto [path, object] : paths) {
		bpfsign::SigningContext signing{path, std::nullopt, BPF_OBJ_DIR "/test-signing.crt"};
		auto p = SignedBpfPolicy::load(request("/nonexistent-eima-objects", signing));
		ASSERT_FALSE(p);
		EXPECT_NE(p.error().message().find(object), std::string::npos) << p.error().message();
		EXPECT_NE(p.error().message().find("--bpf-objects"), std::string::npos);
	}
}

} // namespace
