// Policy -> BPF array: what goes in, in which form, what is reported, and the limit.
#include <gtest/gtest.h>

#include <cstring>

#include "policy/policy_check.h"

namespace eima::policy {
namespace {

Policy parse(std::string_view text)
{
	auto p = parse_policy(text, "t");
	EXPECT_TRUE(p) << (p ? "" : p.error().message());
	return p ? *p : Policy{};
}

TEST(PolicyCompiler, RuleFieldsInAbiForm)
{
	Policy p = parse("audit func=BPRM_CHECK\n"
			 "measure func=FILE_CHECK mask=^MAY_READ fsmagic=0xef53 "
			 "fsuuid=01234567-89ab-cdef-0123-456789abcdef fsname=ext4 uid<1000 egid>5 "
			 "fowner=0 fgroup>3 pcr=11 template=ima-ng container=host\n"
			 "dont_measure func=MMAP_CHECK mask=MAY_EXEC euid=3 gid=7 container=*\n");
	auto c = compile_policy(p, KernelMode::lsm);
	ASSERT_TRUE(c) << c.error().message();
	ASSERT_EQ(c->nr_rules, 2u);
	const eima_rule &r = c->rules[0];
	EXPECT_EQ(r.rule_index, 1u); // the audit rule is not compiled, indexes stay the source's
	EXPECT_EQ(r.action, EIMA_ACT_MEASURE);
	EXPECT_EQ(r.conditions, EIMA_COND_FUNC | EIMA_COND_INMASK | EIMA_COND_FSMAGIC |
				    EIMA_COND_FSUUID | EIMA_COND_FSNAME | EIMA_COND_UID |
				    EIMA_COND_EGID | EIMA_COND_FOWNER | EIMA_COND_FGROUP |
				    EIMA_COND_CONTAINER);
	EXPECT_EQ(r.func, EIMA_FUNC_FILE_CHECK);
	EXPECT_EQ(r.mask, EIMA_MAY_READ);
	EXPECT_EQ(r.fsmagic, 0xef53u);
	EXPECT_EQ(r.fsuuid[0], 0x01);
	EXPECT_EQ(r.fsuuid[15], 0xef);
	EXPECT_STREQ(r.fsname, "ext4");
	EXPECT_EQ(r.fsname[31], 0);
	EXPECT_EQ(r.uid.value, 1000u);
	EXPECT_EQ(r.uid.cmp, EIMA_CMP_LT);
	EXPECT_EQ(r.egid.cmp, EIMA_CMP_GT);
	EXPECT_EQ(r.egid.value, 5u);
	EXPECT_EQ(r.fgroup.cmp, EIMA_CMP_GT);
	EXPECT_EQ(r.container_scope, EIMA_SCOPE_HOST);
	EXPECT_EQ(r.pcr, 11u);
	EXPECT_EQ(r.template_id, EIMA_TEMPLATE_IMA_NG);
	const eima_rule &d = c->rules[1];
	EXPECT_EQ(d.rule_index, 2u);
	EXPECT_EQ(d.action, EIMA_ACT_DONT_MEASURE);
	EXPECT_EQ(d.conditions, EIMA_COND_FUNC | EIMA_COND_MASK | EIMA_COND_EUID | EIMA_COND_GID |
				    EIMA_COND_CONTAINER);
	EXPECT_EQ(d.euid.value, 3u);
	EXPECT_EQ(d.gid.value, 7u);
	EXPECT_EQ(d.gid.cmp, EIMA_CMP_EQ);
	EXPECT_EQ(d.container_scope, EIMA_SCOPE_CONTAINERS);
	EXPECT_EQ(d.pcr, 0u);
	EXPECT_EQ(d.template_id, EIMA_TEMPLATE_DEFAULT);
	// The rest of the array is zero.
	eima_rule zero{};
	EXPECT_EQ(std::memcmp(&c->rules[2], &zero, sizeof(zero)), 0);
}

TEST(PolicyCompiler, UnsupportedIsReportedNeverSilentlyDropped)
{
	Policy p = parse("measure func=MODULE_CHECK\n"                       // 0
			 "dont_measure obj_type=var_log_t\n"                   // 1
			 "appraise func=MODULE_CHECK appraise_type=imasig\n"   // 2
			 "measure func=FILE_CHECK mask=MAY_READ\n"             // 3
			 "measure func=BPRM_CHECK template=ima-ngv2\n"         // 4
			 "measure func=BPRM_CHECK pcr=0\n"                     // 5
			 "measure fsname=abcdefghijklmnopqrstuvwxyz0123456\n"  // 6
			 "measure func=BPRM_CHECK digest_type=verity\n"        // 7
			 "hash func=BPRM_CHECK\n"                              // 8
			 "measure func=BPRM_CHECK permit_directio\n"           // 9
			 "dont_measure func=FILE_CHECK fsname=abcdefghijklmnopqrstuvwxyz01234\n"); // 10
	auto lsm = unsupported(p, KernelMode::lsm);
	std::vector<std::size_t> idx;
	for (auto &u : lsm)
		idx.push_back(u.rule_index);
	EXPECT_EQ(idx, (std::vector<std::size_t>{0, 1, 2, 4, 5, 6, 7, 8, 9}));
	EXPECT_NE(lsm[0].reason.find("not measured"), std::string::npos) << lsm[0].reason;
	EXPECT_NE(lsm[1].reason.find("obj_type=var_log_t"), std::string::npos);
	EXPECT_NE(lsm[1].reason.find("eima measures what this rule would exclude"),
		  std::string::npos);
	EXPECT_NE(lsm[2].reason.find("appraises only BPRM_CHECK"), std::string::npos) << lsm[2].reason;
	EXPECT_NE(lsm[3].reason.find("ima-ngv2"), std::string::npos);
	EXPECT_NE(lsm[4].reason.find("pcr=0"), std::string::npos);
	EXPECT_NE(lsm[5].reason.find("longer than 31"), std::string::npos);
	EXPECT_NE(lsm[6].reason.find("fs-verity"), std::string::npos);
	// Rule 6 has no func= and an overlong fsname: both... it is dropped, not partial.
	EXPECT_FALSE(lsm[5].compiled);
	// permit_directio: compiled, but eima does more than asked.
	EXPECT_TRUE(lsm[8].compiled);
	EXPECT_EQ(lsm[8].line, 10u);

	auto c = compile_policy(p, KernelMode::lsm);
	ASSERT_TRUE(c);
	ASSERT_EQ(c->nr_rules, 3u);
	EXPECT_EQ(c->rules[0].rule_index, 3u);
	EXPECT_EQ(c->rules[1].rule_index, 9u);
	EXPECT_EQ(c->rules[2].rule_index, 10u);
	EXPECT_STREQ(c->rules[2].fsname, "abcdefghijklmnopqrstuvwxyz01234"); // 31: fits

	// trace mode: FILE_CHECK is not observed either.
	auto trace = unsupported(p, KernelMode::trace);
	EXPECT_EQ(trace.size(), lsm.size() + 2);
	EXPECT_NE(trace[3].reason.find("needs BPF LSM"), std::string::npos) << trace[3].reason;
	EXPECT_EQ(compile_policy(p, KernelMode::trace)->nr_rules, 1u);
}

TEST(PolicyCompiler, MeasureWithoutFuncIsPartial)
{
	Policy p = parse("measure uid=0\ndont_measure fsmagic=0x9fa0\n");
	auto u = unsupported(p, KernelMode::lsm);
	ASSERT_EQ(u.size(), 1u);
	EXPECT_EQ(u[0].line, 1u);
	EXPECT_TRUE(u[0].compiled);
	EXPECT_NE(u[0].reason.find("modules"), std::string::npos);
	EXPECT_EQ(compile_policy(p, KernelMode::lsm)->nr_rules, 2u);
}

TEST(PolicyCompiler, NamedContainerDontMeasureStaysInTheAgent)
{
	Policy p = parse("dont_measure container=3f2a9c1b7d4e\n"
			 "measure func=BPRM_CHECK container=abc\n"
			 "measure func=BPRM_CHECK\n");
	EXPECT_TRUE(has_named_containers(p));
	// Reported, never silent: the dont_measure is left out, the measure widened.
	auto u = unsupported(p, KernelMode::lsm);
	ASSERT_EQ(u.size(), 2u);
	EXPECT_EQ(u[0].line, 1u);
	EXPECT_FALSE(u[0].compiled);
	EXPECT_NE(u[0].reason.find("not applied"), std::string::npos);
	EXPECT_EQ(u[1].line, 2u);
	EXPECT_TRUE(u[1].compiled);
	EXPECT_NE(u[1].reason.find("container=*"), std::string::npos);
	auto c = compile_policy(p, KernelMode::lsm);
	ASSERT_TRUE(c);
	ASSERT_EQ(c->nr_rules, 2u);
	EXPECT_EQ(c->rules[0].rule_index, 1u);
	EXPECT_EQ(c->rules[0].container_scope, EIMA_SCOPE_CONTAINERS);
	EXPECT_FALSE(has_named_containers(parse("measure container=*\n")));
}

std::string many_rules(std::size_t n)
{
	std::string text = "# header\n";
	for (std::size_t i = 0; i < n; ++i)
		text += "dont_measure fsmagic=0x" + std::to_string(1000 + i) + "\n";
	return text;
}

TEST(PolicyCompiler, MaxRulesLimit)
{
	Policy at = parse(many_rules(EIMA_MAX_RULES));
	auto c = compile_policy(at, KernelMode::lsm);
	ASSERT_TRUE(c) << c.error().message();
	EXPECT_EQ(c->nr_rules, static_cast<std::uint32_t>(EIMA_MAX_RULES));
	EXPECT_EQ(c->rules[EIMA_MAX_RULES - 1].rule_index, EIMA_MAX_RULES - 1u);
	EXPECT_TRUE(check_policy(many_rules(EIMA_MAX_RULES), "t").valid());

	Policy over = parse(many_rules(EIMA_MAX_RULES + 1));
	auto e = compile_policy(over, KernelMode::lsm);
	ASSERT_FALSE(e);
	// Line 1 is the comment, so rule 65 is on line 66.
	EXPECT_EQ(e.error().context, "t:" + std::to_string(EIMA_MAX_RULES + 2));
	EXPECT_NE(e.error().op.find("more than 64"), std::string::npos);

	PolicyCheck check = check_policy(many_rules(EIMA_MAX_RULES + 1), "t");
	EXPECT_FALSE(check.valid());
	ASSERT_EQ(check.errors.size(), 1u);
	EXPECT_EQ(check.errors[0].line, EIMA_MAX_RULES + 2u);
	EXPECT_EQ(check.kernel_rules, static_cast<std::size_t>(EIMA_MAX_RULES));
	EXPECT_EQ(check.rules.size(), EIMA_MAX_RULES + 1u);

	// Rules that are not compiled do not count against the limit.
	std::string text = many_rules(EIMA_MAX_RULES);
	for (int i = 0; i < 10; ++i)
		text += "appraise func=MODULE_CHECK\n";
	EXPECT_TRUE(compile_policy(parse(text), KernelMode::lsm));
}

TEST(PolicyCompiler, ReportJsonShape)
{
	PolicyCheck c = check_policy("measure func=BPRM_CHECK\nmeasure func=FILE_MMAP mask=MAY_EXEC\n"
				     "measure func=PATH_CHECK\nmeasure func=MODULE_CHECK\n",
				     "x.policy", KernelMode::trace);
	nlohmann::json j = check_report(c);
	EXPECT_EQ(j["source"], "x.policy");
	EXPECT_EQ(j["mode"], "trace");
	EXPECT_EQ(j["valid"], true);
	EXPECT_EQ(j["rules"], 4);
	EXPECT_EQ(j["kernel_rules"], 2);
	EXPECT_EQ(j["actions"], (nlohmann::json{{"measure", 4}}));
	EXPECT_EQ(j["funcs"], (nlohmann::json{{"BPRM_CHECK", 1},
					      {"MMAP_CHECK", 1},
					      {"FILE_CHECK", 1},
					      {"MODULE_CHECK", 1}}));
	ASSERT_EQ(j["unsupported"].size(), 2u);
	EXPECT_EQ(j["unsupported"][0]["line"], 3);
	EXPECT_EQ(j["unsupported"][0]["compiled"], false);
	EXPECT_TRUE(j["unsupported"][1]["reason"].is_string());
	EXPECT_TRUE(j["errors"].is_array());
	EXPECT_TRUE(j["errors"].empty());
}

} // namespace
} // namespace eima::policy

