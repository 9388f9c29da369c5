#include "agent/measurement_cache.h"

#include <algorithm>

namespace eima::agent {

bool MeasurementCache::in_list(std::uint64_t mntns, const eima_file_id &f) const
{
	return in_lists_.contains({mntns, f.dev, f.ino, f.cookie});
}

void MeasurementCache::forget_mntns(std::uint64_t mntns)
{
	std::erase_if(in_lists_, [&](const ListKey &k) { return k.mntns == mntns; });
}

void MeasurementCache::add_to_list(std::uint64_t mntns, const eima_file_id &f)
{
	in_lists_.insert({mntns, f.dev, f.ino, f.cookie});
}

std::optional<MeasurementCache::Hit> MeasurementCache::find(const eima_file_id &f,
							    ima::HashAlgo algo) const
{
	auto key = digest_key(f, algo);
	auto it = digests_.find(key);
	if (it == digests_.end())
		return std::nullopt;
	Hit hit{{it->second.bytes.data(), it->second.size}, {}};
	if (auto sig = signatures_.find(key); sig != signatures_.end())
		hit.signature = sig->second;
	return hit;
}

void MeasurementCache::store(const eima_file_id &f, ima::HashAlgo algo,
			     std::span<const std::uint8_t> digest,
			     std::span<const std::uint8_t> signature)
{
	auto key = digest_key(f, algo);
	Digest d;
	d.size = static_cast<std::uint8_t>(std::min(digest.size(), d.bytes.size()));
	std::copy_n(digest.begin(), d.size, d.bytes.begin());
	digests_[key] = d;
	if (!signature.empty())
		signatures_[key] = Bytes(signature.begin(), signature.end());
	else
		signatures_.erase(key);
}

} // namespace eima::agent
