// What eimad remembers per file version, compactly (100,000 files in ~20 MiB):
// - which (mount namespace, file version) pairs are already in a list: the kernel's LRU
//   cache may forget and report a file twice, and two CPUs may report the same new file
//   at once, but a list holds each file version once;
// - the digest of each file version, hashed once for every namespace that runs it.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <unordered_map>
#include <unordered_set>

#include "bpf/abi/event.h"
#include "common/hex.h"
#include "ima/hash_algo.h"

namespace eima::agent {

class MeasurementCache {
public:
	bool in_list(std::uint64_t mntns, const eima_file_id &file) const;
	void add_to_list(std::uint64_t mntns, const eima_file_id &file);
	// The namespace is gone (its inode number may name a new one soon).
	void forget_mntns(std::uint64_t mntns);

	struct Hit {
		std::span<const std::uint8_t> digest;
		std::span<const std::uint8_t> signature; // empty: none recorded
	};
	// Valid until the next store().
	std::optional<Hit> find(const eima_file_id &file, ima::HashAlgo algo) const;
	void store(const eima_file_id &file, ima::HashAlgo algo, std::span<const std::uint8_t> digest,
		   std::span<const std::uint8_t> signature);

	std::size_t files() const { return digests_.size(); }

private:
	struct ListKey {
		std::uint64_t mntns, dev, ino, cookie;
		bool operator==(const ListKey &) const = default;
	};
	struct DigestKey {
		std::uint64_t dev, ino, cookie;
		std::uint8_t algo;
		bool operator==(const DigestKey &) const = default;
	};
	struct Hash {
		static std::uint64_t mix(std::uint64_t h, std::uint64_t v)
		{
			return (h ^ v) * 0x100000001b3ull + (h >> 29);
		}
		std::size_t operator()(const ListKey &k) const
		{
			return mix(mix(mix(mix(0xcbf29ce484222325ull, k.mntns), k.dev), k.ino), k.cookie);
		}
		std::size_t operator()(const DigestKey &k) const
		{
			return mix(mix(mix(mix(0xcbf29ce484222325ull, k.dev), k.ino), k.cookie), k.algo);
		}
	};
	struct Digest {
		std::uint8_t size = 0;
		std::array<std::uint8_t, ima::max_digest_size> bytes{};
	};
	static DigestKey digest_key(const eima_file_id &f, ima::HashAlgo a)
	{
		return {f.dev, f.ino, f.cookie, static_cast<std::uint8_t>(a)};
	}

	std::unordered_set<ListKey, Hash> in_lists_;
	std::unordered_map<DigestKey, Digest, Hash> digests_;
	std::unordered_map<DigestKey, Bytes, Hash> signatures_; // only files that have one
};

} // namespace eima::agent
