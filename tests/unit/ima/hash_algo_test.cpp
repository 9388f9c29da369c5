#include "ima/hash_algo.h"

#include <fcntl.h>
#include <unistd.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <memory>

#include "common/unique_fd.h"
#include "test_files.h"

namespace eima::ima {
namespace {

using test::as_bytes;

TEST(HashAlgo, KernelNamesRoundTrip)
{
	for (HashAlgo a : all_hash_algos)
		EXPECT_EQ(hash_algo_from_name(hash_algo_name(a)), a);
	EXPECT_EQ(hash_algo_name(HashAlgo::sm3_256), "sm3_256");
	EXPECT_EQ(hash_algo_from_name("SM3"), std::nullopt); // OpenSSL's name, not the kernel's
	EXPECT_EQ(hash_algo_from_name("SHA256"), std::nullopt);
	EXPECT_EQ(hash_algo_from_name("md5"), std::nullopt);
	EXPECT_EQ(digest_size(HashAlgo::sha1), 20u);
	EXPECT_EQ(digest_size(HashAlgo::sha256), 32u);
	EXPECT_EQ(digest_size(HashAlgo::sha384), 48u);
	EXPECT_EQ(digest_size(HashAlgo::sha512), 64u);
	EXPECT_EQ(digest_size(HashAlgo::sm3_256), 32u);
	EXPECT_EQ(kernel_digest_size("md5"), 16u);
	EXPECT_EQ(kernel_digest_size("streebog512"), 64u);
	EXPECT_EQ(kernel_digest_size("unknown"), std::nullopt);
}

TEST(HashAlgo, KnownVectors)
{
	const std::string abc = "abc";
	EXPECT_EQ(to_hex(*digest(HashAlgo::sha1, as_bytes(abc))),
		  "a9993e364706816aba3e25717850c26c9cd0d89d");
	EXPECT_EQ(to_hex(*digest(HashAlgo::sha256, as_bytes(abc))),
		  "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	// GB/T 32905-2016 example 1.
	EXPECT_EQ(to_hex(*digest(HashAlgo::sm3_256, as_bytes(abc))),
		  "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0");
}

TEST(HashAlgo, IncrementalEqualsOneShotAndResets)
{
	std::string data(100000, 'x');
	for (std::size_t i = 0; i < data.size(); ++i)
		data[i] = static_cast<char>(i * 7);
	for (HashAlgo a : all_hash_algos) {
		auto h = Hasher::create(a);
		ASSERT_TRUE(h) << h.error().message();
		h->update(std::string_view(data).substr(0, 1));
		h->update(std::string_view(data).substr(1, 4095));
		h->update(std::string_view(data).substr(4096));
		auto one = digest(a, as_bytes(data));
		EXPECT_EQ(*h->finish(), *one) << hash_algo_name(a);
		// finish() resets: the same hasher gives the same digest again.
		h->update(data);
		EXPECT_EQ(*h->finish(), *one) << hash_algo_name(a);
	}
}

TEST(HashAlgo, HashFileMatchesOpensslCli)
{
	test::TempDir dir;
	const std::string path = dir.file("blob");
	// 1 MiB + 13: several 256 KiB blocks and a short tail.
	std::string data(1024 * 1024 + 13, '\0');
	for (std::size_t i = 0; i < data.size(); ++i)
		data[i] = static_cast<char>((i * 2654435761u) >> 13);
	test::write_text(path, data);
	UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
	ASSERT_TRUE(fd);
	ASSERT_EQ(::lseek(fd.get(), 4096, SEEK_SET), 4096); // hash_file ignores the fd offset
	for (HashAlgo a : all_hash_algos) {
		auto by_fd = hash_file(a, fd.get(), path);
		ASSERT_TRUE(by_fd) << by_fd.error().message();
		EXPECT_EQ(*by_fd, *digest(a, as_bytes(data))) << hash_algo_name(a);
		EXPECT_EQ(*hash_path(a, path), *by_fd);
	}
	// Independent implementation: the openssl command line.
	const std::pair<HashAlgo, const char *> cli[] = {{HashAlgo::sha256, "sha256"},
							 {HashAlgo::sha512, "sha512"},
							 {HashAlgo::sm3_256, "sm3"}};
	for (auto [algo, name] : cli) {
		std::string cmd = std::string("openssl dgst -") + name + " -r '" + path + "' 2>/dev/null";
		std::unique_ptr<FILE, int (*)(FILE *)> p(popen(cmd.c_str(), "r"), pclose);
		char buf[256] = {};
		if (!p || !fgets(buf, sizeof buf, p.get()))
			GTEST_SKIP() << "openssl CLI not available for " << name;
		std::string out(buf);
		EXPECT_EQ(out.substr(0, out.find(' ')), to_hex(*hash_path(algo, path))) << name;
	}
}

TEST(HashAlgo, ReadErrorsNameTheFile)
{
	auto r = hash_file(HashAlgo::sha256, 987654);
	ASSERT_FALSE(r);
	EXPECT_EQ(r.error().err, EBADF);
	EXPECT_NE(r.error().message().find("fd 987654"), std::string::npos) << r.error().message();

	// A directory opens but cannot be read: EISDIR, with the path in the message.
	UniqueFd dirfd(::open("/", O_RDONLY | O_CLOEXEC));
	auto d = hash_file(HashAlgo::sha1, dirfd.get(), "/");
	ASSERT_FALSE(d);
	EXPECT_EQ(d.error().err, EISDIR);
	EXPECT_NE(d.error().message().find("/ at offset 0"), std::string::npos) << d.error().message();

	auto missing = hash_path(HashAlgo::sha1, "/nonexistent/eima");
	ASSERT_FALSE(missing);
	EXPECT_EQ(missing.error().err, ENOENT);
	EXPECT_NE(missing.error().message().find("/nonexistent/eima"), std::string::npos);
}

} // namespace
} // namespace eima::ima

// Files of 8 MiB and more are read ahead on a second thread: the digest must not change,
// whatever the file size is modulo the 1 MiB block.
TEST(HashAlgo, PipelinedLargeFilesHashLikeOneShot)
{
	for (std::size_t size : {std::size_t(8) << 20, (std::size_t(9) << 20) + 12345}) {
		eima::Bytes data(size);
		for (std::size_t i = 0; i < size; ++i)
			data[i] = static_cast<std::uint8_t>(i * 2654435761u >> 13);
		char path[] = "/tmp/eima-hash-large.XXXXXX";
		eima::UniqueFd fd(::mkstemp(path));
		ASSERT_TRUE(fd);
		::unlink(path);
		ASSERT_EQ(::write(fd.get(), data.data(), size), static_cast<ssize_t>(size));
		for (auto algo : {eima::ima::HashAlgo::sha256, eima::ima::HashAlgo::sha1}) {
			auto want = eima::ima::digest(algo, data);
			auto got = eima::ima::hash_file(algo, fd.get(), "large");
			ASSERT_TRUE(want && got);
			EXPECT_EQ(*got, *want) << size;
		}
	}
}
