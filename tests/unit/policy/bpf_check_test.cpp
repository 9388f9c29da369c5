// func=BPF_CHECK (the seeds' rule for BPF loads): what the parser accepts and refuses with
// FILE:LINE, how the rules become one setting for eima bpf enforce, and how `eima policy
// check` reports them.
#include <gtest/gtest.h>

#include "bpf/abi/bpf_policy.h"
#include "policy/bpf_check.h"
#include "policy/policy_check.h"

namespace eima::policy {
namespace {

// The first error of a policy, as `eima bpf enforce --policy` reports it.
std::string first_error(std::string_view text)
{
	auto p = parse_policy(text, "bpf.policy");
	if (!p)
		return p.error().message();
	auto b = bpf_check_policy(*p);
	return b ? std::string() : b.error().message();
}

TEST(BpfCheckRule, TheSeedsRuleParsesAndEnforces)
{
	auto p = parse_policy("# only signed BPF\nappraise func=BPF_CHECK appraise_type=imasig\n",
			      "bpf.policy");
	ASSERT_TRUE(p) << p.error().message();
	ASSERT_EQ(p->rules.size(), 1u);
	EXPECT_EQ(p->rules[0].func, EIMA_FUNC_BPF_CHECK);
	EXPECT_EQ(func_name(EIMA_FUNC_BPF_CHECK), "BPF_CHECK");
	auto b = bpf_check_policy(*p);
	ASSERT_TRUE(b) << b.error().message();
	EXPECT_EQ(b->mode, BpfCheckPolicy::Mode::enforce);
	EXPECT_EQ(b->line, 2u);
	EXPECT_EQ(b->text, "appraise func=BPF_CHECK appraise_type=imasig");
	EXPECT_TRUE(b->keyrings.empty());
	EXPECT_FALSE(b->cgroup);
	EXPECT_TRUE(b->exceptions.empty());
}

TEST(BpfCheckRule, AuditKeyringsCgroupAndExceptions)
{
	auto p = parse_policy("dont_appraise func=BPF_CHECK cgroup=/sys/fs/cgroup/boot.slice\n"
			      "dont_appraise func=BPF_CHECK cgroup=/sys/fs/cgroup/init.scope\n"
			      "audit func=BPF_CHECK keyrings=eima|.platform|123456 "
			      "cgroup=/sys/fs/cgroup/t\n"
			      "measure func=BPRM_CHECK\n",
			      "bpf.policy");
	ASSERT_TRUE(p) << p.error().message();
	auto b = bpf_check_policy(*p);
	ASSERT_TRUE(b) << b.error().message();
	EXPECT_EQ(b->mode, BpfCheckPolicy::Mode::audit);
	EXPECT_EQ(b->line, 3u);
	EXPECT_EQ(b->keyrings, (std::vector<std::string>{"eima", ".platform", "123456"}));
	EXPECT_EQ(b->cgroup, "/sys/fs/cgroup/t");
	ASSERT_EQ(b->exceptions.size(), 2u);
	EXPECT_EQ(b->exceptions[0].line, 1u);
	EXPECT_EQ(b->exceptions[0].cgroup, "/sys/fs/cgroup/boot.slice");
	EXPECT_EQ(b->exceptions[1].cgroup, "/sys/fs/cgroup/init.scope");
}

TEST(BpfCheckRule, KeyringNames)
{
	EXPECT_EQ(bpf_keyring_id(".builtin_trusted_keys"), 0);
	EXPECT_EQ(bpf_keyring_id(".secondary_trusted_keys"), 1);
	EXPECT_EQ(bpf_keyring_id(".platform"), 2);
	EXPECT_EQ(bpf_keyring_id("1043619523"), 1043619523);
	EXPECT_EQ(bpf_keyring_id("eima"), std::nullopt); // looked up when applied
	EXPECT_TRUE(bpf_keyring_known("eima"));
	for (auto bad : {"0", "2", "-5", "12x", ".ima", "99999999999", ""})
		EXPECT_FALSE(bpf_keyring_known(bad)) << bad;
}

TEST(BpfCheckRule, MalformedRulesNameFileLineAndWhy)
{
	struct Case {
		std::string text;
		std::string want; // in the message
	};
	const Case cases[] = {
	    {"appraise func=BPF_CHECK", "'appraise': appraise func=BPF_CHECK needs "
					"appraise_type=imasig"},
	    {"appraise func=BPF_CHECK appraise_type=imasig|modsig",
	     "takes appraise_type=imasig only"},
	    {"appraise func=BPF_CHECK appraise_type=sigv3", "needs digest_type=verity"},
	    {"measure func=BPF_CHECK", "func=BPF_CHECK takes only appraise, dont_appraise and audit"},
	    {"dont_measure func=BPF_CHECK", "takes only appraise, dont_appraise and audit"},
	    {"hash func=BPF_CHECK", "takes only appraise, dont_appraise and audit"},
	    {"appraise func=BPF_CHECK appraise_type=imasig uid=0",
	     "'uid=0': func=BPF_CHECK does not take uid="},
	    {"appraise func=BPF_CHECK appraise_type=imasig container=host",
	     "does not take container="},
	    {"appraise func=BPF_CHECK appraise_type=imasig subj_type=x", "does not take subj_type="},
	    {"appraise func=BPF_CHECK appraise_type=imasig mask=MAY_EXEC", "does not take mask="},
	    {"appraise func=BPF_CHECK appraise_type=imasig permit_directio",
	     "does not take permit_directio"},
	    {"appraise func=BPF_CHECK appraise_type=imasig appraise_algos=sha256",
	     "does not take appraise_algos="},
	    {"audit func=BPF_CHECK appraise_type=imasig", "only appraise rules take appraise_type="},
	    {"audit func=BPF_CHECK pcr=11", "pcr= is only for measure rules"},
	    {"dont_appraise func=BPF_CHECK", "needs cgroup=DIR"},
	    {"dont_appraise func=BPF_CHECK cgroup=/sys/fs/cgroup/a keyrings=eima",
	     "takes no keyrings="},
	    {"appraise func=BPF_CHECK appraise_type=imasig keyrings=.ima",
	     "unknown keyring '.ima' for func=BPF_CHECK"},
	    {"appraise func=BPF_CHECK appraise_type=imasig keyrings=eima||1",
	     "empty item in keyrings= list"},
	    {"appraise func=BPF_CHECK appraise_type=imasig cgroup=boot.slice",
	     "cgroup= needs an absolute path"},
	    {"appraise func=BPF_CHECK appraise_type=imasig cgroup=/sys/fs/cgroup/../x",
	     "without '..'"},
	    {"appraise func=BPF_CHECK appraise_type=imasig cgroup=/a cgroup=/b",
	     "duplicate cgroup= condition"},
	    {"measure func=BPRM_CHECK cgroup=/sys/fs/cgroup/a",
	     "func=BPRM_CHECK does not take cgroup="},
	    {"appraise func=bpf_check appraise_type=imasig", "unknown func 'bpf_check'"},
	};
	for (const Case &c : cases) {
		std::string text = "measure func=BPRM_CHECK\n" + c.text + "\n";
		std::string msg = first_error(text);
		EXPECT_NE(msg.find(c.want), std::string::npos) << c.text << " -> " << msg;
		EXPECT_NE(msg.find("bpf.policy:2"), std::string::npos) << c.text << " -> " << msg;
	}
}

TEST(BpfCheckRule, ConflictingRulesNameTheirLines)
{
	std::string two = first_error("appraise func=BPF_CHECK appraise_type=imasig\n"
				      "audit func=BPF_CHECK\n");
	EXPECT_NE(two.find("a second appraise or audit func=BPF_CHECK rule (the first is at "
			   "line 1)"),
		  std::string::npos)
	    << two;
	EXPECT_NE(two.find("bpf.policy:2"), std::string::npos) << two;

	std::string late = first_error("\nappraise func=BPF_CHECK appraise_type=imasig\n"
				       "dont_appraise func=BPF_CHECK cgroup=/sys/fs/cgroup/a\n");
	EXPECT_NE(late.find("comes after the appraise func=BPF_CHECK rule at line 2"),
		  std::string::npos)
	    << late;
	EXPECT_NE(late.find("bpf.policy:3"), std::string::npos) << late;

	std::string many;
	for (int i = 0; i <= EIMA_BPF_POLICY_MAX_EXEMPT; ++i)
		many += "dont_appraise func=BPF_CHECK cgroup=/sys/fs/cgroup/c" + std::to_string(i) +
			"\n";
	std::string full = first_error(many + "appraise func=BPF_CHECK appraise_type=imasig\n");
	EXPECT_NE(full.find("more than 4 dont_appraise func=BPF_CHECK exceptions"),
		  std::string::npos)
	    << full;
	EXPECT_NE(full.find("bpf.policy:5"), std::string::npos) << full;
}

TEST(BpfCheckRule, PolicyCheckReportsTheRuleAndItsExceptions)
{
	PolicyCheck c = check_policy("measure func=BPRM_CHECK\n"
				     "dont_appraise func=BPF_CHECK cgroup=/sys/fs/cgroup/boot.slice\n"
				     "appraise func=BPF_CHECK appraise_type=imasig keyrings=eima\n",
				     "p");
	EXPECT_TRUE(c.valid());
	// eimad does not apply them, but they are honoured: not "unsupported" here.
	EXPECT_TRUE(c.unsupported.empty());
	EXPECT_EQ(c.kernel_rules, 1u);
	nlohmann::json j = check_report(c);
	EXPECT_EQ(j["funcs"]["BPF_CHECK"], 2);
	EXPECT_EQ(j["bpf"]["mode"], "enforce");
	EXPECT_EQ(j["bpf"]["line"], 3);
	EXPECT_EQ(j["bpf"]["rule"], "appraise func=BPF_CHECK appraise_type=imasig keyrings=eima");
	EXPECT_EQ(j["bpf"]["keyrings"], nlohmann::json::array({"eima"}));
	EXPECT_TRUE(j["bpf"]["cgroup"].is_null());
	ASSERT_EQ(j["bpf"]["exceptions"].size(), 1u);
	EXPECT_EQ(j["bpf"]["exceptions"][0]["line"], 2);
	EXPECT_EQ(j["bpf"]["exceptions"][0]["cgroup"], "/sys/fs/cgroup/boot.slice");

	PolicyCheck none = check_policy("measure func=BPRM_CHECK\n", "p");
	EXPECT_EQ(check_report(none)["bpf"]["mode"], "none");

	// A conflict is an error of the check, with every other error.
	PolicyCheck bad = check_policy("appraise func=BPF_CHECK appraise_type=imasig\n"
				       "audit func=BPF_CHECK\nappraise func=BPF_CHECK\n",
				       "p");
	ASSERT_EQ(bad.errors.size(), 2u);
	EXPECT_EQ(bad.errors[0].line, 3u); // the parser's, for the rule it refused
	EXPECT_EQ(bad.errors[1].line, 2u); // the second mode rule
}

TEST(BpfCheckRule, EimadReportsItAsNotItsOwn)
{
	auto p = parse_policy("appraise func=BPF_CHECK appraise_type=imasig\n", "p");
	ASSERT_TRUE(p);
	auto u = unsupported(*p, KernelMode::lsm);
	ASSERT_EQ(u.size(), 1u);
	EXPECT_NE(u[0].reason.find("eima bpf enforce --policy"), std::string::npos) << u[0].reason;
	EXPECT_FALSE(compiles_to_kernel(p->rules[0], KernelMode::lsm));
}

} // namespace
} // namespace eima::policy
