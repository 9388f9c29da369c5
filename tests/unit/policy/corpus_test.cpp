// Every policy of the corpus (keylime, LTP, meta-security; SOURCES.md there), with counts
// made by reading the files: rules, actions, funcs, the one invalid file's error, and what
// each mode cannot honour.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <set>

#include "common/file_io.h"
#include "policy/policy_check.h"

namespace eima::policy {
namespace {

namespace fs = std::filesystem;

std::string read_text(const fs::path &path) { return eima::read_file(path).value_or(""); }

struct CorpusPolicy {
	const char *name;
	std::size_t rules;
	std::map<std::string, int> actions;
	std::map<std::string, int> funcs;
	std::vector<std::size_t> unsupported_lsm;   // lines
	std::vector<std::size_t> unsupported_trace; // lines
	std::size_t kernel_rules_lsm;
	std::size_t kernel_rules_trace;
	std::size_t error_line = 0; // the invalid file
	const char *error_token = nullptr;
};

const CorpusPolicy corpus[] = {
    {"keylime-demo-ima-policy",
     9,
     {{"dont_measure", 6}, {"measure", 3}},
     {{"NONE", 6}, {"BPRM_CHECK", 1}, {"MMAP_CHECK", 1}, {"MODULE_CHECK", 1}},
     {16},
     {16},
     8,
     8},
    {"keylime-ima-policy-keylime-etc",
     16,
     {{"dont_measure", 12}, {"measure", 4}},
     {{"NONE", 12}, {"BPRM_CHECK", 1}, {"MMAP_CHECK", 1}, {"MODULE_CHECK", 1}, {"FILE_CHECK", 1}},
     {21, 22, 23, 27, 28},
     {21, 22, 23, 27, 28},
     11,
     11},
    {"ltp-kexec.policy", 1, {{"measure", 1}}, {{"KEXEC_CMDLINE", 1}}, {1}, {1}, 0, 0},
    {"ltp-measure.policy",
     8,
     {{"dont_measure", 5}, {"measure", 3}},
     {{"NONE", 4}, {"FILE_CHECK", 2}, {"MMAP_CHECK", 1}, {"BPRM_CHECK", 1}},
     {},
     {11, 16},
     8,
     6},
    {"ltp-measure.policy-invalid",
     7,
     {{"dont_measure", 4}, {"measure", 3}},
     {{"NONE", 4}, {"FILE_CHECK", 1}, {"MMAP_CHECK", 1}, {"BPRM_CHECK", 1}},
     {},
     {16},
     7,
     6,
     13,
     "dnt_measure"},
    {"ltp-selinux.policy", 1, {{"measure", 1}}, {{"CRITICAL_DATA", 1}}, {1}, {1}, 0, 0},
    {"yocto-ima_policy_appraise_all",
     12,
     {{"dont_appraise", 11}, {"appraise", 1}},
     {{"NONE", 12}},
     // lsm: appraise rules go to the kernel; the last, without func=, is partial
     {29},
     {7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29},
     12,
     0},
};

fs::path corpus_dir() { return EIMA_POLICY_CORPUS_DIR; }

std::vector<std::size_t> lines_of(const std::vector<UnsupportedRule> &u)
{
	std::vector<std::size_t> out;
	for (auto &x : u)
		out.push_back(x.line);
	return out;
}

TEST(PolicyCorpus, EveryFileIsCovered)
{
	std::set<std::string> listed;
	for (auto &c : corpus)
		listed.insert(c.name);
	std::size_t files = 0;
	for (auto &e : fs::directory_iterator(corpus_dir())) {
		std::string name = e.path().filename();
		if (name == "SOURCES.md")
			continue;
		++files;
		EXPECT_TRUE(listed.count(name)) << name << " has no expectations here";
	}
	EXPECT_EQ(files, std::size(corpus));
}

TEST(PolicyCorpus, CountsErrorsAndUnsupported)
{
	for (const CorpusPolicy &c : corpus) {
		SCOPED_TRACE(c.name);
		std::string text = read_text(corpus_dir() / c.name);
		ASSERT_FALSE(text.empty());
		for (KernelMode mode : {KernelMode::lsm, KernelMode::trace}) {
			SCOPED_TRACE(std::string(mode_name(mode)));
			PolicyCheck check = check_policy(text, c.name, mode);
			nlohmann::json j = check_report(check);
			EXPECT_EQ(j["rules"].get<std::size_t>(), c.rules);
			using Counts = std::map<std::string, int>;
			EXPECT_EQ(j["actions"].get<Counts>(), c.actions);
			EXPECT_EQ(j["funcs"].get<Counts>(), c.funcs);
			EXPECT_EQ(lines_of(check.unsupported),
				  mode == KernelMode::lsm ? c.unsupported_lsm : c.unsupported_trace);
			EXPECT_EQ(j["unsupported"].size(), check.unsupported.size());
			EXPECT_EQ(j["kernel_rules"].get<std::size_t>(),
				  mode == KernelMode::lsm ? c.kernel_rules_lsm : c.kernel_rules_trace);
			if (c.error_token) {
				EXPECT_FALSE(j["valid"].get<bool>());
				ASSERT_EQ(j["errors"].size(), 1u);
				EXPECT_EQ(j["errors"][0]["line"].get<std::size_t>(), c.error_line);
				EXPECT_EQ(j["errors"][0]["token"].get<std::string>(), c.error_token);
				EXPECT_EQ(j["errors"][0]["message"].get<std::string>(), "unknown token");
			} else {
				EXPECT_TRUE(j["valid"].get<bool>()) << j["errors"].dump();
				EXPECT_TRUE(j["errors"].empty());
			}

			auto parsed = parse_policy(text, c.name);
			if (c.error_token) {
				ASSERT_FALSE(parsed);
			} else {
				ASSERT_TRUE(parsed) << parsed.error().message();
				auto compiled = compile_policy(*parsed, mode);
				ASSERT_TRUE(compiled) << compiled.error().message();
				EXPECT_EQ(compiled->nr_rules, mode == KernelMode::lsm
								  ? c.kernel_rules_lsm
								  : c.kernel_rules_trace);
			}
		}
	}
}

TEST(PolicyCorpus, InvalidFileStopsParseAtItsLine)
{
	std::string text = read_text(corpus_dir() / "ltp-measure.policy-invalid");
	auto p = parse_policy(text, "ltp-measure.policy-invalid");
	ASSERT_FALSE(p);
	EXPECT_EQ(p.error().context, "ltp-measure.policy-invalid:13");
	EXPECT_NE(p.error().op.find("'dnt_measure'"), std::string::npos) << p.error().op;
	EXPECT_NE(p.error().message().find("unknown token"), std::string::npos);
}

TEST(PolicyCorpus, KeylimeRulesAsParsed)
{
	auto p = parse_policy(read_text(corpus_dir() / "keylime-ima-policy-keylime-etc"), "k");
	ASSERT_TRUE(p) << p.error().message();
	// dont_measure fsmagic=0x794c7630 (overlayfs) on line 19
	const PolicyRule &ovl = p->rules[8];
	EXPECT_EQ(ovl.line, 19u);
	EXPECT_EQ(ovl.action, EIMA_ACT_DONT_MEASURE);
	EXPECT_EQ(ovl.fsmagic, 0x794c7630u);
	// measure func=FILE_MMAP mask=MAY_EXEC: the legacy alias of MMAP_CHECK
	const PolicyRule &mmap = p->rules[13];
	EXPECT_EQ(mmap.func, EIMA_FUNC_MMAP_CHECK);
	EXPECT_EQ(mmap.func_spelling, "FILE_MMAP");
	EXPECT_EQ(mmap.mask, EIMA_MAY_EXEC);
	EXPECT_FALSE(mmap.mask_any);
	const PolicyRule &etc = p->rules[15];
	EXPECT_EQ(etc.line, 28u);
	EXPECT_EQ(etc.obj_type, "etc_t");
	EXPECT_EQ(etc.text, "measure func=FILE_CHECK mask=MAY_READ obj_type=etc_t");
}

} // namespace
} // namespace eima::policy
