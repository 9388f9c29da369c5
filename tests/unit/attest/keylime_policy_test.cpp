#include <gtest/gtest.h>

#include <fnmatch.h>

#include <regex>

#include "common/file_io.h"
#include "attest/keylime_policy.h"

using namespace eima;
using attest::KeylimeFormat;

namespace {

std::string slurp(const std::string &path) { return read_file(path).value_or(""); }

std::string policy_file(const std::string &name)
{
	auto text = slurp(std::string(CORPUS_DIR) + "/keylime-policies/" + name);
	EXPECT_FALSE(text.empty()) << name;
	return text;
}

// Counts made by reading each file of the corpus (see its SOURCES.md).
struct Expected {
	const char *file;
	KeylimeFormat format;
	std::size_t paths, digests, excludes;
	const char *algo; // of every digest, or nullptr
};

const Expected corpus[] = {
	{"create-runtime-policy-allowlist-sha512", KeylimeFormat::flat_allowlist, 1, 1, 0, "sha512"},
	{"create-runtime-policy-policy-sha384", KeylimeFormat::runtime_policy, 1, 1, 0, "sha384"},
	{"keylime-archive-exclude.txt", KeylimeFormat::exclude_list, 0, 0, 4, nullptr},
	{"keylime-tests-allowlist.txt", KeylimeFormat::flat_allowlist, 1, 1, 0, "sha256"},
	{"keylime-tests-base_policy.json", KeylimeFormat::runtime_policy, 2, 2, 0, "sha256"},
	{"keylime-tests-excludelist.txt", KeylimeFormat::exclude_list, 0, 0, 1, nullptr},
	{"sign-runtime-policy-runtime-policy-empty.json", KeylimeFormat::runtime_policy, 0, 0, 0, nullptr},
	{"sign-runtime-policy-runtime-policy.json", KeylimeFormat::runtime_policy, 7, 7, 0, "sha256"},
};

Error import_error(const std::string &text)
{
	auto r = attest::import_keylime(text, "k.json");
	EXPECT_FALSE(r) << text;
	return r ? Error{} : r.error();
}

const std::string good_policy =
	R"({"meta": {"version": 1, "generator": 3}, "release": 0, "digests": {"/a": [")" +
	std::string(64, 'a') +
	R"("]}, "excludes": [], "keyrings": {}, "ima": {"ignored_keyrings": [], "log_hash_alg": "sha1", "dm_policy": null}, "ima-buf": {}, "verification-keys": ""})";

} // namespace

TEST(KeylimeImport, EveryCorpusFileWithItsCounts)
{
	for (auto &want : corpus) {
		SCOPED_TRACE(want.file);
		auto r = attest::import_keylime(policy_file(want.file), want.file);
		ASSERT_TRUE(r) << r.error().message();
		EXPECT_EQ(r->format, want.format);
		EXPECT_EQ(r->policy.digests.size(), want.paths);
		EXPECT_EQ(attest::digest_count(r->policy.digests), want.digests);
		EXPECT_EQ(r->policy.exclude_regexes.size(), want.excludes);
		EXPECT_TRUE(r->policy.keyrings.empty());
		EXPECT_TRUE(r->policy.ima_buf.empty());
		for (auto &[path, list] : r->policy.digests)
			for (auto &d : list) {
				EXPECT_EQ(d.algo, want.algo);
				EXPECT_FALSE(d.explicit_algo);
			}
	}
}

