// The built-in policies: tcb is the kernel's ima_policy=tcb rule for rule, exec is eima's
// default.
#include <gtest/gtest.h>

#include "policy/policy_check.h"

namespace eima::policy {
namespace {

// dont_measure_rules[] of ima_policy.c, in order.
const std::uint64_t pseudo_fs[] = {0x9fa0,     0x62656572, 0x64626720, 0x01021994, 0x1cd1,
				   0x42494e4d, 0x73636673, 0xf97cff8c, 0x43415d53, 0x27e0eb,
				   0x63677270, 0x6e736673, 0xde5e81e4};

void expect_dont_measure_fsmagic(const PolicyRule &r, std::uint64_t magic)
{
	EXPECT_EQ(r.action, EIMA_ACT_DONT_MEASURE);
	EXPECT_EQ(r.fsmagic, magic);
	EXPECT_FALSE(r.func);
	EXPECT_FALSE(r.mask);
}

TEST(BuiltinPolicy, TcbIsTheKernelsDefaultTcb)
{
	auto p = builtin_policy("tcb");
	ASSERT_TRUE(p) << p.error().message();
	EXPECT_EQ(p->source, "builtin:tcb");
	ASSERT_EQ(p->rules.size(), 20u);
	for (std::size_t i = 0; i < 13; ++i)
		expect_dont_measure_fsmagic(p->rules[i], pseudo_fs[i]);
	// default_measurement_rules[]
	const PolicyRule *m = &p->rules[13];
	EXPECT_EQ(m[0].func, EIMA_FUNC_MMAP_CHECK);
	EXPECT_EQ(m[0].mask, EIMA_MAY_EXEC);
	EXPECT_FALSE(m[0].mask_any);
	EXPECT_EQ(m[1].func, EIMA_FUNC_BPRM_CHECK);
	EXPECT_EQ(m[1].mask, EIMA_MAY_EXEC);
	EXPECT_EQ(m[2].func, EIMA_FUNC_FILE_CHECK);
	EXPECT_TRUE(m[2].mask_any);
	EXPECT_EQ(m[2].mask, EIMA_MAY_READ);
	EXPECT_EQ(m[2].euid, (IdCondition{0, EIMA_CMP_EQ}));
	EXPECT_FALSE(m[2].uid);
	EXPECT_TRUE(m[3].mask_any);
	EXPECT_EQ(m[3].uid, (IdCondition{0, EIMA_CMP_EQ}));
	EXPECT_EQ(m[4].func, EIMA_FUNC_MODULE_CHECK);
	EXPECT_EQ(m[5].func, EIMA_FUNC_FIRMWARE_CHECK);
	EXPECT_EQ(m[6].func, EIMA_FUNC_POLICY_CHECK);
	for (int i = 0; i < 7; ++i)
		EXPECT_EQ(m[i].action, EIMA_ACT_MEASURE);

	// lsm: modules, firmware and policy are not observed; trace: nor the two FILE_CHECKs.
	auto lsm = unsupported(*p, KernelMode::lsm);
	ASSERT_EQ(lsm.size(), 3u);
	EXPECT_EQ(lsm[0].rule_index, 17u);
	EXPECT_NE(lsm[0].reason.find("MODULE_CHECK"), std::string::npos);
	EXPECT_EQ(unsupported(*p, KernelMode::trace).size(), 5u);
	EXPECT_EQ(compile_policy(*p, KernelMode::lsm)->nr_rules, 17u);
	EXPECT_EQ(compile_policy(*p, KernelMode::trace)->nr_rules, 15u);
}

TEST(BuiltinPolicy, ExecMeasuresExecAndMmapAndKeepsTmpfs)
{
	auto p = builtin_policy("exec");
	ASSERT_TRUE(p) << p.error().message();
	ASSERT_EQ(p->rules.size(), 14u);
	std::size_t k = 0;
	for (std::uint64_t magic : pseudo_fs) {
		if (magic == 0x01021994) // tmpfs: measured on purpose
			continue;
		expect_dont_measure_fsmagic(p->rules[k++], magic);
	}
	EXPECT_EQ(p->rules[12].action, EIMA_ACT_MEASURE);
	EXPECT_EQ(p->rules[12].func, EIMA_FUNC_BPRM_CHECK);
	EXPECT_FALSE(p->rules[12].mask);
	EXPECT_EQ(p->rules[13].func, EIMA_FUNC_MMAP_CHECK);
	EXPECT_EQ(p->rules[13].mask, EIMA_MAY_EXEC);
	for (const PolicyRule &r : p->rules)
		EXPECT_FALSE(r.container); // host and containers alike
	// Fully honoured in both modes.
	for (KernelMode mode : {KernelMode::lsm, KernelMode::trace}) {
		EXPECT_TRUE(unsupported(*p, mode).empty());
		EXPECT_EQ(compile_policy(*p, mode)->nr_rules, 14u);
	}
}

TEST(BuiltinPolicy, UnknownNameIsAnError)
{
	auto p = builtin_policy("appraise_tcb");
	ASSERT_FALSE(p);
	EXPECT_NE(p.error().message().find("appraise_tcb"), std::string::npos);
	EXPECT_TRUE(builtin_policy_text("nope").empty());
}

} // namespace
} // namespace eima::policy
