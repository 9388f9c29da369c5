// Which runc containers exist or existed lately, learned from inotify on the runtimes'
// state roots. A container is named by its runtime's id when identification finds the
// runtime's state for the leaf of its cgroup path (container_identity.h). A container that
// starts and exits before eimad reads its first event leaves no state to find: runc and
// containerd remove it (and, with cgroupfs, the cgroup) when it ends. The state directory
// was created before the container's first exec, so its creation is already queued in
// inotify when that event is read; refresh() collects it, and the name stays known.
#pragma once

#include <cstddef>
#include <deque>
#include <map>
#include <string>
#include <string_view>
#include <unordered_set>

#include "common/unique_fd.h"

namespace eima::agent {

class RuntimeStateWatch {
public:
	// runc_root: runc's state root (<root>/<id>/state.json); containerd_root: containerd's
	// runc root (<root>/<namespace>/<id>/). Either may be "" (not watched) or absent yet
	// (watched once it appears). keep: how many names are remembered, oldest forgotten.
	RuntimeStateWatch(std::string runc_root, std::string containerd_root, std::size_t keep = 4096);

	// Collects what inotify queued: names of state directories created since the last
	// call, and watches on roots and containerd namespaces that appeared. Never blocks.
	void refresh();

	// Whether a runc container with this id was seen (it may be gone now).
	bool seen_runc(std::string_view id) const { return seen_.contains(key("", id)); }
	// Whether a containerd container with this namespace and id was seen.
	bool seen_containerd(std::string_view ns, std::string_view id) const
	{
		return !ns.empty() && seen_.contains(key(ns, id));
	}
	std::size_t remembered() const { return order_.size(); }
	// Whether inotify works here (false: identification falls back to the state on disk).
	bool active() const { return static_cast<bool>(inotify_); }

private:
	enum class Dir { runc_root, containerd_root, containerd_namespace };
	struct Watched {
		Dir dir;
		std::string path;
		std::string ns; // containerd_namespace: its name
	};

	static std::string key(std::string_view ns, std::string_view id)
	{
		std::string k(ns);
		k += '/';
		k += id;
		return k;
	}
	void watch_roots();
	bool watching(Dir dir) const; // a root: whether its watch is in place
	// Adds a watch on `path` and remembers what it holds now (events before the watch are
	// not queued).
	void watch(Dir dir, const std::string &path, std::string ns);
	void entry(const Watched &w, std::string_view name);
	void remember(std::string_view ns, std::string_view id);
	void rescan();

	std::string runc_root_, containerd_root_;
	std::size_t keep_;
	UniqueFd inotify_;
	std::map<int, Watched> watched_; // by watch descriptor
	std::deque<std::string> order_; // oldest first
	std::unordered_set<std::string> seen_;
};

} // namespace eima::agent
