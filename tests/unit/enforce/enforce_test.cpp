// The user-space halves of enforcement, without fanotify: the audit log's lines and its
// rotation, and the verdict on one file (blessing xattr, trusted certificates, content),
// with keys generated here by the openssl command. tests/e2e/fanotify_enforce_test.sh runs
// the enforcer itself on a test mount.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "common/file_io.h"
#include "tests/unit/test_keys.h"
#include "common/json_text.h"
#include "enforce/audit_log.h"
#include "enforce/fanotify_enforcer.h"

namespace eima::enforce {
namespace {

namespace fs = std::filesystem;

class Enforce : public testing::Test {
protected:
	static void SetUpTestSuite()
	{
		dir_ = test::make_test_keys("eima-enforce-", {"a", "b"});
		ASSERT_FALSE(dir_.empty()) << "openssl could not make the test keys";
	}
	static void TearDownTestSuite() { fs::remove_all(dir_); }
	static std::string path(const std::string &name) { return (dir_ / name).string(); }

	// A file with this content, blessed by key `key` (nothing when key is empty).
	static void make_file(const std::string &name, std::string_view content,
			      const std::string &key)
	{
		ASSERT_TRUE(write_file(path(name), content));
		if (key.empty())
			return;
		auto signer = sbom::BlessingSigner::load(path(key + ".key"), path(key + ".pem"));
		ASSERT_TRUE(signer) << signer.error().message();
		auto d = ima::digest(ima::HashAlgo::sha256, as_bytes(content));
		auto v = signer->blessing(ima::HashAlgo::sha256, *d);
		ASSERT_TRUE(v);
		if (::setxattr(path(name).c_str(), "user.eima", v->data(), v->size(), 0) != 0)
			GTEST_SKIP() << "no user.* xattrs under " << dir_;
	}
	static FileVerdict verdict(const std::string &name, const std::vector<std::string> &certs)
	{
		std::vector<std::string> paths;
		for (auto &c : certs)
			paths.push_back(path(c + ".pem"));
		auto trusted = sbom::TrustedCerts::load(paths);
		EXPECT_TRUE(trusted);
		UniqueFd fd(::open(path(name).c_str(), O_RDONLY | O_CLOEXEC));
		EXPECT_TRUE(fd);
		return verify_blessed_file(fd.get(), *trusted, "user.eima");
	}
	static inline fs::path dir_;
};

TEST_F(Enforce, BlessedFileIsVerified)
{
	make_file("good", "\x7f" "ELF good", "a");
	auto v = verdict("good", {"a"});
	EXPECT_TRUE(v.verified) << v.reason;
	auto both = verdict("good", {"b", "a"}); // any trusted certificate will do
	EXPECT_TRUE(both.verified) << both.reason;
}

TEST_F(Enforce, EveryWayToFailSaysWhy)
{
	make_file("plain", "\x7f" "ELF plain", "");
	auto none = verdict("plain", {"a"});
	EXPECT_FALSE(none.verified);
	EXPECT_EQ(none.reason, "not blessed (no user.eima)");

	make_file("other", "\x7f" "ELF other", "b");
	auto other = verdict("other", {"a"});
	EXPECT_FALSE(other.verified);
	EXPECT_NE(other.reason.find("bad signature"), std::string::npos) << other.reason;

	// A valid blessing moved onto another content.
	make_file("changed", "\x7f" "ELF changed", "a");
	{
		std::ofstream out(path("changed"), std::ios::app);
		out << "!";
	}
	auto changed = verdict("changed", {"a"});
	EXPECT_FALSE(changed.verified);
	EXPECT_NE(changed.reason.find("not the blessed one"), std::string::npos) << changed.reason;

	// Garbage in the xattr.
	make_file("junk", "x", "");
	ASSERT_EQ(::setxattr(path("junk").c_str(), "user.eima", "EIMA", 4, 0), 0);
	auto junk = verdict("junk", {"a"});
	EXPECT_FALSE(junk.verified);
	EXPECT_NE(junk.reason.find("not an eima blessing"), std::string::npos) << junk.reason;
}

TEST_F(Enforce, ElfIsToldByItsMagic)
{
	make_file("elf", "\x7f" "ELF....", "");
	make_file("text", "#!/bin/sh\n", "");
	UniqueFd e(::open(path("elf").c_str(), O_RDONLY | O_CLOEXEC));
	UniqueFd t(::open(path("text").c_str(), O_RDONLY | O_CLOEXEC));
	EXPECT_TRUE(is_elf(e.get()));
	EXPECT_FALSE(is_elf(t.get()));
}

TEST_F(Enforce, AFanotifyDecisionIsAnAuditRecordLikeTheKernels)
{
	// fanotify's decisions go to the same RUN/audit.jsonl, in the same record as the BPF
	// hooks' (appraisal_record.h), so `eima audit` reads both; mechanism and detail say
	// which path decided.
	AppraisalRecord r;
	r.time_ns = 1'700'000'000'123'456'000;
	r.container = "host";
	r.pid = r.tid = 42;
	r.comm = "sh";
	r.path = "/mnt/bin/odd\xff";
	r.dev = (8u << 20) | 1;
	r.ino = 7;
	r.operation = "exec";
	r.reason = "not blessed";
	r.denied = true;
	r.mechanism = "fanotify";
	r.detail = "fanotify:FAN_OPEN_EXEC_PERM";
	auto log = AuditLog::open(path("audit.jsonl"));
	ASSERT_TRUE(log) << log.error().message();
	ASSERT_TRUE(log->append(json_dump(to_json(r))));
	auto text = read_file(path("audit.jsonl"));
	ASSERT_TRUE(text);
	EXPECT_NE(text->find(R"("path":"/mnt/bin/odd\udcff")"), std::string::npos) << *text;
	EXPECT_NE(text->find(R"("mechanism":"fanotify")"), std::string::npos);
	auto j = json_parse(text->substr(0, text->size() - 1), "audit");
	ASSERT_TRUE(j);
	auto back = record_from_json(*j);
	ASSERT_TRUE(back) << back.error().message();
	EXPECT_EQ(back->path, r.path);
	EXPECT_EQ(back->dev, r.dev);
	EXPECT_EQ(back->mechanism, "fanotify");
	EXPECT_EQ(back->detail, r.detail);
	EXPECT_TRUE(back->denied);
}

} // namespace
} // namespace eima::enforce
