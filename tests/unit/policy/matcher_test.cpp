// The measurement decision (the C++ twin of bpf/lib/policy_match.h): first deciding rule
// wins, dont_measure before measure, exact mask vs ^mask, id comparisons, container scope.
#include <gtest/gtest.h>

#include "policy/policy_check.h"
#include "policy/policy_matcher.h"

namespace eima::policy {
namespace {

eima_policy compiled(std::string_view text, KernelMode mode = KernelMode::lsm)
{
	auto p = parse_policy(text, "t");
	EXPECT_TRUE(p) << (p ? "" : p.error().message());
	auto c = compile_policy(p ? *p : Policy{}, mode);
	EXPECT_TRUE(c) << (c ? "" : c.error().message());
	return c ? *c : eima_policy{};
}

FileAccess exec_of(std::uint64_t fsmagic = 0xef53)
{
	FileAccess a;
	a.func = EIMA_FUNC_BPRM_CHECK;
	a.mask = EIMA_MAY_EXEC;
	a.fsmagic = fsmagic;
	a.fsname = "ext4";
	return a;
}

TEST(PolicyMatcher, FirstDecidingRuleWins)
{
	eima_policy p = compiled("appraise func=BPRM_CHECK\n"	   // not a measure rule: skipped
				 "dont_measure fsmagic=0x1021994\n" // tmpfs
				 "measure func=BPRM_CHECK pcr=11\n"
				 "measure func=BPRM_CHECK pcr=12\n");
	MatchResult m = match(p, exec_of());
	EXPECT_TRUE(m.matched);
	EXPECT_TRUE(m.measure);
	EXPECT_EQ(m.rule_index, 2u);
	EXPECT_EQ(m.pcr, 11u);

	m = match(p, exec_of(0x01021994));
	EXPECT_TRUE(m.matched);
	EXPECT_FALSE(m.measure);
	EXPECT_EQ(m.rule_index, 1u);
	EXPECT_EQ(m.pcr, 0u);

	// Nothing matches: not measured.
	FileAccess open = exec_of();
	open.func = EIMA_FUNC_FILE_CHECK;
	open.mask = EIMA_MAY_READ;
	m = match(p, open);
	EXPECT_FALSE(m.matched);
	EXPECT_FALSE(m.measure);
}

TEST(PolicyMatcher, OrderDecidesNotSpecificity)
{
	// measure first: the later dont_measure never gets a say.
	eima_policy p = compiled("measure func=BPRM_CHECK\ndont_measure fsmagic=0x1021994\n");
	EXPECT_TRUE(match(p, exec_of(0x01021994)).measure);
}

TEST(PolicyMatcher, MaskExactUnlessCaret)
{
	eima_policy exact = compiled("measure func=FILE_CHECK mask=MAY_READ\n");
	eima_policy any = compiled("measure func=FILE_CHECK mask=^MAY_READ\n");
	FileAccess a = exec_of();
	a.func = EIMA_FUNC_FILE_CHECK;
	a.mask = EIMA_MAY_READ;
	EXPECT_TRUE(match(exact, a).measure);
	EXPECT_TRUE(match(any, a).measure);
	a.mask = EIMA_MAY_READ | EIMA_MAY_WRITE; // O_RDWR
	EXPECT_FALSE(match(exact, a).measure);  // mask= is the whole access mask
	EXPECT_TRUE(match(any, a).measure);     // ^ is "has the bit"
	a.mask = EIMA_MAY_WRITE;
	EXPECT_FALSE(match(any, a).measure);
}

TEST(PolicyMatcher, IdComparisons)
{
	eima_policy p = compiled("measure func=BPRM_CHECK uid<1000\n"
				 "measure func=BPRM_CHECK fowner>5000 pcr=13\n"
				 "measure func=BPRM_CHECK gid=42 pcr=14\n");
	FileAccess a = exec_of();
	a.uid = 999;
	EXPECT_EQ(match(p, a).rule_index, 0u);
	a.uid = 1000; // not < 1000
	EXPECT_FALSE(match(p, a).matched);
	a.fowner = 5001;
	EXPECT_EQ(match(p, a).pcr, 13u);
	a.fowner = 5000;
	a.gid = 42;
	EXPECT_EQ(match(p, a).pcr, 14u);
}

TEST(PolicyMatcher, EuidFollowsCapSetuidLikeTheKernel)
{
	eima_policy p = compiled("measure func=BPRM_CHECK euid=0\n");
	FileAccess a = exec_of();
	a.uid = 0;
	a.euid = 1000;
	a.suid = 1000;
	EXPECT_FALSE(match(p, a).measure);
	a.cap_setuid = true; // then uid or suid may match too
	EXPECT_TRUE(match(p, a).measure);
	a.euid = 0;
	a.uid = 5;
	a.cap_setuid = false;
	EXPECT_TRUE(match(p, a).measure);
}

// ima_match_rules(): egid= holds on the effective gid, or with CAP_SETGID on the saved or
// the real gid too; CAP_SETUID has nothing to do with it.
TEST(PolicyMatcher, EgidFollowsCapSetgidLikeTheKernel)
{
	eima_policy p = compiled("measure func=BPRM_CHECK egid=42\n");
	FileAccess a = exec_of();
	a.gid = 7;
	a.egid = 7;
	a.sgid = 42;
	a.cap_setuid = true;
	EXPECT_FALSE(match(p, a).measure);
	a.cap_setgid = true; // the saved gid now counts
	EXPECT_TRUE(match(p, a).measure);
	a.sgid = 7;
	EXPECT_FALSE(match(p, a).measure);
	a.gid = 42; // and the real one
	EXPECT_TRUE(match(p, a).measure);
	a.cap_setgid = false;
	EXPECT_FALSE(match(p, a).measure);
}

// The rule's operator applies to each id the capability lets count, not only to euid/egid;
// and uid=/gid= look at the real id alone, capability or not.
TEST(PolicyMatcher, SetidCapabilityIdsUseTheRulesOperator)
{
	eima_policy lt = compiled("measure func=BPRM_CHECK euid<1000\n");
	FileAccess a = exec_of();
	a.uid = 2000;
	a.euid = 2000;
	a.suid = 999;
	a.cap_setuid = true;
	EXPECT_TRUE(match(lt, a).measure); // saved uid 999 < 1000
	a.suid = 1000;
	EXPECT_FALSE(match(lt, a).measure);
	a.uid = 0;
	EXPECT_TRUE(match(lt, a).measure); // real uid 0 < 1000

	eima_policy gt = compiled("measure func=BPRM_CHECK egid>100\n");
	FileAccess g = exec_of();
	g.gid = 0;
	g.egid = 100;
	g.sgid = 101;
	EXPECT_FALSE(match(gt, g).measure);
	g.cap_setgid = true;
	EXPECT_TRUE(match(gt, g).measure);

	eima_policy uid = compiled("measure func=BPRM_CHECK uid=0\n");
	FileAccess u = exec_of();
	u.uid = 1000;
	u.euid = 0;
	u.suid = 0;
	u.cap_setuid = true;
	EXPECT_FALSE(match(uid, u).measure);
}

TEST(PolicyMatcher, FsConditions)
{
	eima_policy p = compiled("dont_measure fsname=proc\n"
				 "measure func=BPRM_CHECK fsuuid=01234567-89ab-cdef-0123-456789abcdef\n");
	FileAccess a = exec_of();
	EXPECT_FALSE(match(p, a).matched);
	a.fsuuid = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
		    0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
	EXPECT_TRUE(match(p, a).measure);
	a.fsname = "proc";
	EXPECT_FALSE(match(p, a).measure);
	a.fsname = "proc2"; // whole-name comparison
	EXPECT_TRUE(match(p, a).measure);
}

TEST(PolicyMatcher, ContainerHostVersusAny)
{
	eima_policy p = compiled("measure func=BPRM_CHECK container=host pcr=11\n"
				 "measure func=BPRM_CHECK container=* pcr=12\n");
	FileAccess host = exec_of();
	host.is_host = true;
	FileAccess ctr = exec_of();
	ctr.is_host = false;
	ctr.container_id = "3f2a9c1b7d4e5f60718293a4b5c6d7e8f90123456789abcdef0123456789abcd";
	EXPECT_EQ(match(p, host).pcr, 11u);
	EXPECT_EQ(match(p, ctr).pcr, 12u);

	eima_policy only_ctr = compiled("dont_measure container=host\nmeasure func=BPRM_CHECK\n");
	EXPECT_FALSE(match(only_ctr, host).measure);
	EXPECT_TRUE(match(only_ctr, host).matched);
	EXPECT_TRUE(match(only_ctr, ctr).measure);
}

TEST(PolicyMatcher, NamedContainersNarrowedByTheAgent)
{
	auto p = parse_policy("dont_measure container=3f2a9c1b7d4e\n"
			      "measure func=BPRM_CHECK container=web pcr=12\n"
			      "measure func=BPRM_CHECK pcr=11\n",
			      "t");
	ASSERT_TRUE(p);
	auto k = compile_policy(*p, KernelMode::lsm);
	ASSERT_TRUE(k);
	FileAccess a = exec_of();
	a.is_host = false;
	a.container_id = "3f2a9c1b7d4e5f60718293a4b5c6d7e8f90123456789abcdef0123456789abcd";
	// The kernel does not know names: container=web holds for every container.
	EXPECT_EQ(match(*k, a).rule_index, 1u);
	// The agent's exact decision: the 12-character prefix names this container.
	MatchResult m = match_policy(*p, KernelMode::lsm, a);
	EXPECT_TRUE(m.matched);
	EXPECT_FALSE(m.measure);
	EXPECT_EQ(m.rule_index, 0u);
	a.container_id = "web";
	EXPECT_EQ(match_policy(*p, KernelMode::lsm, a).pcr, 12u);
	a.container_id = "webserver"; // "web" is too short to be an id prefix
	EXPECT_EQ(match_policy(*p, KernelMode::lsm, a).pcr, 11u);
	a.is_host = true;
	a.container_id.clear();
	EXPECT_EQ(match_policy(*p, KernelMode::lsm, a).pcr, 11u);
}

TEST(PolicyMatcher, MmapReqprotIsItsOwnEvaluation)
{
	eima_policy p = compiled("dont_measure func=MMAP_CHECK\n"
				 "measure func=MMAP_CHECK_REQPROT pcr=12\n");
	FileAccess a = exec_of();
	a.mask = EIMA_MAY_EXEC;
	// The application asked for PROT_EXEC: the REQPROT evaluation measures.
	MatchResult m = match_mmap(p, a, true, true);
	EXPECT_TRUE(m.measure);
	EXPECT_EQ(m.pcr, 12u);
	// PROT_EXEC only implied (READ_IMPLIES_EXEC): only MMAP_CHECK, which says no.
	m = match_mmap(p, a, false, true);
	EXPECT_FALSE(m.measure);
	EXPECT_EQ(m.rule_index, 0u);
}

TEST(PolicyMatcher, TraceModeDoesNotCompileFileCheck)
{
	const char *text = "measure func=FILE_CHECK mask=^MAY_READ uid=0\n";
	FileAccess a = exec_of();
	a.func = EIMA_FUNC_FILE_CHECK;
	a.mask = EIMA_MAY_READ;
	EXPECT_TRUE(match(compiled(text, KernelMode::lsm), a).measure);
	EXPECT_FALSE(match(compiled(text, KernelMode::trace), a).matched);
}

TEST(PolicyMatcher, TcbOnTypicalAccesses)
{
	auto tcb = builtin_policy("tcb");
	ASSERT_TRUE(tcb);
	auto k = compile_policy(*tcb, KernelMode::lsm);
	ASSERT_TRUE(k);
	FileAccess a = exec_of();
	EXPECT_EQ(match(*k, a).rule_index, 14u); // BPRM_CHECK mask=MAY_EXEC
	a.func = EIMA_FUNC_MMAP_CHECK;
	EXPECT_EQ(match(*k, a).rule_index, 13u);
	a.func = EIMA_FUNC_FILE_CHECK;
	a.mask = EIMA_MAY_READ;
	a.uid = 1000;
	a.euid = 0; // setuid root program reading a file
	EXPECT_EQ(match(*k, a).rule_index, 15u);
	a.euid = 1000;
	EXPECT_FALSE(match(*k, a).matched);
	a.fsmagic = 0x9fa0; // /proc is never measured
	a.func = EIMA_FUNC_BPRM_CHECK;
	a.mask = EIMA_MAY_EXEC;
	EXPECT_EQ(match(*k, a).rule_index, 0u);
	EXPECT_FALSE(match(*k, a).measure);
}

} // namespace
} // namespace eima::policy
