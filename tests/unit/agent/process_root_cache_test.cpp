// ProcessRootCache: one open per run of events from one process, none kept past clear().
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/process_root_cache.h"

namespace eima::agent {
namespace {

bool same_file(int fd, const char *path)
{
	struct stat a, b;
	return ::fstat(fd, &a) == 0 && ::stat(path, &b) == 0 && a.st_dev == b.st_dev &&
	       a.st_ino == b.st_ino;
}

TEST(ProcessRootCache, OneOpenForARunOfOneProcess)
{
	ProcessRootCache cache;
	int self = static_cast<int>(::getpid());
	int fd = cache.root_of(self);
	ASSERT_GE(fd, 0);
	EXPECT_TRUE(same_file(fd, "/"));
	EXPECT_EQ(cache.root_of(self), fd);
	EXPECT_EQ(cache.opens(), 1u);
}

TEST(ProcessRootCache, AnotherProcessReopensAndClosesTheFirst)
{
	ProcessRootCache cache;
	int fd = cache.root_of(static_cast<int>(::getpid()));
	ASSERT_GE(fd, 0);
	int other = cache.root_of(1);
	EXPECT_EQ(cache.opens(), 2u);
	// The first fd is closed (or reused for the second): never two held at once.
	EXPECT_TRUE(other == fd || ::fcntl(fd, F_GETFD) == -1);
}

TEST(ProcessRootCache, AGoneProcessIsRememberedAsGone)
{
	ProcessRootCache cache;
	// Beyond pid_max (at most 2^22): no such process.
	EXPECT_EQ(cache.root_of(1 << 23), -1);
	EXPECT_EQ(cache.root_of(1 << 23), -1);
	EXPECT_EQ(cache.opens(), 1u);
}

TEST(ProcessRootCache, ClearClosesAndForgets)
{
	ProcessRootCache cache;
	int self = static_cast<int>(::getpid());
	int fd = cache.root_of(self);
	ASSERT_GE(fd, 0);
	cache.clear();
	EXPECT_EQ(::fcntl(fd, F_GETFD), -1);
	EXPECT_GE(cache.root_of(self), 0);
	EXPECT_EQ(cache.opens(), 2u);
}

} // namespace
} // namespace eima::agent
