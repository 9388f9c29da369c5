#include <gtest/gtest.h>


#include "common/file_io.h"
#include "common/json_text.h"
#include "ima/template_entry.h"
#include "attest/log_verifier.h"
#include "attest/runtime_policy.h"
#include "ima/ascii_log.h"

using namespace eima;
using attest::PolicyFailure;
using attest::RuntimePolicy;

namespace {

std::string slurp(const std::string &path) { return read_file(path).value_or(""); }

ima::UnverifiedLog corpus_log(const std::string &name)
{
	auto text = slurp(std::string(CORPUS_DIR) + "/ima-logs/" + name);
	EXPECT_FALSE(text.empty()) << name;
	auto log = ima::read_ascii_log(text);
	EXPECT_TRUE(log) << (log ? "" : log.error().message());
	return log ? *log : ima::UnverifiedLog{};
}

const std::string perf_log = "keylime-perf-ubuntu-ima-ng-sha256.ascii_runtime_measurements";

std::string digest_of(const ima::TemplateEntry &e)
{
	auto d = ima::file_digest(e);
	return std::string(d->algo_name) + ":" + to_hex(d->digest);
}

// A policy allowing exactly what the list holds, typed "sha256:hex".
RuntimePolicy policy_from_log(const ima::UnverifiedLog &log)
{
	RuntimePolicy p;
	for (auto &e : log.entries) {
		auto d = attest::parse_policy_digest(digest_of(e));
		EXPECT_TRUE(d);
		auto &list = p.digests[std::string(*ima::event_name(e))];
		if (std::find(list.begin(), list.end(), *d) == list.end())
			list.push_back(*d);
	}
	return p;
}

Error parse_error(const std::string &json)
{
	auto p = attest::parse_runtime_policy(json, "p.json");
	EXPECT_FALSE(p) << json;
	return p ? Error{} : p.error();
}

} // namespace

TEST(RuntimePolicyDigest, AlgorithmFromPrefixOrLength)
{
	auto a = attest::parse_policy_digest(std::string(64, 'a'));
	ASSERT_TRUE(a);
	EXPECT_EQ(a->algo, "sha256");
	EXPECT_FALSE(a->explicit_algo);
	EXPECT_EQ(a->to_string(), std::string(64, 'a'));
	auto b = attest::parse_policy_digest("sm3_256:" + std::string(64, 'B'));
	ASSERT_TRUE(b);
	EXPECT_EQ(b->algo, "sm3_256");
	EXPECT_TRUE(b->explicit_algo);
	EXPECT_EQ(b->to_string(), "sm3_256:" + std::string(64, 'b'));
	EXPECT_EQ(attest::parse_policy_digest("md5:" + std::string(32, '0'))->value.size(), 16u);
	EXPECT_EQ(attest::parse_policy_digest(std::string(40, '1'))->algo, "sha1");
	EXPECT_EQ(attest::parse_policy_digest(std::string(96, '1'))->algo, "sha384");
	EXPECT_EQ(attest::parse_policy_digest(std::string(128, '1'))->algo, "sha512");
	EXPECT_FALSE(attest::parse_policy_digest(std::string(56, '1'))); // sha224 needs a prefix
	EXPECT_FALSE(attest::parse_policy_digest("sha256:" + std::string(40, '1')));
	EXPECT_FALSE(attest::parse_policy_digest("sha999:" + std::string(64, '1')));
	EXPECT_FALSE(attest::parse_policy_digest(std::string(63, '1') + "g"));
	EXPECT_FALSE(attest::parse_policy_digest(""));
	EXPECT_FALSE(attest::parse_policy_digest("sha256:"));
}