TEST(KeylimeImport, FieldsOfTheRuntimePolicies)
{
	auto r = attest::import_keylime(policy_file("keylime-tests-base_policy.json"), "base");
	ASSERT_TRUE(r);
	auto &p = r->policy;
	EXPECT_EQ(p.keylime.log_hash_alg, "sha256");
	EXPECT_EQ(p.keylime.generator, 3);
	EXPECT_EQ(p.timestamp, "2024-08-05 16:06:40.614573");
	EXPECT_EQ(p.digests.at("boot_aggregate").at(0).value, Bytes(32, 0));
	EXPECT_EQ(to_hex(p.digests.at("test").at(0).value),
		  "f2ca1bb6c7e907d06dafe4687e579fce76b37e4e93b7605022da52e6ccc26fd2");
	EXPECT_TRUE(p.keylime.dm_policy.is_null());

	auto sign = attest::import_keylime(policy_file("sign-runtime-policy-runtime-policy.json"), "s");
	ASSERT_TRUE(sign);
	EXPECT_TRUE(sign->policy.digests.contains("/home/foobar/non-root"));
	EXPECT_EQ(sign->policy.keylime.log_hash_alg, "sha1");

	auto ex = attest::import_keylime(policy_file("keylime-archive-exclude.txt"), "ex");
	ASSERT_TRUE(ex);
	EXPECT_EQ(ex->policy.exclude_regexes,
		  (std::vector<std::string>{"/var/log/wtmp", "/root/etc/fstab", "/boot/grub/grubenv",
					    "/sys/fs/.*"}));
}

TEST(KeylimeImport, RoundTripsThroughExport)
{
	for (auto &want : corpus) {
		SCOPED_TRACE(want.file);
		auto first = attest::import_keylime(policy_file(want.file), want.file);
		ASSERT_TRUE(first);
		auto out = attest::export_keylime(first->policy);
		ASSERT_TRUE(out) << out.error().message();
		auto second = attest::import_keylime(out->dump(), "exported");
		ASSERT_TRUE(second) << second.error().message() << "\n" << out->dump();
		EXPECT_EQ(second->format, KeylimeFormat::runtime_policy);
		EXPECT_EQ(second->policy, first->policy);
		// Through eima's own format as well.
		auto eima = attest::parse_runtime_policy(
			attest::runtime_policy_to_json(first->policy).dump(), "eima");
		ASSERT_TRUE(eima) << eima.error().message();
		EXPECT_EQ(*eima, first->policy);
	}
}

TEST(KeylimeExport, MatchesKeylimeSchema)
{
	// An exported Keylime runtime policy equals the file it came from, key for key.
	for (auto file : {"keylime-tests-base_policy.json", "sign-runtime-policy-runtime-policy.json",
			  "create-runtime-policy-policy-sha384",
			  "sign-runtime-policy-runtime-policy-empty.json"}) {
		SCOPED_TRACE(file);
		auto text = policy_file(file);
		auto in = attest::import_keylime(text, file);
		ASSERT_TRUE(in);
		auto out = attest::export_keylime(in->policy);
		ASSERT_TRUE(out);
		EXPECT_EQ(*out, nlohmann::json::parse(text));
	}
	// From a flat allowlist plus an exclude list: the keys Keylime's schema requires.
	auto allow = attest::import_keylime(policy_file("keylime-tests-allowlist.txt"), "a");
	auto excl = attest::import_keylime(policy_file("keylime-tests-excludelist.txt"), "e");
	ASSERT_TRUE(allow && excl);
	auto merged = allow->policy;
	attest::merge_policy(merged, excl->policy);
	merged.exclude_globs = {"/tmp/*.[ch]"};
	auto out = attest::export_keylime(merged);
	ASSERT_TRUE(out);
	for (auto key : {"meta", "release", "digests", "excludes", "keyrings", "ima", "ima-buf",
			 "verification-keys"})
		EXPECT_TRUE(out->contains(key)) << key;
	EXPECT_EQ((*out)["meta"]["version"], 1);
	EXPECT_EQ((*out)["meta"]["generator"], 3);
	EXPECT_EQ((*out)["ima"]["log_hash_alg"], "sha1");
	EXPECT_TRUE((*out)["ima"]["dm_policy"].is_null());
	EXPECT_EQ((*out)["digests"]["test"][0],
		  "f2ca1bb6c7e907d06dafe4687e579fce76b37e4e93b7605022da52e6ccc26fd2");
	EXPECT_EQ((*out)["excludes"], nlohmann::json({"test", "/tmp/.*\\.[ch]$"}));
	EXPECT_TRUE((*out)["verification-keys"].is_string());

	// Typed digests export as bare lowercase hex; md5 is too short for Keylime.
	attest::RuntimePolicy p;
	p.digests["/x"] = {*attest::parse_policy_digest("sha256:" + std::string(64, 'A'))};
	EXPECT_EQ((*attest::export_keylime(p))["digests"]["/x"][0], std::string(64, 'a'));
	p.digests["/y"] = {*attest::parse_policy_digest("md5:" + std::string(32, 'a'))};
	auto md5 = attest::export_keylime(p);
	ASSERT_FALSE(md5);
	EXPECT_NE(md5.error().message().find("/y"), std::string::npos);
}

