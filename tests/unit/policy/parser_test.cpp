// The policy language as ima_policy.c parses and validates it: token rules, every kind of
// error, and the first-error Error with FILE:LINE.
#include <gtest/gtest.h>

#include "policy/policy_check.h"

namespace eima::policy {
namespace {

PolicyRule one(std::string_view text)
{
	auto p = parse_policy(text, "t");
	EXPECT_TRUE(p) << text << ": " << (p ? "" : p.error().message());
	if (!p || p->rules.size() != 1) {
		ADD_FAILURE() << "expected one rule from: " << text;
		return {};
	}
	return p->rules[0];
}

// The single error of a one-line policy.
PolicyError error_of(std::string_view text)
{
	PolicyCheck c = check_policy(text, "t");
	EXPECT_EQ(c.errors.size(), 1u) << text;
	EXPECT_TRUE(c.rules.empty()) << text;
	return c.errors.empty() ? PolicyError{} : c.errors[0];
}

TEST(PolicyParser, CommentsBlanksAndWhitespace)
{
	auto p = parse_policy("# comment\n\n   \n\t# indented comment\n  measure\tfunc=BPRM_CHECK  "
			      "\n\tdont_measure   fsmagic=0x9fa0\n",
			      "f");
	ASSERT_TRUE(p) << p.error().message();
	ASSERT_EQ(p->rules.size(), 2u);
	EXPECT_EQ(p->rules[0].line, 5u);
	EXPECT_EQ(p->rules[0].text, "measure\tfunc=BPRM_CHECK  ");
	EXPECT_EQ(p->rules[0].func, EIMA_FUNC_BPRM_CHECK);
	EXPECT_EQ(p->rules[1].line, 6u);
	EXPECT_EQ(p->rules[1].fsmagic, 0x9fa0u);
	// No trailing newline, and an empty text, are fine.
	EXPECT_EQ(parse_policy("measure", "f")->rules.size(), 1u);
	EXPECT_TRUE(parse_policy("", "f")->rules.empty());
}

TEST(PolicyParser, EveryConditionParses)
{
	PolicyRule r = one("measure func=FILE_CHECK mask=^MAY_READ fsmagic=0X1021994 "
			   "fsuuid=01234567-89ab-cdef-0123-456789ABCDEF fsname=ext4 uid<1000 "
			   "egid>5 fowner=0 fgroup<10 pcr=11 template=ima-sig container=host");
	EXPECT_EQ(r.action, EIMA_ACT_MEASURE);
	EXPECT_EQ(r.func, EIMA_FUNC_FILE_CHECK);
	EXPECT_EQ(r.mask, EIMA_MAY_READ);
	EXPECT_TRUE(r.mask_any);
	EXPECT_EQ(r.fsmagic, 0x1021994u);
	std::array<std::uint8_t, 16> uuid = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
					     0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
	EXPECT_EQ(r.fsuuid, uuid);
	EXPECT_EQ(r.fsname, "ext4");
	EXPECT_EQ(r.uid, (IdCondition{1000, EIMA_CMP_LT}));
	EXPECT_FALSE(r.euid);
	EXPECT_EQ(r.egid, (IdCondition{5, EIMA_CMP_GT}));
	EXPECT_EQ(r.fowner, (IdCondition{0, EIMA_CMP_EQ}));
	EXPECT_EQ(r.fgroup, (IdCondition{10, EIMA_CMP_LT}));
	EXPECT_EQ(r.pcr, 11u);
	EXPECT_EQ(r.template_name, "ima-sig");
	ASSERT_TRUE(r.container);
	EXPECT_EQ(r.container->kind, ContainerCondition::Kind::host);

	r = one("dont_measure subj_user=u subj_role=r subj_type=t obj_user=ou obj_role=or "
		"obj_type=ot container=*");
	EXPECT_EQ(r.subj_type, "t");
	EXPECT_EQ(r.obj_role, "or");
	EXPECT_EQ(r.container->kind, ContainerCondition::Kind::any);
	EXPECT_TRUE(r.has_lsm_label());

	r = one("measure func=KEY_CHECK keyrings=.ima|.evm uid=0 pcr=12");
	EXPECT_EQ(r.keyrings, (std::vector<std::string>{".ima", ".evm"}));
	r = one("measure func=CRITICAL_DATA label=selinux|kernel_info");
	EXPECT_EQ(r.label, (std::vector<std::string>{"selinux", "kernel_info"}));
	r = one("appraise func=MODULE_CHECK appraise_type=imasig|modsig "
		"appraise_flag=check_blacklist appraise_algos=sha256,sha512 permit_directio");
	EXPECT_EQ(r.appraise_type, "imasig|modsig");
	EXPECT_EQ(r.appraise_flag, "check_blacklist");
	EXPECT_EQ(r.appraise_algos, (std::vector<std::string>{"sha256", "sha512"}));
	EXPECT_TRUE(r.permit_directio);
	r = one("appraise func=BPRM_CHECK digest_type=verity appraise_type=sigv3");
	EXPECT_EQ(r.digest_type, "verity");
	EXPECT_EQ(r.appraise_type, "sigv3");
	r = one("appraise func=SETXATTR_CHECK appraise_algos=sha256");
	EXPECT_EQ(r.func, EIMA_FUNC_SETXATTR_CHECK);
	r = one("measure container=3f2a9c1b7d4e");
	EXPECT_EQ(r.container->kind, ContainerCondition::Kind::named);
	EXPECT_EQ(r.container->id, "3f2a9c1b7d4e");
}

TEST(PolicyParser, ActionsAndFuncs)
{
	for (auto [text, act] : std::initializer_list<std::pair<const char *, eima_action>>{
		 {"measure", EIMA_ACT_MEASURE},
		 {"dont_measure", EIMA_ACT_DONT_MEASURE},
		 {"appraise", EIMA_ACT_APPRAISE},
		 {"dont_appraise", EIMA_ACT_DONT_APPRAISE},
		 {"audit", EIMA_ACT_AUDIT},
		 {"hash", EIMA_ACT_HASH},
		 {"dont_hash", EIMA_ACT_DONT_HASH}}) {
		EXPECT_EQ(one(text).action, act) << text;
		EXPECT_EQ(action_name(act), text);
	}
	for (auto [text, func] : std::initializer_list<std::pair<const char *, eima_func>>{
		 {"BPRM_CHECK", EIMA_FUNC_BPRM_CHECK},
		 {"MMAP_CHECK", EIMA_FUNC_MMAP_CHECK},
		 {"FILE_MMAP", EIMA_FUNC_MMAP_CHECK},
		 {"MMAP_CHECK_REQPROT", EIMA_FUNC_MMAP_CHECK_REQPROT},
		 {"FILE_CHECK", EIMA_FUNC_FILE_CHECK},
		 {"PATH_CHECK", EIMA_FUNC_FILE_CHECK},
		 {"MODULE_CHECK", EIMA_FUNC_MODULE_CHECK},
		 {"FIRMWARE_CHECK", EIMA_FUNC_FIRMWARE_CHECK},
		 {"POLICY_CHECK", EIMA_FUNC_POLICY_CHECK},
		 {"KEXEC_KERNEL_CHECK", EIMA_FUNC_KEXEC_KERNEL_CHECK},
		 {"KEXEC_INITRAMFS_CHECK", EIMA_FUNC_KEXEC_INITRAMFS_CHECK},
		 {"KEXEC_CMDLINE", EIMA_FUNC_KEXEC_CMDLINE},
		 {"KEY_CHECK", EIMA_FUNC_KEY_CHECK},
		 {"CRITICAL_DATA", EIMA_FUNC_CRITICAL_DATA},
		 {"CREDS_CHECK", EIMA_FUNC_CREDS_CHECK}}) {
		EXPECT_EQ(one(std::string("measure func=") + text).func, func) << text;
	}
	EXPECT_EQ(func_name(EIMA_FUNC_MMAP_CHECK), "MMAP_CHECK");
	EXPECT_EQ(func_name(EIMA_FUNC_FILE_CHECK), "FILE_CHECK");
	EXPECT_EQ(func_name(EIMA_FUNC_NONE), "NONE");
}

TEST(PolicyParser, NumbersAsTheKernelReadsThem)
{
	// kstrtoul: '+' allowed, base 16 takes an optional 0x, nothing else.
	EXPECT_EQ(one("measure fsmagic=9fa0").fsmagic, 0x9fa0u);
	EXPECT_EQ(one("measure fsmagic=+0x10").fsmagic, 0x10u);
	EXPECT_EQ(one("measure fsmagic=0xffffffffffffffff").fsmagic, 0xffffffffffffffffull);
	EXPECT_EQ(one("measure uid=+7").uid->value, 7u);
	EXPECT_EQ(one("measure uid=4294967294").uid->value, 4294967294u);
	EXPECT_EQ(one("measure pcr=63").pcr, 63u);
	EXPECT_EQ(error_of("measure fsmagic=0x").token, "fsmagic=0x");
	EXPECT_EQ(error_of("measure fsmagic=0x10000000000000000").token,
		  "fsmagic=0x10000000000000000");
	EXPECT_EQ(error_of("measure fsmagic=-1").token, "fsmagic=-1");
	EXPECT_EQ(error_of("measure uid=0x10").token, "uid=0x10");
	EXPECT_EQ(error_of("measure uid=-1").token, "uid=-1");
	// (uid_t)-1 is INVALID_UID; larger does not fit uid_t.
	EXPECT_EQ(error_of("measure uid=4294967295").token, "uid=4294967295");
	EXPECT_EQ(error_of("measure fowner=4294967296").token, "fowner=4294967296");
	EXPECT_EQ(error_of("measure pcr=64").token, "pcr=64");
	EXPECT_EQ(error_of("measure pcr=-1").token, "pcr=-1");
}

struct ErrorCase {
	const char *rule;
	const char *token;
	const char *message_part;
};

TEST(PolicyParser, EveryErrorKind)
{
	const ErrorCase cases[] = {
	    {"dnt_measure fsmagic=0x73636673", "dnt_measure", "unknown token"},
	    {"measure foo=bar", "foo=bar", "unknown token"},
	    {"measure func<BPRM_CHECK", "func<BPRM_CHECK", "unknown token"},
	    {"measure func=", "func=", "empty value"},
	    {"measure # trailing comment", "#", "unknown token"},
	    {"measure\r", "measure\r", "carriage return"},
	    {"fsmagic=0x9fa0", "", "no action"},
	    {"measure dont_measure", "dont_measure", "second action"},
	    {"measure measure", "measure", "second action"},
	    {"measure func=EXEC_CHECK", "func=EXEC_CHECK", "unknown func"},
	    {"measure func=POST_SETATTR", "func=POST_SETATTR", "internal to the kernel"},
	    {"measure func=BPRM_CHECK func=FILE_CHECK", "func=FILE_CHECK", "duplicate func="},
	    {"measure mask=MAY_RUN", "mask=MAY_RUN", "unknown mask"},
	    {"measure mask=^^MAY_EXEC", "mask=^^MAY_EXEC", "unknown mask"},
	    {"measure mask=MAY_EXEC mask=MAY_READ", "mask=MAY_READ", "duplicate mask="},
	    {"measure fsmagic=xyz", "fsmagic=xyz", "invalid fsmagic"},
	    {"measure fsmagic=1 fsmagic=2", "fsmagic=2", "duplicate fsmagic="},
	    {"measure fsname=a fsname=b", "fsname=b", "duplicate fsname="},
	    {"measure fsuuid=0123", "fsuuid=0123", "invalid fsuuid"},
	    {"measure fsuuid=0123456789abcdef0123456789abcdef0123", "fsuuid=0123456789abcdef0123456789abcdef0123",
	     "invalid fsuuid"},
	    {"measure uid=0 euid=0", "euid=0", "share one slot"},
	    {"measure egid=0 gid<5", "gid<5", "share one slot"},
	    {"measure fowner=0 fowner>1", "fowner>1", "duplicate fowner"},
	    {"measure uid=root", "uid=root", "invalid id"},
	    {"measure obj_type=a obj_type=b", "obj_type=b", "duplicate obj_type="},
	    {"measure func=KEY_CHECK keyrings=a||b", "keyrings=a||b", "empty item"},
	    {"measure func=CRITICAL_DATA label=|", "label=|", "empty item"},
	    {"measure template=ima-ng template=ima", "template=ima", "duplicate template="},
	    {"template=ima-ng measure", "template=ima-ng", "needs a measure action"},
	    {"dont_measure template=ima-ng", "template=ima-ng", "needs a measure action"},
	    {"measure template=ima-foo", "template=ima-foo", "unknown template"},
	    {"dont_measure pcr=11", "pcr=11", "only for measure"},
	    {"measure pcr=11 pcr=12", "pcr=12", "duplicate pcr="},
	    {"measure appraise_type=imasig", "appraise_type=imasig", "only appraise rules"},
	    {"appraise appraise_type=foo", "appraise_type=foo", "unknown appraise_type"},
	    {"appraise appraise_type=sigv3", "appraise_type=sigv3", "needs digest_type=verity"},
	    {"appraise appraise_type=imasig digest_type=verity", "digest_type=verity",
	     "must come before"},
	    {"appraise digest_type=verity appraise_type=imasig", "appraise_type=imasig",
	     "does not go with"},
	    {"appraise digest_type=verity", "digest_type=verity", "needs appraise_type=sigv3"},
	    {"measure digest_type=sha256", "digest_type=sha256", "unknown digest_type"},
	    {"appraise appraise_flag=foo", "appraise_flag=foo", "unknown appraise_flag"},
	    {"appraise func=MODULE_CHECK appraise_flag=check_blacklist",
	     "appraise_flag=check_blacklist", "needs appraise_type=imasig|modsig"},
	    {"appraise func=BPRM_CHECK appraise_type=imasig|modsig",
	     "appraise_type=imasig|modsig", "does not take appraise_type="},
	    {"appraise appraise_algos=sha256,", "appraise_algos=sha256,", "empty item"},
	    {"appraise appraise_algos=sha257", "appraise_algos=sha257", "unknown hash algorithm"},
	    {"measure func=KEXEC_CMDLINE mask=MAY_EXEC", "mask=MAY_EXEC",
	     "func=KEXEC_CMDLINE does not take mask="},
	    {"appraise func=KEXEC_CMDLINE", "appraise", "takes only measure and dont_measure"},
	    {"measure func=KEY_CHECK fsmagic=0x9fa0", "fsmagic=0x9fa0", "does not take fsmagic="},
	    {"measure func=KEY_CHECK obj_type=t", "obj_type=t", "no LSM label"},
	    {"measure keyrings=.ima", "keyrings=.ima", "does not take keyrings="},
	    {"measure func=BPRM_CHECK label=x", "label=x", "does not take label="},
	    {"measure func=CRITICAL_DATA uid>5 euid=0", "euid=0", "share one slot"},
	    {"measure func=CRITICAL_DATA fowner=0", "fowner=0", "does not take fowner="},
	    {"measure func=SETXATTR_CHECK", "measure", "takes only appraise"},
	    {"appraise func=SETXATTR_CHECK", "func=SETXATTR_CHECK", "needs appraise_algos="},
	    {"appraise func=SETXATTR_CHECK appraise_algos=sha256 fsmagic=1", "fsmagic=1",
	     "takes only appraise_algos="},
	    {"measure func=BPRM_CHECK permit_directio func=MODULE_CHECK", "func=MODULE_CHECK",
	     "duplicate func="},
	    {"measure func=KEY_CHECK permit_directio", "permit_directio",
	     "does not take permit_directio"},
	    {"measure container=", "container=", "empty value"},
	    {"measure container=a/b", "container=a/b", "invalid container"},
	    {"measure container=host container=*", "container=*", "duplicate container="},
	};
	for (const ErrorCase &c : cases) {
		SCOPED_TRACE(c.rule);
		PolicyError e = error_of(c.rule);
		EXPECT_EQ(e.line, 1u);
		EXPECT_EQ(e.token, c.token);
		EXPECT_NE(e.message.find(c.message_part), std::string::npos) << e.message;
	}
}

TEST(PolicyParser, OverlongRuleIsRefused)
{
	std::string rule = "measure fsname=" + std::string(max_rule_length, 'a');
	PolicyError e = error_of(rule);
	EXPECT_NE(e.message.find("longer than 4095"), std::string::npos);
	EXPECT_LT(e.token.size(), 50u);
	// At the limit: accepted.
	rule = "measure fsname=" + std::string(max_rule_length - 15, 'a');
	EXPECT_EQ(rule.size(), max_rule_length);
	EXPECT_TRUE(parse_policy(rule, "t"));
}

TEST(PolicyParser, FirstErrorStopsParseWithFileAndLine)
{
	const char *text = "measure func=BPRM_CHECK\n# c\nmeasure func=NOPE\nmeasure bogus\n";
	auto p = parse_policy(text, "my.policy");
	ASSERT_FALSE(p);
	EXPECT_EQ(p.error().context, "my.policy:3");
	EXPECT_EQ(p.error().err, 0);
	EXPECT_EQ(p.error().message(),
		  "parse IMA policy: 'func=NOPE': unknown func 'NOPE', at my.policy:3");

	// The collecting variant goes on: both errors, the valid rule kept.
	PolicyCheck c = check_policy(text, "my.policy");
	ASSERT_EQ(c.errors.size(), 2u);
	EXPECT_EQ(c.errors[0].line, 3u);
	EXPECT_EQ(c.errors[1].line, 4u);
	EXPECT_EQ(c.errors[1].token, "bogus");
	ASSERT_EQ(c.rules.size(), 1u);
	EXPECT_FALSE(c.valid());
	nlohmann::json j = check_report(c);
	EXPECT_EQ(j["rules"], 1);
	EXPECT_EQ(j["valid"], false);
	EXPECT_EQ(j["errors"][1]["token"], "bogus");
	EXPECT_EQ(j["errors"][1]["message"], "unknown token");
}


// Bad input never crashes and every rule line ends up either a rule or an error: random
// lines built from policy words, separators and arbitrary bytes.
TEST(PolicyParser, RandomInputIsRuleOrErrorPerLine)
{
	static const char *words[] = {"measure", "dont_measure", "appraise", "func=BPRM_CHECK",
				      "mask=^MAY_READ", "fsmagic=0x9fa0", "uid<5", "euid=0",
				      "pcr=11", "template=ima-ng", "container=*", "#", "=", "<",
				      "keyrings=a|b", "label=", "appraise_type=imasig|modsig",
				      "digest_type=verity", "fsuuid=", "permit_directio"};
	std::uint64_t x = 0x9e3779b97f4a7c15ull; // xorshift64, fixed seed: reproducible
	auto next = [&] {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		return x;
	};
	for (int round = 0; round < 3000; ++round) {
		std::string text;
		std::size_t lines = next() % 6;
		for (std::size_t l = 0; l < lines; ++l) {
			std::size_t n = next() % 7;
			for (std::size_t t = 0; t < n; ++t) {
				if (next() % 4 == 0)
					text += static_cast<char>(next() % 256);
				else
					text += words[next() % std::size(words)];
				text += " \t"[next() % 2];
			}
			text += '\n';
		}
		PolicyCheck c = check_policy(text, "r");
		std::size_t rule_lines = 0;
		std::size_t at = 0;
		while (at < text.size()) {
			std::size_t nl = text.find('\n', at);
			std::string_view line(text.data() + at, (nl == std::string::npos ? text.size() : nl) - at);
			at = nl == std::string::npos ? text.size() : nl + 1;
			std::size_t s = line.find_first_not_of(" \t");
			if (s != std::string_view::npos && line[s] != '#')
				++rule_lines;
		}
		ASSERT_EQ(c.rules.size() + c.errors.size(), rule_lines) << text;
		auto p = parse_policy(text, "r");
		ASSERT_EQ(p.has_value(), c.errors.empty()) << text;
		for (KernelMode mode : {KernelMode::lsm, KernelMode::trace}) {
			Policy pol{c.rules, "r"};
			auto k = compile_policy(pol, mode);
			ASSERT_TRUE(k);
			EXPECT_LE(k->nr_rules, c.rules.size());
		}
	}
}

} // namespace
} // namespace eima::policy
