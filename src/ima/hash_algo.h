// Hash algorithms of IMA: the kernel's names, digest sizes, and hashing over OpenSSL EVP.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

#include "common/error.h"
#include "common/hex.h"

namespace eima::ima {

// The algorithms eima hashes files and extends PCR banks with. Names are the kernel's
// hash_algo_name[] strings as they appear in d-ng fields ("sm3_256", which OpenSSL calls "SM3").
enum class HashAlgo : std::uint8_t { sha1, sha256, sha384, sha512, sm3_256 };

inline constexpr HashAlgo all_hash_algos[] = {HashAlgo::sha1, HashAlgo::sha256,
					      HashAlgo::sha384, HashAlgo::sha512,
					      HashAlgo::sm3_256};

inline constexpr std::size_t max_digest_size = 64;

std::string_view hash_algo_name(HashAlgo algo);
// Kernel name ("sha256") to enum; nullopt for anything else (md5, "SHA256", "unknown").
std::optional<HashAlgo> hash_algo_from_name(std::string_view name);
std::size_t digest_size(HashAlgo algo);

// Digest size of any name in the kernel's hash_algo_name[] table (md5, sha224, streebog256,
// sha3_256, ...), so that d-ng fields of algorithms eima does not hash with still parse;
// nullopt for names the kernel does not know.
std::optional<std::size_t> kernel_digest_size(std::string_view kernel_name);

// Incremental hashing. One Hasher per thread; reset() reuses the EVP context, so the hot
// paths (template hashes, replay of a million entries) allocate nothing per digest.
class Hasher {
public:
	// Fails only when OpenSSL lacks the algorithm (e.g. SM3 disabled in a FIPS build).
	static Result<Hasher> create(HashAlgo algo);

	Hasher(Hasher &&) noexcept;
	Hasher &operator=(Hasher &&) noexcept;
	~Hasher();

	HashAlgo algo() const { return algo_; }
	std::size_t size() const { return digest_size(algo_); }

	void update(std::span<const std::uint8_t> bytes);
	void update(std::string_view bytes);
	void update_u32_le(std::uint32_t value);
	// Writes size() bytes to out (which must hold them) and resets for the next digest.
	Result<void> finish(std::span<std::uint8_t> out);
	Result<Bytes> finish();
	void reset();

private:
	explicit Hasher(HashAlgo algo, void *ctx) : algo_(algo), ctx_(ctx) {}
	HashAlgo algo_;
	void *ctx_ = nullptr; // EVP_MD_CTX*, kept opaque so users need no OpenSSL headers
	bool failed_ = false;
};

Result<Bytes> digest(HashAlgo algo, std::span<const std::uint8_t> bytes);

// Hashes the whole file behind fd from offset 0 (pread, 256 KiB blocks; the fd's offset is
// left alone). `what` names the file in errors (a path); "fd N" when empty.
Result<Bytes> hash_file(HashAlgo algo, int fd, std::string_view what = {});
// Opens path read-only (O_CLOEXEC|O_NOCTTY) and hashes it.
Result<Bytes> hash_path(HashAlgo algo, const std::string &path);

} // namespace eima::ima
