#include "ima/hash_algo.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <cerrno>
#include <string>
#include <utility>
#include <thread>
#include <vector>

#include "common/unique_fd.h"

namespace eima::ima {

namespace {

struct AlgoInfo {
	HashAlgo algo;
	std::string_view kernel_name;
	const char *openssl_name;
	std::size_t size;
};

constexpr AlgoInfo algo_table[] = {
    {HashAlgo::sha1, "sha1", "SHA1", 20},
    {HashAlgo::sha256, "sha256", "SHA256", 32},
    {HashAlgo::sha384, "sha384", "SHA384", 48},
    {HashAlgo::sha512, "sha512", "SHA512", 64},
    {HashAlgo::sm3_256, "sm3_256", "SM3", 32},
};

// include/uapi/linux/hash_info.h + crypto/hash_info.c: every name a d-ng field can carry.
constexpr std::pair<std::string_view, std::size_t> kernel_algo_sizes[] = {
    {"md4", 16},	 {"md5", 16},	      {"sha1", 20},	   {"rmd160", 20},
    {"sha256", 32},	 {"sha384", 48},      {"sha512", 64},	   {"sha224", 28},
    {"rmd128", 16},	 {"rmd256", 32},      {"rmd320", 40},	   {"wp256", 32},
    {"wp384", 48},	 {"wp512", 64},	      {"tgr128", 16},	   {"tgr160", 20},
    {"tgr192", 24},	 {"sm3_256", 32},     {"streebog256", 32}, {"streebog512", 64},
    {"sha3_256", 32}, {"sha3_384", 48},    {"sha3_512", 64},
};

const AlgoInfo &info(HashAlgo algo) { return algo_table[static_cast<std::size_t>(algo)]; }

// EVP_MD_fetch is slow (provider lookup, locking); fetch each algorithm once per process.
// The fetched objects live until exit on purpose.
const EVP_MD *fetched_md(HashAlgo algo)
{
	static EVP_MD *mds[std::size(algo_table)] = {};
	static const bool done = [] {
		for (const auto &a : algo_table)
			mds[static_cast<std::size_t>(a.algo)] =
			    EVP_MD_fetch(nullptr, a.openssl_name, nullptr);
		return true;
	}();
	(void)done;
	return mds[static_cast<std::size_t>(algo)];
}

EVP_MD_CTX *as_ctx(void *p) { return static_cast<EVP_MD_CTX *>(p); }

} // namespace

std::string_view hash_algo_name(HashAlgo algo) { return info(algo).kernel_name; }

std::optional<HashAlgo> hash_algo_from_name(std::string_view name)
{
	for (const auto &a : algo_table)
		if (a.kernel_name == name)
			return a.algo;
	return std::nullopt;
}

std::size_t digest_size(HashAlgo algo) { return info(algo).size; }

std::optional<std::size_t> kernel_digest_size(std::string_view kernel_name)
{
	for (const auto &[name, size] : kernel_algo_sizes)
		if (name == kernel_name)
			return size;
	return std::nullopt;
}

Result<Hasher> Hasher::create(HashAlgo algo)
{
	const EVP_MD *md = fetched_md(algo);
	if (!md)
		return fail("EVP_MD_fetch", std::string(info(algo).openssl_name) +
						": algorithm not available in OpenSSL");
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx)
		return fail(ENOMEM, "EVP_MD_CTX_new");
	if (EVP_DigestInit_ex2(ctx, md, nullptr) != 1) {
		EVP_MD_CTX_free(ctx);
		return fail("EVP_DigestInit_ex2", info(algo).openssl_name);
	}
	return Hasher(algo, ctx);
}

Hasher::Hasher(Hasher &&other) noexcept
    : algo_(other.algo_), ctx_(std::exchange(other.ctx_, nullptr)), failed_(other.failed_)
{
}

Hasher &Hasher::operator=(Hasher &&other) noexcept
{
	if (this != &other) {
		EVP_MD_CTX_free(as_ctx(ctx_));
		algo_ = other.algo_;
		ctx_ = std::exchange(other.ctx_, nullptr);
		failed_ = other.failed_;
	}
	return *this;
}

Hasher::~Hasher() { EVP_MD_CTX_free(as_ctx(ctx_)); }

void Hasher::update(std::span<const std::uint8_t> bytes)
{
	if (!bytes.empty() && EVP_DigestUpdate(as_ctx(ctx_), bytes.data(), bytes.size()) != 1)
		failed_ = true;
}

void Hasher::update(std::string_view bytes)
{
	if (!bytes.empty() && EVP_DigestUpdate(as_ctx(ctx_), bytes.data(), bytes.size()) != 1)
		failed_ = true;
}

void Hasher::update_u32_le(std::uint32_t value)
{
	const std::uint8_t le[4] = {static_cast<std::uint8_t>(value),
				    static_cast<std::uint8_t>(value >> 8),
				    static_cast<std::uint8_t>(value >> 16),
				    static_cast<std::uint8_t>(value >> 24)};
	update(std::span<const std::uint8_t>(le));
}

void Hasher::reset()
{
	failed_ = EVP_DigestInit_ex2(as_ctx(ctx_), fetched_md(algo_), nullptr) != 1;
}

