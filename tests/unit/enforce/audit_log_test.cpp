// RUN/audit.jsonl: whole lines, rotated before a line would pass the bound, at most `keep`
// old files, read back oldest first.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "enforce/audit_log.h"

namespace eima::enforce {
namespace {

namespace fs = std::filesystem;

struct TempDir {
	fs::path dir;
	TempDir()
	{
		char t[] = "/tmp/eima-audit-test.XXXXXX";
		dir = ::mkdtemp(t);
	}
	~TempDir() { fs::remove_all(dir); }
};

std::string slurp(const std::string &p)
{
	std::ifstream f(p);
	std::stringstream s;
	s << f.rdbuf();
	return s.str();
}

TEST(AuditLog, RotatesAtTheBoundAndKeepsOnlyKeepFiles)
{
	TempDir t;
	std::string path = t.dir / "audit.jsonl";
	auto log = AuditLog::open(path, {100, 2});
	ASSERT_TRUE(log) << log.error().message();
	// 30-byte lines (29 + newline): three fit in 100 bytes, the fourth rotates.
	for (int i = 0; i < 20; ++i) {
		char line[32];
		std::snprintf(line, sizeof(line), "{\"n\":%02d,\"pad\":\"xxxxxxxxxxxx\"}", i);
		ASSERT_EQ(std::string(line).size(), 29u);
		ASSERT_TRUE(log->append(line));
	}
	EXPECT_EQ(log->lines_written(), 20u);
	EXPECT_EQ(log->rotations(), 6u); // 20 lines, 3 per file: 7 files made, 6 rotations
	auto files = audit_log_files(path, 2);
	ASSERT_EQ(files.size(), 3u);
	EXPECT_EQ(files[0], path + ".2");
	EXPECT_EQ(files[1], path + ".1");
	EXPECT_EQ(files[2], path);
	EXPECT_FALSE(fs::exists(path + ".3")); // beyond keep: deleted
	std::string all;
	for (auto &f : files) {
		EXPECT_LE(fs::file_size(f), 100u) << f;
		all += slurp(f);
	}
	// The newest lines, in order, whole: 12..19 (lines 0..11 rotated out).
	std::string want;
	for (int i = 12; i < 20; ++i) {
		char line[32];
		std::snprintf(line, sizeof(line), "{\"n\":%02d,\"pad\":\"xxxxxxxxxxxx\"}\n", i);
		want += line;
	}
	EXPECT_EQ(all, want);
}

TEST(AuditLog, ReopenAppendsAndCountsTheExistingSize)
{
	TempDir t;
	std::string path = t.dir / "audit.jsonl";
	{
		auto log = AuditLog::open(path, {64, 1});
		ASSERT_TRUE(log);
		ASSERT_TRUE(log->append(std::string(40, 'a')));
	}
	auto log = AuditLog::open(path, {64, 1});
	ASSERT_TRUE(log);
	ASSERT_TRUE(log->append(std::string(40, 'b'))); // 41 + 41 > 64: rotates first
	EXPECT_EQ(slurp(path + ".1"), std::string(40, 'a') + "\n");
	EXPECT_EQ(slurp(path), std::string(40, 'b') + "\n");
}

TEST(AuditLog, OpenErrorNamesThePath)
{
	auto log = AuditLog::open("/nonexistent-dir/audit.jsonl");
	ASSERT_FALSE(log);
	EXPECT_NE(log.error().message().find("/nonexistent-dir/audit.jsonl"), std::string::npos);
}

} // namespace
} // namespace eima::enforce