namespace eima::policy {
namespace {

TEST(PolicyCompiler, AppraiseRulesInLsmMode)
{
	const std::string id(64, 'a');
	Policy p = parse("appraise func=BPRM_CHECK appraise_type=imasig container=*\n"
			 "appraise func=MMAP_CHECK container=" + id + "\n" +
			 "dont_appraise func=BPRM_CHECK fsmagic=0x9fa0 container=" + id + "\n" +
			 "measure func=BPRM_CHECK container=" + id + "\n" +
			 "appraise func=BPRM_CHECK digest_type=verity appraise_type=sigv3\n"
			 "appraise func=FILE_CHECK\n");
	auto c = compile_policy(p, KernelMode::lsm);
	ASSERT_TRUE(c) << c.error().message();
	ASSERT_EQ(c->nr_rules, 4u);
	EXPECT_TRUE(has_appraise_rules(*c));
	const eima_rule &any = c->rules[0];
	EXPECT_EQ(any.action, EIMA_ACT_APPRAISE);
	EXPECT_EQ(any.container_scope, EIMA_SCOPE_CONTAINERS);
	EXPECT_EQ(any.conditions & EIMA_COND_CONTAINER_ID, 0u);
	// container=ID on the appraise family: matched by name in the kernel, never widened.
	for (int i : {1, 2}) {
		const eima_rule &named = c->rules[i];
		EXPECT_EQ(named.container_scope, EIMA_SCOPE_NAMED) << i;
		EXPECT_EQ(named.conditions & (EIMA_COND_CONTAINER | EIMA_COND_CONTAINER_ID),
			  EIMA_COND_CONTAINER | EIMA_COND_CONTAINER_ID)
			<< i;
		EXPECT_EQ(named.container_hash, container_id_hash(id)) << i;
	}
	EXPECT_EQ(c->rules[2].action, EIMA_ACT_DONT_APPRAISE);
	// The measure family keeps "any container, narrowed by the agent".
	EXPECT_EQ(c->rules[3].container_scope, EIMA_SCOPE_CONTAINERS);
	EXPECT_EQ(c->rules[3].container_hash, 0u);
	EXPECT_NE(c->conditions & EIMA_COND_CONTAINER_ID, 0u);

	auto u = unsupported(p, KernelMode::lsm);
	std::vector<std::pair<std::size_t, bool>> got;
	for (auto &x : u)
		got.emplace_back(x.rule_index, x.compiled);
	// 1, 2: partial (the whole id must be in the cgroup name); 3: measure container=ID
	// applied as container=*; 4: appraise_type=sigv3; 5: FILE_CHECK is not appraised.
	EXPECT_EQ(got, (std::vector<std::pair<std::size_t, bool>>{
			       {1, true}, {2, true}, {3, true}, {4, false}, {5, false}}));
	EXPECT_NE(u[0].reason.find("cgroup name"), std::string::npos) << u[0].reason;
	EXPECT_NE(u[3].reason.find("appraise_type=sigv3"), std::string::npos) << u[3].reason;
	EXPECT_NE(u[4].reason.find("appraises only"), std::string::npos) << u[4].reason;
}

TEST(PolicyCompiler, AppraiseNeedsLsm)
{
	Policy p = parse("appraise func=BPRM_CHECK appraise_type=imasig\n");
	auto c = compile_policy(p, KernelMode::trace);
	ASSERT_TRUE(c);
	EXPECT_EQ(c->nr_rules, 0u);
	EXPECT_FALSE(has_appraise_rules(*c));
	auto u = unsupported(p, KernelMode::trace);
	ASSERT_EQ(u.size(), 1u);
	EXPECT_NE(u[0].reason.find("needs BPF LSM"), std::string::npos) << u[0].reason;
	// Without func= the kernel would appraise more than eima does: compiled, partial.
	auto all = unsupported(parse("appraise\n"), KernelMode::lsm);
	ASSERT_EQ(all.size(), 1u);
	EXPECT_TRUE(all[0].compiled);
}

TEST(PolicyCompiler, ContainerIdHashIsFnv1a64)
{
	// Published FNV-1a 64 test vectors; bpf/lib/policy_match.h computes the same.
	EXPECT_EQ(container_id_hash(""), 0xcbf29ce484222325ull);
	EXPECT_EQ(container_id_hash("a"), 0xaf63dc4c8601ec8cull);
	EXPECT_EQ(container_id_hash("foobar"), 0x85944171f73967e8ull);
}

} // namespace
} // namespace eima::policy