TEST(RuntimePolicyJson, RoundTrips)
{
	RuntimePolicy p;
	p.timestamp = "2025-01-01 00:00:00";
	p.digests["/usr/bin/ls"] = {*attest::parse_policy_digest("sha256:" + std::string(64, 'a')),
				    *attest::parse_policy_digest(std::string(40, 'b'))};
	p.digests["/a~b/c"] = {*attest::parse_policy_digest(std::string(128, 'c'))};
	p.exclude_regexes = {"/tmp/.*", "^/var/log/"};
	p.exclude_globs = {"/proc/*"};
	p.keyrings[".ima"] = {*attest::parse_policy_digest(std::string(64, 'd'))};
	p.ima_buf["kernel_version"] = {*attest::parse_policy_digest(std::string(64, 'e'))};
	p.ignored_keyrings = {".builtin_trusted_keys"};
	p.keylime.verification_keys = "{\"a\": 1}";
	p.keylime.dm_policy = {{"version", 1}};
	auto j = attest::runtime_policy_to_json(p);
	EXPECT_EQ(j["digests"]["/usr/bin/ls"][0], "sha256:" + std::string(64, 'a'));
	EXPECT_EQ(j["excludes"]["glob"][0], "/proc/*");
	auto back = attest::parse_runtime_policy(j.dump(), "p.json");
	ASSERT_TRUE(back) << back.error().message();
	EXPECT_EQ(*back, p);
}

// Paths are bytes: a policy with names that are not UTF-8 is written (docs/json-bytes.md)
// and read back unchanged, and a policy made from such a list still allows it.
TEST(RuntimePolicyJson, NonUtf8NamesRoundTrip)
{
	ima::UnverifiedLog log;
	for (std::string path : {"/bin/\xff", "/x/\xc0\xaf", "/y/\xed\xa0\x80"}) {
		auto e = ima::make_ima_ng(ima::HashAlgo::sha256, Bytes(32, 0xaa), path);
		ASSERT_TRUE(e);
		log.entries.push_back(*e);
	}
	auto made = attest::policy_from_log(log);
	ASSERT_TRUE(made);
	made->policy.exclude_regexes = {"/tmp/\xfe.*"};
	std::string written = json_dump(attest::runtime_policy_to_json(made->policy), 2);
	EXPECT_NE(written.find("\"/bin/\\udcff\""), std::string::npos) << written;
	auto back = attest::parse_runtime_policy(written, "p.json");
	ASSERT_TRUE(back) << back.error().message();
	EXPECT_EQ(*back, made->policy);
	EXPECT_TRUE(attest::evaluate(*back, log).empty());
}

