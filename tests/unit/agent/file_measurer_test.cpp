// FileMeasurer on real files in a scratch directory (no root, no BPF): the kernel's digest
// is used as it is, a file is opened and hashed only when needed, and a file that is not
// the version the kernel saw (rewritten, replaced) is never hashed into an entry.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "agent/file_measurer.h"
#include "agent/file_opener.h"

using namespace eima;
using namespace eima::agent;

namespace {

class FileMeasurerTest : public ::testing::Test {
protected:
	void SetUp() override
	{
		char tmpl[] = "/tmp/eima-measurer-XXXXXX";
		ASSERT_NE(::mkdtemp(tmpl), nullptr);
		dir_ = tmpl;
		root_ = ::open(dir_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
		ASSERT_GE(root_, 0);
	}
	void TearDown() override
	{
		::close(root_);
		std::filesystem::remove_all(dir_);
	}

	void write(const std::string &name, const std::string &content)
	{
		std::ofstream(dir_ + "/" + name, std::ios::trunc) << content;
	}
	// The event the kernel would send for the file as it is now.
	eima_event_head event_for(const std::string &name)
	{
		eima_event_head h{};
		int fd = ::open((dir_ + "/" + name).c_str(), O_RDONLY | O_CLOEXEC);
		EXPECT_GE(fd, 0);
		auto v = file_version(fd);
		::close(fd);
		EXPECT_TRUE(v);
		h.file = *v;
		h.file.cookie = h.file.ctime_ns ^ h.file.size;
		return h;
	}
	static Bytes sha256(const std::string &s)
	{
		return *ima::digest(ima::HashAlgo::sha256,
				    std::span(reinterpret_cast<const std::uint8_t *>(s.data()), s.size()));
	}

	std::string dir_;
	int root_ = -1;
	MeasurementCache cache_;
	FileMeasurer measurer_{cache_};
};

TEST_F(FileMeasurerTest, HashesTheFileItOpensAndCachesTheVersion)
{
	write("bin", "hello");
	auto h = event_for("bin");
	int roots[] = {-1, root_};
	EXPECT_TRUE(measurer_.needs_file(h, ima::HashAlgo::sha256, false));
	auto m = measurer_.measure(h, "/bin", ima::HashAlgo::sha256, false, roots);
	ASSERT_TRUE(m.digest) << m.digest.error().message();
	EXPECT_EQ(*m.digest, sha256("hello"));
	EXPECT_EQ(m.source, Measurement::Source::file);
	// Cached: no root needed any more.
	EXPECT_FALSE(measurer_.needs_file(h, ima::HashAlgo::sha256, false));
	auto again = measurer_.measure(h, "/bin", ima::HashAlgo::sha256, false, {});
	ASSERT_TRUE(again.digest);
	EXPECT_EQ(again.source, Measurement::Source::cache);
	EXPECT_EQ(*again.digest, sha256("hello"));
}

TEST_F(FileMeasurerTest, UsesTheKernelsDigestWithoutOpeningTheFile)
{
	eima_event_head h{};
	h.file.dev = 1;
	h.file.ino = 99; // no such file anywhere: it must not be needed
	h.flags = EIMA_EVF_KERNEL_DIGEST;
	h.digest_algo = 4; // HASH_ALGO_SHA256
	Bytes want = sha256("ran");
	std::copy(want.begin(), want.end(), h.digest);
	EXPECT_FALSE(measurer_.needs_file(h, ima::HashAlgo::sha256, false));
	auto m = measurer_.measure(h, "/gone", ima::HashAlgo::sha256, false, {});
	ASSERT_TRUE(m.digest) << m.digest.error().message();
	EXPECT_EQ(*m.digest, want);
	EXPECT_EQ(m.source, Measurement::Source::kernel);
	EXPECT_EQ(measurer_.kernel_digests_used(), 1u);
	// The cache holds it for the next namespace that runs the same version.
	EXPECT_TRUE(cache_.find(h.file, ima::HashAlgo::sha256));
}

TEST_F(FileMeasurerTest, AKernelDigestOfAnotherAlgorithmMeansHashingTheFile)
{
	write("bin", "abc");
	auto h = event_for("bin");
	h.flags = EIMA_EVF_KERNEL_DIGEST;
	h.digest_algo = 4; // SHA-256, but the list wants SHA-1 (template ima)
	EXPECT_TRUE(measurer_.needs_file(h, ima::HashAlgo::sha1, false));
	int roots[] = {root_};
	auto m = measurer_.measure(h, "/bin", ima::HashAlgo::sha1, false, roots);
	ASSERT_TRUE(m.digest) << m.digest.error().message();
	EXPECT_EQ(m.source, Measurement::Source::file);
	EXPECT_EQ(m.digest->size(), 20u);
	EXPECT_EQ(measurer_.kernel_digests_unusable(), 1u);
	// Gone for good: an error (a violation), not a guess.
	cache_ = MeasurementCache();
	std::filesystem::remove(dir_ + "/bin");
	auto none = measurer_.measure(h, "/bin", ima::HashAlgo::sha1, false, roots);
	EXPECT_FALSE(none.digest);
}

TEST_F(FileMeasurerTest, WithEveryRootGoneTheFileIsFoundByItsIdentityOnTheHost)
{
	// A container whose processes all exited before eimad read the event: no root to
	// resolve its path beneath, and the path means nothing on the host. The inode the
	// kernel reported is still there (ext4, xfs and tmpfs handles are known).
	write("bin", "short-lived");
	auto h = event_for("bin");
	auto m = measurer_.measure(h, "/not/a/host/path", ima::HashAlgo::sha256, false, {});
	ASSERT_TRUE(m.digest) << m.digest.error().message();
	EXPECT_EQ(*m.digest, sha256("short-lived"));
	// The same inode, rewritten: found, and refused.
	cache_ = MeasurementCache();
	std::ofstream(dir_ + "/bin", std::ios::in | std::ios::out) << "rewritten, and longer";
	auto changed = measurer_.measure(h, "/not/a/host/path", ima::HashAlgo::sha256, false, {});
	ASSERT_FALSE(changed.digest);
	EXPECT_EQ(changed.digest.error().err, EAGAIN) << changed.digest.error().message();
}

TEST_F(FileMeasurerTest, AFileRewrittenSinceTheKernelSawItIsNotHashed)
{
	write("lib.so", "version one");
	auto h = event_for("lib.so");
	// Same inode, new content and size (and ctime): not the version that was mapped.
	std::ofstream(dir_ + "/lib.so", std::ios::in | std::ios::out) << "VERSION TWO, longer";
	int roots[] = {root_};
	auto m = measurer_.measure(h, "/lib.so", ima::HashAlgo::sha256, false, roots);
	ASSERT_FALSE(m.digest);
	EXPECT_EQ(m.digest.error().err, EAGAIN) << m.digest.error().message();
	EXPECT_NE(m.digest.error().message().find("changed before it was measured"),
		  std::string::npos)
		<< m.digest.error().message();
	EXPECT_FALSE(cache_.find(h.file, ima::HashAlgo::sha256)); // nothing cached
}

TEST_F(FileMeasurerTest, SameSizeRewriteIsCaughtByCtime)
{
	write("bin", "aaaa");
	auto h = event_for("bin");
	h.file.ctime_ns -= 1; // as if the kernel saw it a moment before a same-size rewrite
	int roots[] = {root_};
	auto m = measurer_.measure(h, "/bin", ima::HashAlgo::sha256, false, roots);
	ASSERT_FALSE(m.digest);
	EXPECT_EQ(m.digest.error().err, EAGAIN);
}

TEST_F(FileMeasurerTest, APathThatNowNamesAnotherFileIsNotHashed)
{
	write("bin", "old");
	auto h = event_for("bin");
	write("bin.new", "new");
	std::filesystem::rename(dir_ + "/bin.new", dir_ + "/bin"); // replaced, as installers do
	int roots[] = {root_};
	auto m = measurer_.measure(h, "/bin", ima::HashAlgo::sha256, false, roots);
	ASSERT_FALSE(m.digest);
	EXPECT_EQ(m.digest.error().err, ESTALE) << m.digest.error().message();
}

TEST_F(FileMeasurerTest, ATruncatedPathIsAViolationWithoutLookingAtTheFile)
{
	eima_event_head h{};
	h.flags = EIMA_EVF_PATH_TRUNCATED | EIMA_EVF_KERNEL_DIGEST;
	h.digest_algo = 4;
	EXPECT_FALSE(measurer_.needs_file(h, ima::HashAlgo::sha256, false));
	auto m = measurer_.measure(h, "/x", ima::HashAlgo::sha256, false, {});
	ASSERT_FALSE(m.digest);
	EXPECT_EQ(m.digest.error().err, ENAMETOOLONG);
}

TEST(KernelHashAlgo, MapsTheKernelsStableNumbers)
{
	EXPECT_EQ(from_kernel_hash_algo(2), ima::HashAlgo::sha1);
	EXPECT_EQ(from_kernel_hash_algo(4), ima::HashAlgo::sha256);
	EXPECT_EQ(from_kernel_hash_algo(5), ima::HashAlgo::sha384);
	EXPECT_EQ(from_kernel_hash_algo(6), ima::HashAlgo::sha512);
	EXPECT_EQ(from_kernel_hash_algo(1), std::nullopt); // md5: never recorded
	EXPECT_EQ(from_kernel_hash_algo(-22), std::nullopt);
}

} // namespace
