#include "agent/container_registry.h"

#include <fcntl.h>
#include <linux/nsfs.h>
#include <sys/ioctl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "agent/agent_log.h"
#include "agent/file_opener.h"
#include "common/file_io.h"

namespace eima::agent {

namespace fs = std::filesystem;

#ifndef NS_GET_MNTNS_ID // linux/nsfs.h before 6.9
#define NS_GET_MNTNS_ID _IOR(0xb7, 0x5, __u64)
#endif

std::vector<int> HostProcesses::pids() const
{
	std::vector<int> pids;
	std::error_code ec;
	for (auto &entry : fs::directory_iterator("/proc", ec)) {
		const std::string name = entry.path().filename();
		if (!name.empty() && name.find_first_not_of("0123456789") == std::string::npos)
			pids.push_back(std::stoi(name));
	}
	return pids;
}

std::uint64_t HostProcesses::mntns_of(int pid) const
{
	struct stat st;
	return ::stat(("/proc/" + std::to_string(pid) + "/ns/mnt").c_str(), &st) == 0 ? st.st_ino : 0;
}

std::optional<std::string> HostProcesses::cgroup_of(int pid) const
{
	auto cg = read_file("/proc/" + std::to_string(pid) + "/cgroup");
	return cg ? std::optional(std::move(*cg)) : std::nullopt;
}

Result<UniqueFd> HostProcesses::root_of(int pid) const
{
	return open_process_root(pid);
}

std::optional<std::uint64_t> HostProcesses::mntns_id_of(int pid) const
{
	UniqueFd ns(::open(("/proc/" + std::to_string(pid) + "/ns/mnt").c_str(), O_RDONLY | O_CLOEXEC));
	__u64 id = 0;
	if (!ns || ::ioctl(ns.get(), NS_GET_MNTNS_ID, &id) != 0)
		return std::nullopt;
	return id;
}

std::uint64_t HostProcesses::start_time_of(int pid) const
{
	auto stat = read_file("/proc/" + std::to_string(pid) + "/stat");
	if (!stat)
		return 0;
	// Field 22; the command (field 2) is in parentheses and may hold spaces and ')'.
	auto close = stat->rfind(')');
	if (close == std::string::npos)
		return 0;
	std::size_t pos = close + 2; // field 3
	for (int field = 3; field < 22 && pos != std::string::npos; ++field) {
		pos = stat->find(' ', pos);
		if (pos != std::string::npos)
			++pos;
	}
	return pos == std::string::npos ? 0 : std::strtoull(stat->c_str() + pos, nullptr, 10);
}

std::optional<std::string> HostProcesses::cgroup_path_of(std::uint64_t cgroup_id) const
{
	// A cgroup v2 id is its kernfs node id, which is also its file handle on cgroupfs
	// (FILEID_KERNFS): opening by handle finds the directory while it exists, whatever
	// process was in it.
	static const std::optional<std::string> found = cgroup2_root();
	if (!found || cgroup_id == 0)
		return std::nullopt;
	const std::string &root = *found;
	UniqueFd mount(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
	if (!mount)
		return std::nullopt;
	struct {
		file_handle fh;
		std::uint64_t id;
	} handle{};
	handle.fh.handle_bytes = sizeof(std::uint64_t);
	handle.fh.handle_type = 0xfe; // FILEID_KERNFS
	handle.id = cgroup_id;
	UniqueFd dir(::open_by_handle_at(mount.get(), &handle.fh, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
	if (!dir)
		return std::nullopt;
	char buf[4096];
	auto n = ::readlink(("/proc/self/fd/" + std::to_string(dir.get())).c_str(), buf, sizeof(buf));
	if (n <= 0 || static_cast<std::size_t>(n) >= sizeof(buf))
		return std::nullopt;
	std::string path(buf, static_cast<std::size_t>(n));
	if (!path.starts_with(root))
		return std::nullopt;
	path.erase(0, root.size());
	return path.empty() ? "/" : path;
}

std::optional<std::string> HostProcesses::cgroup2_root()
{
	for (const char *dir : {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"}) {
		struct statfs fs;
		if (::statfs(dir, &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC)
			return dir;
	}
	return std::nullopt;
}

SavedContainer saved_of(const Container &c)
{
	return {c.id, c.runtime, c.key, c.ns, c.cgroup_id, c.anchor_pid, c.anchor_start,
		c.engine_namespace};
}

void flush_container(Container &c)
{
	if (!c.list)
		return;
	if (auto r = c.list->flush(); !r) {
		spdlog::error("{}", r.error().message());
		return;
	}
	if (c.vtpm)
		for (auto &rec : c.unwritten)
			c.vtpm->extender().submit(std::move(rec));
	c.unwritten.clear();
}

nlohmann::json vtpm_json(const Container &c)
{
	if (!c.vtpm)
		return {{"state", "none"}};
	switch (c.vtpm->state()) {
	case TpmExtender::State::opening: return {{"state", "starting"}};
	case TpmExtender::State::failed: return {{"state", "failed"}, {"error", c.vtpm->error()}};
	case TpmExtender::State::lost: return {{"state", "lost"}, {"error", c.vtpm->extender().last_error()}};
	case TpmExtender::State::open: break;
	}
	nlohmann::json j = {{"state", "running"},
		{"pid", c.vtpm->pid()},
		{"dir", c.vtpm->state_dir()},
		{"bound", c.bound},
		{"extended", c.vtpm->extender().extended()},
		{"failures", c.vtpm->extender().failures()}};
	if (auto how = c.vtpm->resume_state(); !how.empty())
		j["resumed"] = how;
	return j;
}

ContainerRegistry::ContainerRegistry(const ProcessView &proc, std::string runc_state_dir,
				     std::size_t keep_exited, std::string containerd_runc_root)
	: proc_(proc), runc_state_dir_(std::move(runc_state_dir)),
	  containerd_runc_root_(std::move(containerd_runc_root)),
	  runtime_state_(runc_state_dir_, containerd_runc_root_), keep_exited_(keep_exited)
{
}

Container *ContainerRegistry::find(std::uint64_t key)
{
	auto it = live_.find(key);
	return it != live_.end() ? &it->second : nullptr;
}

Container *ContainerRegistry::find_id(const std::string &id)
{
	Container *found = nullptr;
	for (auto &[key, c] : live_)
		if (c.id == id)
			found = &c;
	return found;
}

std::vector<Container> ContainerRegistry::take_reused(std::uint64_t mntns, std::uint64_t key)
{
	std::vector<std::uint64_t> dead;
	for (auto &[k, other] : live_)
		if (k != key && other.ns.mnt == mntns)
			dead.push_back(k);
	std::vector<Container> out;
	for (auto k : dead)
		out.push_back(take(k));
	return out;
}

Container &ContainerRegistry::add(const eima_event_head &h, std::optional<std::string> hook_cgroup)
{
	Container &c = live_[h.mntns_id];
	c.key = h.mntns_id;
	c.ns.mnt = h.mntns;
	c.ns.pid = h.pidns;
	c.ns.uts = h.utsns;
	c.cgroup_id = h.cgroup_id;
	int pid = static_cast<int>(h.tgid);
	c.anchor_pid = pid;
	c.anchor_start = proc_.start_time_of(pid);
	// A runtime's state, created before the container's first exec, may be gone with it.
	runtime_state_.refresh();
	auto from_cgroup = [&](std::string_view text) {
		return container_id_from_cgroup(text, runc_state_dir_, containerd_runc_root_,
						&runtime_state_);
	};
	std::optional<RuntimeContainerId> rid;
	if (auto cg = proc_.cgroup_of(pid))
		rid = from_cgroup(*cg);
	// The process may be gone already; its cgroup, which the event names, may not be (it
	// outlives its last process until the runtime removes it); else the cgroup's path as
	// the hook saw it. Else the namespace names the container.
	if (!rid)
		if (auto path = proc_.cgroup_path_of(h.cgroup_id))
			rid = from_cgroup("0::" + *path + "\n");
	if (!rid && hook_cgroup)
		rid = from_cgroup("0::" + *hook_cgroup + "\n");
	c.runtime = rid ? rid->runtime : "";
	c.engine_namespace = rid ? rid->engine_namespace : "";
	c.id = container_name(rid, h.mntns);
	// Two namespaces cannot share a directory: a reused runtime id gets the namespace too.
	for (auto &[key, other] : live_)
		if (key != c.key && other.id == c.id)
			c.id += "-" + std::to_string(h.mntns_id);
	// Nor may a new container take over an exited one's list and final quote (a mount
	// namespace's inode number is reused as soon as it is free).
	if (id_taken(c.id)) {
		std::string base = c.id;
		for (int n = 2; id_taken(c.id); ++n)
			c.id = base + "." + std::to_string(n);
	}
	capture_root(c, pid);
	return c;
}

Container &ContainerRegistry::restore(const SavedContainer &s)
{
	Container &c = live_[s.key];
	c.key = s.key;
	c.id = s.id;
	c.runtime = s.runtime;
	c.engine_namespace = s.engine_namespace;
	c.ns = s.ns;
	c.cgroup_id = s.cgroup_id;
	c.anchor_pid = s.anchor_pid;
	c.anchor_start = s.anchor_start;
	return c;
}

bool ContainerRegistry::still_runs(const SavedContainer &s) const
{
	for (int pid : proc_.pids()) {
		if (proc_.mntns_of(pid) != s.ns.mnt)
			continue;
		// The inode is reused as soon as the namespace is freed: the unique id decides.
		if (auto id = proc_.mntns_id_of(pid))
			return *id == s.key;
		return s.anchor_pid > 0 && proc_.mntns_of(s.anchor_pid) == s.ns.mnt &&
		       s.anchor_start != 0 && proc_.start_time_of(s.anchor_pid) == s.anchor_start;
	}
	return false;
}

Container &ContainerRegistry::for_lost_events(std::uint64_t mntns, bool &created)
{
	created = false;
	Container *c = nullptr;
	// Counted per namespace inode: the live container under it, or, when eimad never saw an
	// event of that namespace, one keyed by the inode until then.
	for (auto &[key, live] : live_)
		if (live.ns.mnt == mntns)
			c = &live;
	if (c)
		return *c;
	created = true;
	c = &live_[mntns];
	c->key = mntns;
	c->id = "mntns-" + std::to_string(mntns);
	c->ns.mnt = mntns;
	return *c;
}

void ContainerRegistry::capture_root(Container &c, int pid)
{
	// A live process in the mount namespace (the one given first), or -1. Scans /proc: only
	// when a container's root is still unknown, which is rare.
	auto process_in_mntns = [&](int first) {
		if (first > 0 && proc_.mntns_of(first) == c.ns.mnt)
			return first;
		for (int p : proc_.pids())
			if (proc_.mntns_of(p) == c.ns.mnt)
				return p;
		return -1;
	};
	// Held open for when the processes are gone.
	int live = process_in_mntns(pid);
	if (live < 0)
		return;
	if (auto root = proc_.root_of(live))
		if (process_in_mntns(live) == live) // still there after the open
			c.root = std::move(*root);
}

std::vector<std::uint64_t> ContainerRegistry::gone() const
{
	std::vector<std::uint64_t> out;
	if (live_.empty())
		return out;
	// Mount namespaces some process is in now.
	std::set<std::uint64_t> in_use;
	for (int pid : proc_.pids())
		if (auto ino = proc_.mntns_of(pid))
			in_use.insert(ino);
	for (auto &[key, c] : live_)
		if (!in_use.contains(c.ns.mnt))
			out.push_back(key);
	return out;
}

Container ContainerRegistry::take(std::uint64_t key)
{
	auto node = live_.extract(key);
	retiring_ids_.insert(node.mapped().id);
	return std::move(node.mapped());
}

void ContainerRegistry::exited(ExitedContainer e)
{
	if (auto it = retiring_ids_.find(e.id); it != retiring_ids_.end())
		retiring_ids_.erase(it);
	exited_.push_back(std::move(e));
	while (exited_.size() > keep_exited_) {
		std::error_code ec;
		if (!exited_.front().log_dir.empty())
			fs::remove_all(exited_.front().log_dir, ec);
		exited_.pop_front();
		++pruned_;
	}
}

const ExitedContainer *ContainerRegistry::find_exited(const std::string &id) const
{
	for (auto &e : exited_)
		if (e.id == id)
			return &e;
	return nullptr;
}

bool ContainerRegistry::id_taken(const std::string &id) const
{
	return retiring_ids_.contains(id) ||
	       std::ranges::any_of(exited_, [&](auto &e) { return e.id == id; });
}

void ContainerRegistry::flush_lists()
{
	for (auto &[key, c] : live_) {
		flush_container(c);
		if (!c.list)
			continue;
		// Entries lost while it could not be written: one violation says how many, and
		// reaches the vTPM once written, as every entry does.
		if (auto lost = c.list->record_lost(); lost && *lost) {
			c.unwritten.push_back(std::move(**lost));
			flush_container(c);
		}
	}
}

} // namespace eima::agent