TEST(KeylimeExport, GlobsBecomeEquivalentRegexes)
{
	const char *globs[] = {"/tmp/*", "/var/log/*.log", "/a?c", "/x[!0-9]y", "/p[]]q",
			       "/lit[eral", "/dot.and+plus(1)", "/esc\\*star"};
	const char *paths[] = {"/tmp/a",    "/tmp/a/b",	 "/var/log/x.log", "/var/log/xlog",
			       "/abc",	    "/ac",	 "/xay",	   "/x5y",
			       "/p]q",	    "/lit[eral", "/dot.and+plus(1)", "/dotXand+plus(1)",
			       "/esc*star", "/escXstar"};
	for (auto g : globs) {
		auto re = std::regex(attest::glob_to_regex(g));
		for (auto path : paths)
			EXPECT_EQ(fnmatch(g, path, 0) == 0,
				  std::regex_search(std::string(path), re,
						    std::regex_constants::match_continuous))
				<< g << " " << path << " " << attest::glob_to_regex(g);
	}
}

TEST(KeylimeImport, LegacyJsonAllowlistAndKeyringLines)
{
	auto j = attest::import_keylime(
		R"({"meta": {"version": 1}, "release": 0, "hashes": {"/bin/sh": [")" +
			std::string(40, '1') + R"(", ")" + std::string(40, '2') + R"("]}})",
		"old.json");
	ASSERT_TRUE(j) << j.error().message();
	EXPECT_EQ(j->format, KeylimeFormat::json_allowlist);
	EXPECT_EQ(j->policy.digests.at("/bin/sh").size(), 2u);

	auto flat = attest::import_keylime("# made by hand\n\n" + std::string(64, 'a') +
						   "  /usr/bin/with space\n" + std::string(64, 'b') +
						   " %keyring:.ima\n" + std::string(64, 'c') +
						   "\t/usr/bin/with space\n",
					   "allow.txt");
	ASSERT_TRUE(flat) << flat.error().message();
	EXPECT_EQ(flat->format, KeylimeFormat::flat_allowlist);
	EXPECT_EQ(flat->policy.digests.at("/usr/bin/with space").size(), 2u);
	EXPECT_EQ(flat->policy.keyrings.at(".ima").size(), 1u);
}

