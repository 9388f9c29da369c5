// The containers eimad knows: live ones by mount namespace, what /proc says of them (their
// runtime id, their root, whether any process is still in them), and what is left of the
// exited ones (`eima ps`, and ids no new container may take). It starts no vTPM and writes
// no list: the Agent gives a new container those (and retirement takes them back).
//
// /proc is read through ProcessView, so the registry runs in tests against a made-up one.
// A container is plain data (Container); the registry is filled from events, and after a
// restart from what the last eimad saved of them (SavedContainer, container_state.h).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/container_identity.h"
#include "agent/runtime_state_watch.h"
#include "agent/measurement_list.h"
#include "agent/virtual_tpm.h"
#include "bpf/abi/event.h"
#include "common/error.h"
#include "common/unique_fd.h"

namespace eima::agent {

struct Container {
	std::uint64_t key = 0;            // the namespace's unique id (eima_event_head.mntns_id)
	std::string id;
	std::string runtime;              // docker, containerd, cri-o, podman, runc, "" (none)
	std::string engine_namespace;     // containerd's namespace, "" for other engines
	NamespaceIds ns;
	std::uint64_t cgroup_id = 0;
	// The process of its first event and its start time (clock ticks after boot): where
	// the kernel cannot tell a namespace's unique id (before NS_GET_MNTNS_ID, 6.9), a
	// restarted eimad knows the container by that process still running in it.
	int anchor_pid = 0;
	std::uint64_t anchor_start = 0;
	UniqueFd root;                    // O_PATH root as its processes see it
	std::optional<MeasurementList> list;
	// Entries appended to the list's buffer but not yet written: they go to the vTPM only
	// once written (flush_container), so after any stop the vTPM holds a prefix of the list.
	std::vector<ExtendRecord> unwritten;
	std::uint64_t dropped = 0;        // events the kernel lost for it
	std::unique_ptr<VirtualTpm> vtpm; // none with --vtpm none
	bool bound = false;               // its binding entry is in the host list
	std::string resumed;              // how a restarted eimad took it over; "" if it did not
};

// What a restarted eimad knows of a container it did not see start
// (RUN/containers/<id>/container.json, container_state.h).
struct SavedContainer {
	std::string id, runtime;
	std::uint64_t key = 0;
	NamespaceIds ns;
	std::uint64_t cgroup_id = 0;
	int anchor_pid = 0;
	std::uint64_t anchor_start = 0;
	std::string engine_namespace; // containerd's namespace, "" for other engines
};
SavedContainer saved_of(const Container &c);

// Writes what was appended to the container's list, then queues it for its vTPM. A failed
// write queues nothing: the entries go out with the next flush that writes them.
void flush_container(Container &c);

// What is left of a container after its last process exited: its list, and next to it the
// final evidence of its vTPM (RUN/containers/<id>/final-evidence.json, `eima verify`-able
// with the SHA-256 of the final binary list as the nonce).
struct ExitedContainer {
	std::string id, runtime, log_dir;
	NamespaceIds ns;                  // as eimad learnt them at the first event
	std::uint64_t cgroup_id = 0;
	nlohmann::json vtpm;              // its vTPM as it last was (`eima ps`)
	std::size_t entries = 0, violations = 0;
	std::string final_evidence; // its path, or "none: " and why; "pending" while taken
	std::string engine_namespace;
};

// What the registry reads of /proc.
class ProcessView {
public:
	virtual ~ProcessView() = default;
	virtual std::vector<int> pids() const = 0;
	// The inode of the process's mount namespace; 0 when it is gone.
	virtual std::uint64_t mntns_of(int pid) const = 0;
	// /proc/PID/cgroup; nullopt when the process is gone.
	virtual std::optional<std::string> cgroup_of(int pid) const = 0;
	// Its root directory, O_PATH.
	virtual Result<UniqueFd> root_of(int pid) const = 0;
	// The unique id of the process's mount namespace (NS_GET_MNTNS_ID, 6.9+: what the BPF
	// programs key containers by); nullopt when the process is gone or the kernel cannot
	// tell.
	virtual std::optional<std::uint64_t> mntns_id_of(int pid) const = 0;
	// Its start time in clock ticks after boot (/proc/PID/stat); 0 when it is gone.
	virtual std::uint64_t start_time_of(int pid) const = 0;
	// The path of a cgroup v2 by its id (bpf_get_current_cgroup_id), as /proc/PID/cgroup
	// names it ("/system.slice/x.scope"); nullopt when it is gone.
	virtual std::optional<std::string> cgroup_path_of(std::uint64_t cgroup_id) const = 0;
};

// The real /proc.
class HostProcesses : public ProcessView {
public:
	std::vector<int> pids() const override;
	std::uint64_t mntns_of(int pid) const override;
	std::optional<std::string> cgroup_of(int pid) const override;
	Result<UniqueFd> root_of(int pid) const override;
	std::optional<std::uint64_t> mntns_id_of(int pid) const override;
	std::uint64_t start_time_of(int pid) const override;
	std::optional<std::string> cgroup_path_of(std::uint64_t cgroup_id) const override;
	// Where cgroup v2 is mounted: /sys/fs/cgroup, or /sys/fs/cgroup/unified on a hybrid
	// host; nullopt without one.
	static std::optional<std::string> cgroup2_root();
};

// A live container's vTPM as `eima ps` shows it.
nlohmann::json vtpm_json(const Container &c);

class ContainerRegistry {
public:
	// proc outlives the registry. keep_exited: exited containers kept (with their
	// directories) before the oldest goes. runc_state_dir and containerd_runc_root: where
	// runc and containerd keep a container's state, watched for containers gone before
	// their first event is read.
	ContainerRegistry(const ProcessView &proc, std::string runc_state_dir,
			  std::size_t keep_exited,
			  std::string containerd_runc_root = "/run/containerd/runc");

