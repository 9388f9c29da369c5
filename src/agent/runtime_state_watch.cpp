#include "agent/runtime_state_watch.h"

#include <sys/inotify.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <vector>

namespace eima::agent {

namespace {

constexpr std::uint32_t kMask = IN_CREATE | IN_MOVED_TO | IN_ONLYDIR;

} // namespace

RuntimeStateWatch::RuntimeStateWatch(std::string runc_root, std::string containerd_root, std::size_t keep)
	: runc_root_(std::move(runc_root)), containerd_root_(std::move(containerd_root)), keep_(keep),
	  inotify_(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC))
{
	watch_roots();
}

void RuntimeStateWatch::watch_roots()
{
	if (!inotify_)
		return;
	if (!runc_root_.empty() && !watching(Dir::runc_root))
		watch(Dir::runc_root, runc_root_, "");
	if (!containerd_root_.empty() && !watching(Dir::containerd_root))
		watch(Dir::containerd_root, containerd_root_, "");
}

bool RuntimeStateWatch::watching(Dir dir) const
{
	return std::ranges::any_of(watched_, [dir](const auto &w) { return w.second.dir == dir; });
}

void RuntimeStateWatch::watch(Dir dir, const std::string &path, std::string ns)
{
	int wd = ::inotify_add_watch(inotify_.get(), path.c_str(), kMask);
	if (wd < 0)
		return; // absent (yet): a root is tried again at the next refresh
	// Re-adding a watch on the same directory returns the same descriptor.
	Watched &w = watched_[wd] = Watched{dir, path, std::move(ns)};
	// What was there before the watch: its directories (not symlinks to one).
	std::vector<std::string> names;
	std::error_code ec;
	for (std::filesystem::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec))
		if (std::error_code e; it->symlink_status(e).type() == std::filesystem::file_type::directory)
			names.push_back(it->path().filename().string());
	Watched copy = w; // entry() may watch this directory again, overwriting w
	for (auto &n : names)
		entry(copy, n);
}

void RuntimeStateWatch::entry(const Watched &w, std::string_view name)
{
	switch (w.dir) {
	case Dir::runc_root:
		remember("", name);
		break;
	case Dir::containerd_root:
		watch(Dir::containerd_namespace, w.path + "/" + std::string(name), std::string(name));
		break;
	case Dir::containerd_namespace:
		remember(w.ns, name);
		break;
	}
}

void RuntimeStateWatch::remember(std::string_view ns, std::string_view id)
{
	auto k = key(ns, id);
	if (!seen_.insert(k).second)
		return;
	order_.push_back(std::move(k));
	while (order_.size() > keep_) {
		seen_.erase(order_.front());
		order_.pop_front();
	}
}

void RuntimeStateWatch::rescan()
{
	// The queue overflowed: names were lost, so take what the directories hold now.
	auto watched = watched_;
	for (auto &[wd, w] : watched)
		watch(w.dir, w.path, w.ns);
}

void RuntimeStateWatch::refresh()
{
	if (!inotify_)
		return;
	watch_roots();
	alignas(inotify_event) std::array<char, 8192> buf;
	for (;;) {
		ssize_t n = ::read(inotify_.get(), buf.data(), buf.size());
		if (n <= 0)
			return; // EAGAIN: nothing more queued
		for (ssize_t off = 0; off < n;) {
			auto *ev = reinterpret_cast<const inotify_event *>(buf.data() + off);
			off += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
			if (ev->mask & IN_Q_OVERFLOW) {
				rescan();
				continue;
			}
			auto it = watched_.find(ev->wd);
			if (it == watched_.end())
				continue;
			if (ev->mask & IN_IGNORED) { // the directory is gone (a root: watched again
				watched_.erase(it);  // once it is back)
				continue;
			}
			if ((ev->mask & IN_ISDIR) && ev->len > 0)
				entry(Watched(it->second), std::string_view(ev->name));
		}
	}
}

} // namespace eima::agent