Result<void> Hasher::finish(std::span<std::uint8_t> out)
{
	if (out.size() < size())
		return fail(EINVAL, "hash finish", "output buffer too small");
	unsigned int len = 0;
	bool ok = !failed_ && EVP_DigestFinal_ex(as_ctx(ctx_), out.data(), &len) == 1 &&
		  len == size();
	reset();
	if (!ok)
		return fail("EVP_Digest", std::string(hash_algo_name(algo_)));
	return {};
}

Result<Bytes> Hasher::finish()
{
	Bytes out(size());
	if (auto r = finish(out); !r)
		return std::unexpected(r.error());
	return out;
}

Result<Bytes> digest(HashAlgo algo, std::span<const std::uint8_t> bytes)
{
	auto h = Hasher::create(algo);
	if (!h)
		return std::unexpected(h.error());
	h->update(bytes);
	return h->finish();
}

namespace {

// Large files are read ahead on a second thread, into one of two buffers while the other
// is hashed: the copy out of the page cache (a fifth of the time of SHA-256 with SHA-NI)
// then overlaps the hashing instead of adding to it. Below this size a thread costs more
// than it saves.
constexpr off_t pipelined_min_size = 8 << 20;
constexpr std::size_t pipelined_block = 1 << 20;

Result<void> hash_pipelined(Hasher &h, int fd, off_t size, const std::string &what)
{
	std::vector<std::uint8_t> bufs[2] = {std::vector<std::uint8_t>(pipelined_block),
					      std::vector<std::uint8_t>(pipelined_block)};
	ssize_t got[2] = {0, 0};
	int err[2] = {0, 0};
	auto read_block = [&](int slot, off_t offset) {
		for (;;) {
			ssize_t n = ::pread(fd, bufs[slot].data(), pipelined_block, offset);
			if (n < 0 && errno == EINTR)
				continue;
			got[slot] = n;
			err[slot] = n < 0 ? errno : 0;
			return;
		}
	};
	off_t offset = 0;
	read_block(0, 0);
	for (int slot = 0;; slot ^= 1) {
		if (err[slot])
			return fail(err[slot], "read", what + " at offset " + std::to_string(offset));
		if (got[slot] == 0)
			return {};
		off_t next = offset + got[slot];
		// The next block is read while this one is hashed; a file that grew or shrank
		// meanwhile is hashed as read, like any other read of a changing file.
		std::thread ahead;
		if (next < size || got[slot] == static_cast<ssize_t>(pipelined_block))
			ahead = std::thread(read_block, slot ^ 1, next);
		else
			got[slot ^ 1] = 0, err[slot ^ 1] = 0;
		h.update(std::span<const std::uint8_t>(bufs[slot].data(),
						       static_cast<std::size_t>(got[slot])));
		if (ahead.joinable())
			ahead.join();
		offset = next;
	}
}

} // namespace

Result<Bytes> hash_file(HashAlgo algo, int fd, std::string_view what)
{
	// 256 KiB per read: large enough that syscall cost vanishes next to hashing, small
	// enough to stay in L2. One buffer per thread, allocated once (a fresh 256 KiB vector
	// per call would be an mmap/munmap pair each time, above glibc's mmap threshold).
	constexpr std::size_t block = 256 * 1024;
	thread_local std::vector<std::uint8_t> buffer(block);
	thread_local std::optional<Hasher> hashers[std::size(algo_table)];

	auto context = [&] {
		return what.empty() ? "fd " + std::to_string(fd) : std::string(what);
	};
	auto &slot = hashers[static_cast<std::size_t>(algo)];
	if (!slot) {
		auto h = Hasher::create(algo);
		if (!h)
			return std::unexpected(h.error());
		slot.emplace(std::move(*h));
	}
	Hasher &h = *slot;
	h.reset();
	struct stat st;
	bool regular = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
	// Read-ahead hint only where there is more than one read to come: for the small files
	// that are most of what eimad measures it is a syscall per file for nothing.
	if (!regular || static_cast<std::size_t>(st.st_size) > block)
		(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	if (regular && st.st_size >= pipelined_min_size) {
		if (auto r = hash_pipelined(h, fd, st.st_size, context()); !r)
			return std::unexpected(r.error());
		auto out = h.finish();
		if (!out)
			return fail(out.error().err, out.error().op, context());
		return out;
	}
	off_t offset = 0;
	for (;;) {
		ssize_t n = ::pread(fd, buffer.data(), buffer.size(), offset);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return fail(errno, "read", context() + " at offset " + std::to_string(offset));
		}
		if (n == 0)
			break;
		h.update(std::span<const std::uint8_t>(buffer.data(), static_cast<std::size_t>(n)));
		offset += n;
		// A short read that reaches the size fstat gave is the end: no read of 0 bytes
		// to confirm it (half the reads of a small file). A file that changes meanwhile
		// is the caller's to detect (eimad compares size and ctime after hashing).
		if (regular && static_cast<std::size_t>(n) < buffer.size() && offset >= st.st_size)
			break;
	}
	auto out = h.finish();
	if (!out)
		return fail(out.error().err, out.error().op, context());
	return out;
}

Result<Bytes> hash_path(HashAlgo algo, const std::string &path)
{
	UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
	if (!fd)
		return fail(errno, "open", path);
	return hash_file(algo, fd.get(), path);
}

} // namespace eima::ima