	Container *find(std::uint64_t key);
	// A live container by id.
	Container *find_id(const std::string &id);
	std::map<std::uint64_t, Container> &live() { return live_; }
	const std::map<std::uint64_t, Container> &live() const { return live_; }

	// Live containers under the namespace inode `mntns` but another key: a namespace inode
	// names one live namespace at a time, so they have exited, even if reaping has not
	// seen it yet. Taken out, as by take().
	std::vector<Container> take_reused(std::uint64_t mntns, std::uint64_t key);
	// A new live container for the event's namespace (the key must not be live): its
	// namespaces, its id (from the process's cgroup, or when the process is gone, from the
	// cgroup the event names; made unique among live, retiring and exited ones) and its root.
	// `hook_cgroup`: the cgroup path the hook saw (MeasurementProbe::take_cgroup_path),
	// which names the container when its process and its cgroup are both gone.
	Container &add(const eima_event_head &h, std::optional<std::string> hook_cgroup = {});
	// A container the last eimad saw, as live again (its key must not be live, its id not
	// taken): its list and vTPM are the caller's to give.
	Container &restore(const SavedContainer &s);
	// Whether that container still runs: a process is in a mount namespace with its inode
	// and its unique id (where the kernel cannot tell the id: its first process still runs,
	// started at the same time, in a namespace with that inode).
	bool still_runs(const SavedContainer &s) const;
	// The live container under the namespace inode, for events the kernel lost; when none
	// is, a new one keyed by the inode (created = true).
	Container &for_lost_events(std::uint64_t mntns, bool &created);
	// Holds the root the container's processes see open, from the process pid if it still
	// lives in the namespace, else from any process that does.
	void capture_root(Container &c, int pid);
	// Keys of live containers whose mount namespace no process is in any more.
	std::vector<std::uint64_t> gone() const;

	// Takes a live container out; its id stays taken (retiring) until exited() records it.
	Container take(std::uint64_t key);
	// Records a container that retired. Beyond keep_exited the oldest is dropped, and its
	// directory removed.
	void exited(ExitedContainer e);
	bool retiring(const std::string &id) const { return retiring_ids_.contains(id); }
	const ExitedContainer *find_exited(const std::string &id) const;
	const std::deque<ExitedContainer> &exited() const { return exited_; }
	std::uint64_t pruned() const { return pruned_; }
	bool id_taken(const std::string &id) const;

	// Writes every live container's list.
	void flush_lists();

private:
	const ProcessView &proc_;
	std::string runc_state_dir_, containerd_runc_root_;
	RuntimeStateWatch runtime_state_;
	std::size_t keep_exited_;
	std::map<std::uint64_t, Container> live_; // by Container::key
	std::multiset<std::string> retiring_ids_;
	std::deque<ExitedContainer> exited_; // oldest first, at most keep_exited
	std::uint64_t pruned_ = 0;
};

} // namespace eima::agent
