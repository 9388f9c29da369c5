// Deleting keys of a BPF hash map from user space, for every map eimad empties: the known
// namespaces and the measured cache on adoption, one namespace's files when it exits
// (src/agent/measurement_probe.cpp), the verdict cache when the keyring changes
// (src/enforce/enforcer.cpp). Header-only; its users link libbpf.
#pragma once

#include <bpf/bpf.h>

#include <vector>

namespace eima {

// Deletes the keys doomed() picks. Collected first: deleting while walking a hash map, LRU
// ones included, can restart the walk.
template <typename Key, typename Pred> void delete_keys_if(int fd, Pred doomed)
{
	std::vector<Key> keys;
	Key key, *prev = nullptr;
	while (bpf_map_get_next_key(fd, prev, &key) == 0) {
		if (doomed(key))
			keys.push_back(key);
		prev = &key;
	}
	for (auto &k : keys)
		bpf_map_delete_elem(fd, &k);
}

template <typename Key> void clear_map(int fd)
{
	delete_keys_if<Key>(fd, [](const Key &) { return true; });
}

} // namespace eima