TEST(RuntimePolicyJson, BadInputNamesTheField)
{
	EXPECT_NE(parse_error("{\"meta\": {\"version\": 1}, \"digests\": {").message().find("p.json"),
		  std::string::npos);
	EXPECT_NE(parse_error("[1]").message().find("not a JSON object"), std::string::npos);
	EXPECT_NE(parse_error("{\"digests\": {}}").message().find("/meta"), std::string::npos);
	EXPECT_NE(parse_error("{\"meta\": {\"version\": \"1\"}}").message().find("/meta/version"),
		  std::string::npos);
	EXPECT_NE(parse_error("{\"meta\": {\"version\": 2}}").message().find("/meta/version"),
		  std::string::npos);
	auto e = parse_error(R"({"meta": {"version": 1}, "digests": {"/usr/bin/ls": ["xyz"]}})");
	EXPECT_NE(e.message().find("/digests/~1usr~1bin~1ls/0"), std::string::npos) << e.message();
	EXPECT_NE(e.message().find("not hex"), std::string::npos) << e.message();
	e = parse_error(R"({"meta": {"version": 1}, "digests": {"/x": "abc"}})");
	EXPECT_NE(e.message().find("/digests/~1x: not an array"), std::string::npos) << e.message();
	e = parse_error(R"({"meta": {"version": 1}, "digests": {"/x": []}})");
	EXPECT_NE(e.message().find("/digests/~1x: no digests"), std::string::npos) << e.message();
	e = parse_error(R"({"meta": {"version": 1}, "digests": {"/x": [7]}})");
	EXPECT_NE(e.message().find("/digests/~1x/0: not a string"), std::string::npos);
	e = parse_error(R"({"meta": {"version": 1}, "excludes": ["/tmp"]})");
	EXPECT_NE(e.message().find("/excludes"), std::string::npos);
	e = parse_error(R"({"meta": {"version": 1}, "excludes": {"regex": ["(unclosed"]}})");
	EXPECT_NE(e.message().find("/excludes/regex/0"), std::string::npos) << e.message();
	e = parse_error(R"({"meta": {"version": 1}, "excludes": {"regex": [1]}})");
	EXPECT_NE(e.message().find("/excludes/regex/0: not a string"), std::string::npos);
	e = parse_error(R"({"meta": {"version": 1}, "keylime": {"verification_keys": {}}})");
	EXPECT_NE(e.message().find("/keylime/verification_keys: not a string"), std::string::npos);
	e = parse_error(R"({"meta": {"version": 1}, "release": 0})");
	EXPECT_NE(e.message().find("/release: unknown field"), std::string::npos) << e.message();
	e = parse_error(R"({"meta": {"version": 1}, "ignored_keyrings": "x"})");
	EXPECT_NE(e.message().find("/ignored_keyrings"), std::string::npos);
}

TEST(RuntimePolicyEval, OwnEntriesPass)
{
	auto log = corpus_log(perf_log);
	ASSERT_EQ(log.entries.size(), 780u);
	auto p = policy_from_log(log);
	EXPECT_TRUE(attest::evaluate(p, log).empty());
	// The same policy with bare hex (Keylime's form) passes too.
	for (auto &[path, list] : p.digests)
		for (auto &d : list)
			d.explicit_algo = false;
	EXPECT_TRUE(attest::evaluate(p, log).empty());
}

TEST(RuntimePolicyEval, ChangedDigestFailsThatEntryOnly)
{
	auto log = corpus_log(perf_log);
	auto p = policy_from_log(log);
	const std::size_t idx = 100;
	std::string path(*ima::event_name(log.entries[idx]));
	ASSERT_EQ(p.digests[path].size(), 1u) << path;
	p.digests[path][0].value[0] ^= 0x01;
	auto f = attest::evaluate(p, log);
	ASSERT_EQ(f.size(), 1u);
	EXPECT_EQ(f[0], (PolicyFailure{idx, path, digest_of(log.entries[idx]), "digest not allowed"}));
	// A second allowed digest for the path makes it pass again.
	p.digests[path].push_back(*attest::parse_policy_digest(digest_of(log.entries[idx])));
	EXPECT_TRUE(attest::evaluate(p, log).empty());
	// The algorithm of a typed digest counts: the same bytes as sm3_256 do not match.
	p.digests[path] = {*attest::parse_policy_digest(
		"sm3_256:" + digest_of(log.entries[idx]).substr(std::string("sha256:").size()))};
	EXPECT_EQ(attest::evaluate(p, log).size(), 1u);
}

TEST(RuntimePolicyEval, MissingPathIsNotInPolicyAndExcludesPass)
{
	auto log = corpus_log(perf_log);
	auto p = policy_from_log(log);
	const std::size_t idx = 42;
	std::string path(*ima::event_name(log.entries[idx]));
	std::size_t occurrences = 0;
	for (auto &e : log.entries)
		occurrences += *ima::event_name(e) == path;
	p.digests.erase(path);
	auto f = attest::evaluate(p, log);
	ASSERT_EQ(f.size(), occurrences);
	EXPECT_EQ(f[0].entry, idx);
	EXPECT_EQ(f[0].path, path);
	EXPECT_EQ(f[0].reason, "not in policy");

	auto regex = p;
	regex.exclude_regexes = {path.substr(0, path.rfind('/') + 1)}; // its directory, a prefix
	EXPECT_TRUE(attest::evaluate(regex, log).empty());
	auto glob = p;
	glob.exclude_globs = {path.substr(0, path.rfind('/')) + "/*"};
	EXPECT_TRUE(attest::evaluate(glob, log).empty());
	// A regex matches at the start only (Python's re.match): the basename does not.
	auto tail = p;
	tail.exclude_regexes = {path.substr(path.rfind('/') + 1)};
	EXPECT_EQ(attest::evaluate(tail, log).size(), occurrences);
}

TEST(RuntimePolicyEval, BootAggregateCheckedWhenListed)
{
	auto log = corpus_log(perf_log);
	auto p = policy_from_log(log);
	p.digests.erase("boot_aggregate");
	EXPECT_TRUE(attest::evaluate(p, log).empty()); // none listed: not checked
	p.digests["boot_aggregate"] = {*attest::parse_policy_digest(std::string(64, '0'))};
	auto f = attest::evaluate(p, log);
	ASSERT_EQ(f.size(), 1u);
	EXPECT_EQ(f[0].entry, 0u);
	EXPECT_EQ(f[0].path, "boot_aggregate");
	EXPECT_EQ(f[0].reason, "digest not allowed");
}

TEST(RuntimePolicyEval, ViolationsFailUnlessExcludedOrZeroAllowed)
{
	ima::UnverifiedLog log;
	log.entries.push_back(*ima::make_violation("ima-ng", ima::HashAlgo::sha256, "/var/log/x"));
	log.entries.push_back(*ima::make_ima_ng(ima::HashAlgo::sha256, Bytes(32, 7), "/usr/bin/y"));
	RuntimePolicy p;
	p.digests["/var/log/x"] = {*attest::parse_policy_digest(std::string(64, 'a'))};
	p.digests["/usr/bin/y"] = {*attest::parse_policy_digest(to_hex(Bytes(32, 7)))};
	auto f = attest::evaluate(p, log);
	ASSERT_EQ(f.size(), 1u);
	EXPECT_EQ(f[0].entry, 0u);
	EXPECT_EQ(f[0].reason, "violation");
	EXPECT_EQ(f[0].digest, "sha256:" + std::string(40, '0'));
	p.digests.erase("/var/log/x");
	EXPECT_EQ(attest::evaluate(p, log).at(0).reason, "violation");
	p.exclude_globs = {"/var/log/*"};
	EXPECT_TRUE(attest::evaluate(p, log).empty());
	p.exclude_globs.clear();
	p.digests["/var/log/x"] = {*attest::parse_policy_digest(std::string(40, '0'))};
	EXPECT_TRUE(attest::evaluate(p, log).empty());
}

TEST(RuntimePolicyEval, ImaBufKeysAgainstKeyringsOthersAgainstImaBuf)
{
	auto log = corpus_log("keylime-tests-policy-commands-ima-ng-ima-buf.ascii_runtime_measurements");
	RuntimePolicy p;
	std::size_t keys = 0, bufs = 0, ima_idx = SIZE_MAX;
	for (std::size_t i = 0; i < log.entries.size(); ++i) {
		auto &e = log.entries[i];
		std::string name(*ima::event_name(e));
		auto d = *attest::parse_policy_digest(digest_of(e));
		if (e.template_name != "ima-buf") {
			p.digests[name].push_back(d);
		} else if (name.starts_with(".")) { // the keyrings of this list hold certificates
			p.keyrings[name].push_back(d);
			++keys;
			if (name == ".ima")
				ima_idx = i;
		} else {
			p.ima_buf[name].push_back(d);
			++bufs;
		}
	}
	ASSERT_GT(keys, 0u);
	ASSERT_GT(bufs, 0u);
	ASSERT_NE(ima_idx, SIZE_MAX);
	EXPECT_TRUE(attest::evaluate(p, log).empty());

	// A key's digest listed under ima_buf instead does not count.
	auto moved = p;
	moved.ima_buf[".ima"] = moved.keyrings[".ima"];
	moved.keyrings.erase(".ima");
	auto f = attest::evaluate(moved, log);
	ASSERT_FALSE(f.empty());
	EXPECT_EQ(f[0].entry, ima_idx);
	EXPECT_EQ(f[0].reason, "keyring not in policy");
	moved.ignored_keyrings = {".ima"};
	EXPECT_TRUE(attest::evaluate(moved, log).empty());
	moved.ignored_keyrings = {"*"};
	EXPECT_TRUE(attest::evaluate(moved, log).empty());

	auto nobuf = p;
	nobuf.ima_buf.clear();
	f = attest::evaluate(nobuf, log);
	ASSERT_EQ(f.size(), bufs);
	EXPECT_EQ(f[0].reason, "ima-buf name not in policy");
}

TEST(RuntimePolicyEval, FillsTheLogReport)
{
	auto log = corpus_log(perf_log);
	auto p = policy_from_log(log);
	auto rep = attest::verify_log(log, {});
	ASSERT_TRUE(rep.ok());
	std::string path(*ima::event_name(log.entries[5]));
	p.digests.erase(path);
	attest::apply_runtime_policy(p, log, rep);
	EXPECT_FALSE(rep.ok());
	auto j = rep.to_json();
	ASSERT_GE(j["policy_failures"].size(), 1u);
	EXPECT_EQ(j["policy_failures"][0]["entry"], 5);
	EXPECT_EQ(j["policy_failures"][0]["path"], path);
	EXPECT_EQ(j["policy_failures"][0]["reason"], "not in policy");
	EXPECT_EQ(j["policy_failures"][0]["digest"], digest_of(log.entries[5]));
	EXPECT_EQ(j["ok"], false);
}

TEST(RuntimePolicyEval, BadRegexBuiltInCodeIsReported)
{
	RuntimePolicy p;
	p.exclude_regexes = {"(("};
	EXPECT_FALSE(attest::check_excludes(p, "code"));
	auto f = attest::evaluate(p, corpus_log(perf_log));
	ASSERT_EQ(f.size(), 1u);
	EXPECT_EQ(f[0].entry, SIZE_MAX);
}

// fuzz/ascii_log found an 'ima' entry whose digest column held 103 bytes: policy_from_log
// wrote it as a sha1 digest that parse_runtime_policy (rightly) refused, so `eima policy
// from-log` made a policy eima could not read. Such an entry has no file digest: the
// policy is refused with the reason, and the evaluator names it.
TEST(RuntimePolicyFromLog, ImaDigestOfTheWrongSizeIsRefused)
{
	std::string line = "10 " + std::string(40, '1') + " ima " + std::string(206, 'a') +
			   " /usr/lib/systemd/systemd\n";
	auto log = ima::read_ascii_log(line);
	ASSERT_TRUE(log) << log.error().message();
	auto made = attest::policy_from_log(*log);
	ASSERT_FALSE(made);
	EXPECT_NE(made.error().message().find("103 bytes, not 20"), std::string::npos)
		<< made.error().message();
	// A right-sized one still makes a policy that reads back and allows the list.
	auto good = ima::read_ascii_log("10 " + std::string(40, '1') + " ima " +
					std::string(40, 'a') + " /usr/lib/systemd/systemd\n");
	ASSERT_TRUE(good);
	auto p = attest::policy_from_log(*good);
	ASSERT_TRUE(p) << p.error().message();
	auto back = attest::parse_runtime_policy(
		json_dump(attest::runtime_policy_to_json(p->policy)), "p.json");
	ASSERT_TRUE(back) << back.error().message();
	EXPECT_TRUE(attest::evaluate(*back, *good).empty());
}

// fuzz/ascii_log: an ima-ng entry that is not a violation (its header digest is not zero)
// but carries a violation's 20 zero bytes as a sha256 digest made from-log write a policy
// eima could not read back. It is refused, naming the entry.
TEST(RuntimePolicyFromLog, ViolationDigestInAnEntryThatIsNotOneIsRefused)
{
	auto log = ima::read_ascii_log("10 " + std::string(40, '1') + " ima-ng sha256:" +
				       std::string(40, '0') + " /bin/x\n");
	ASSERT_TRUE(log) << log.error().message();
	auto made = attest::policy_from_log(*log);
	ASSERT_FALSE(made);
	EXPECT_NE(made.error().message().find("entry 0: a sha256 digest of 20 bytes"),
		  std::string::npos)
		<< made.error().message();
}
