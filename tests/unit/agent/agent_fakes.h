// Fakes for the agent's seams: a /proc of made-up processes.
#pragma once

#include <fcntl.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "agent/container_registry.h"

namespace eima::agent::testing {

class FakeProcesses : public ProcessView {
public:
	struct Process {
		std::uint64_t mntns = 0;
		std::string cgroup;
		std::optional<std::uint64_t> mntns_id; // nullopt: a kernel before NS_GET_MNTNS_ID
		std::uint64_t start_time = 0;
	};
	std::map<int, Process> procs;
	std::map<std::uint64_t, std::string> cgroups; // live cgroups by id
	mutable int roots_opened = 0;

	std::vector<int> pids() const override
	{
		std::vector<int> out;
		for (auto &[pid, p] : procs)
			out.push_back(pid);
		return out;
	}
	std::uint64_t mntns_of(int pid) const override
	{
		auto it = procs.find(pid);
		return it != procs.end() ? it->second.mntns : 0;
	}
	std::optional<std::string> cgroup_of(int pid) const override
	{
		auto it = procs.find(pid);
		if (it == procs.end())
			return std::nullopt;
		return it->second.cgroup;
	}
	Result<UniqueFd> root_of(int pid) const override
	{
		if (!procs.contains(pid))
			return fail(ESRCH, "open root", std::to_string(pid));
		++roots_opened;
		return UniqueFd(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
	}
	std::optional<std::uint64_t> mntns_id_of(int pid) const override
	{
		auto it = procs.find(pid);
		return it != procs.end() ? it->second.mntns_id : std::nullopt;
	}
	std::uint64_t start_time_of(int pid) const override
	{
		auto it = procs.find(pid);
		return it != procs.end() ? it->second.start_time : 0;
	}
	std::optional<std::string> cgroup_path_of(std::uint64_t id) const override
	{
		auto it = cgroups.find(id);
		return it != cgroups.end() ? std::optional(it->second) : std::nullopt;
	}
};

// An event head for a process in a namespace.
inline eima_event_head event_in(std::uint64_t mntns_id, std::uint64_t mntns, int pid)
{
	eima_event_head h{};
	h.mntns_id = mntns_id;
	h.mntns = mntns;
	h.pidns = mntns + 1;
	h.utsns = mntns + 2;
	h.cgroup_id = mntns + 3;
	h.tgid = static_cast<std::uint32_t>(pid);
	return h;
}

} // namespace eima::agent::testing