TEST(KeylimeImport, BadInputGivesClearErrors)
{
	auto e = import_error(good_policy.substr(0, good_policy.size() / 2));
	EXPECT_NE(e.message().find("k.json"), std::string::npos) << e.message();
	EXPECT_NE(e.message().find("parse error"), std::string::npos) << e.message();

	auto with = [](std::string from, std::string to) {
		std::string s = good_policy;
		auto pos = s.find(from);
		EXPECT_NE(pos, std::string::npos) << from;
		return s.replace(pos, from.size(), to);
	};
	e = import_error(with(R"("verification-keys": "")", R"("verification-keys": {"keys": []})"));
	EXPECT_NE(e.message().find("/verification-keys: not a string"), std::string::npos)
		<< e.message();
	e = import_error(with(R"("verification-keys": "")", R"("verification-keys": "{oops")"));
	EXPECT_NE(e.message().find("/verification-keys"), std::string::npos) << e.message();
	e = import_error(with(std::string(64, 'a'), std::string(63, 'a') + "z"));
	EXPECT_NE(e.message().find("/digests/~1a/0: not a hex digest"), std::string::npos)
		<< e.message();
	e = import_error(with(std::string(64, 'a'), "sha256:" + std::string(64, 'a')));
	EXPECT_NE(e.message().find("/digests/~1a/0"), std::string::npos) << e.message();
	e = import_error(with(R"("excludes": [])", R"("excludes": "/tmp")"));
	EXPECT_NE(e.message().find("/excludes: not an array"), std::string::npos) << e.message();
	e = import_error(with(R"("excludes": [])", R"("excludes": ["(("])"));
	EXPECT_NE(e.message().find("/excludes/0"), std::string::npos) << e.message();
	e = import_error(with(R"("keyrings": {})", R"("keyrings": [])"));
	EXPECT_NE(e.message().find("/keyrings: not an object"), std::string::npos) << e.message();
	e = import_error(with(R"("release": 0)", R"("release": "0")"));
	EXPECT_NE(e.message().find("/release"), std::string::npos) << e.message();
	e = import_error(with(R"("log_hash_alg": "sha1")", R"("log_hash_alg": "md5")"));
	EXPECT_NE(e.message().find("/ima/log_hash_alg"), std::string::npos) << e.message();
	e = import_error(with(R"("meta": {"version": 1, "generator": 3}, )", ""));
	EXPECT_NE(e.message().find("/meta"), std::string::npos) << e.message();
	e = import_error(R"({"something": "else"})");
	EXPECT_NE(e.message().find("not a Keylime policy"), std::string::npos) << e.message();

	e = import_error(std::string(64, 'a') + "  /ok\n" + std::string(64, 'g') + "  /bad\n");
	EXPECT_NE(e.message().find("line 2"), std::string::npos) << e.message();
	e = import_error(std::string(64, 'a') + "  /ok\n" + std::string(64, 'b') + "\n");
	EXPECT_NE(e.message().find("line 2: not 'HEX PATH'"), std::string::npos) << e.message();
	e = import_error(std::string(64, 'a') + "  /ok\n" + std::string(62, 'b') + "  /short\n");
	EXPECT_NE(e.message().find("line 2"), std::string::npos) << e.message();
	e = import_error("# excludes\n/ok/.*\n\n/bad/(\n");
	EXPECT_NE(e.message().find("line 4: not a regex"), std::string::npos) << e.message();
}

// fuzz/keylime_policy found that an exclude with a back-reference past LONG_MAX made
// libstdc++'s regex compiler overflow (undefined behaviour), and a count of millions takes
// its memory: counts and back-references over 1000 are refused with the pattern named.
TEST(KeylimeImport, HugeRepetitionCountsAreRefused)
{
	for (std::string bad : {"/tmp/a{6666666666666666666}", "/x{1001}", "/x{2,99999}",
				"/x{,1001}", "(a)\\6666666666666666666", "(a)\\1001"}) {
		auto r = attest::import_keylime(bad + "\n", "ex.txt");
		ASSERT_FALSE(r) << bad;
		EXPECT_NE(r.error().message().find("over 1000"), std::string::npos)
			<< r.error().message();
		EXPECT_NE(r.error().message().find(bad), std::string::npos) << r.error().message();
	}
	for (std::string good : {"/x{1000}", "/x{2,1000}", "/x\\{99999}", "(a)\\1"}) {
		auto r = attest::import_keylime(good + "\n", "ex.txt");
		EXPECT_TRUE(r) << good << ": " << r.error().message();
	}
}
