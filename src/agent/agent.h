// eimad: measures what runs, per container, into IMA measurement lists and the TPM.
//
// One exec, end to end: BPF hook (policy and "already measured" checks in the kernel) ->
// event on the ring buffer -> Agent::handle_event: the container, by mount namespace ->
// open the file beneath that container's root, check it is the file the kernel saw ->
// hash (cached per file version) -> append to the container's list and to the host list
// -> queue the host entry for the TPM. A file that cannot be measured is a violation
// entry, never a silent gap.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/agent_config.h"
#include "agent/background_disposer.h"
#include "agent/container_identity.h"
#include "agent/file_measurer.h"
#include "agent/list_recovery.h"
#include "agent/measurement_cache.h"
#include "agent/measurement_list.h"
#include "agent/measurement_probe.h"
#include "agent/tpm_extender.h"
#include "agent/virtual_tpm.h"
#include "attest/evidence.h"
#include "common/error.h"
#include "common/unique_fd.h"
#include "ima/hash_algo.h"
#include "tpm/swtpm.h"

namespace eima::agent {


struct Container {
	std::uint64_t key = 0;            // the namespace's unique id (eima_event_head.mntns_id)
	std::string id;
	std::string runtime;              // docker, containerd, cri-o, podman, runc, "" (none)
	NamespaceIds ns;
	std::uint64_t cgroup_id = 0;
	UniqueFd root;                    // O_PATH root as its processes see it
	std::optional<MeasurementList> list;
	std::uint64_t dropped = 0;        // events the kernel lost for it
	std::unique_ptr<VirtualTpm> vtpm; // none with --vtpm none
	bool bound = false;               // its binding entry is in the host list
};

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
};

// A container's quote, in two steps: its vTPM's quote, then (the vTPM being up, its binding
// now in the host list) the host's. Each waits its turn on that TPM's own thread behind the
// entries before it, so the caller may go on meanwhile and look in later.
struct ContainerQuote {
	ima::HashAlgo bank = ima::HashAlgo::sha256;
	std::vector<std::uint32_t> pcrs;
	Bytes nonce;
	std::future<Result<tpm::Quote>> vtpm, host;
	nlohmann::json reply;         // the vTPM part, once its quote is in
	std::size_t entries = 0;      // container list entries the vTPM quote covers
	std::size_t host_entries = 0; // host list entries the host quote covers
};

// A container whose last process exited, while its final evidence is taken; the event
// loop looks in on every tick (Agent::advance_retiring).
struct RetiringContainer {
	Container c;
	ExitedContainer exited;
	ContainerQuote quote; // nonce: the SHA-256 of its final binary list
};

// A control request's answer, which may wait on a TPM: called with wait=false on every tick
// until it gives the reply (with wait=true, it blocks until it does).
using ControlAnswer = std::move_only_function<std::optional<nlohmann::json>(bool wait)>;

class Agent {
public:
	static Result<std::unique_ptr<Agent>> start(const AgentConfig &config);
	~Agent();

	// Runs until SIGTERM or SIGINT, then drains the ring buffer and flushes the lists;
	// the destructor detaches the programs (removing their pins), drains the TPM queue
	// and stops swtpm.
	Result<void> run();

private:
	Agent() = default;
	struct PendingEvent;
	static int on_ring_event(void *ctx, void *data, std::size_t size);

	Result<void> set_up_tpm();
	// Reopens the host list of the last run and brings the TPM up to it, or says why a new
	// one starts (sets host_list_ and host_list_state_); see list_recovery.h.
	Result<bool> resume_host_list(const std::vector<ima::HashAlgo> &banks);
	Result<void> set_up_probe();
	Result<ima::TemplateEntry> boot_aggregate_entry();
	Container &container_for(const PendingEvent &ev);
	// RUN/containers/<id>, boot_aggregate first, and the container's vTPM.
	void open_container_list(Container &c);
	void append_container(Container &c, const ima::TemplateEntry &entry);
	// Appends the binding entry of every vTPM that came up since the last call.
	void bind_vtpms();
	void bind_vtpm(Container &c);
	// Every second: containers whose mount namespace no process is in any more.
	void reap_exited();
	// Takes the container out of the live ones and starts its final evidence.
	void retire(Container &c);
	// Moves every retiring container on as far as its quotes allow; with wait, to the end.
	void advance_retiring(bool wait);
	void finish_retiring(RetiringContainer &r, std::string final_evidence);
	bool id_taken(const std::string &id) const;
	using Answer = ControlAnswer;
	// The container's vTPM quote and the host quote that binds it, as eimad's quote reply.
	Answer container_quote(Container &c, ima::HashAlgo bank, std::vector<std::uint32_t> pcrs,
			       Bytes nonce);
	Answer host_quote(ima::HashAlgo bank, std::vector<std::uint32_t> pcrs, Bytes nonce);
	// Queues the vTPM's quote; an error reply when there is nothing to quote.
	std::optional<nlohmann::json> start_quote(Container &c, ContainerQuote &q);
	// The reply once both quotes are in (or one failed); nullopt while waiting, unless
	// wait. c: the container, null once it is gone (its quotes still finish).
	std::optional<nlohmann::json> step_quote(Container *c, ContainerQuote &q, bool wait);
	// A live or retiring container by key.
	Container *find_container(std::uint64_t key);
	void capture_root(Container &c, int pid);
	void handle_event(const PendingEvent &ev);
	// The template and file digest algorithm of an entry for this event.
	std::pair<TemplateKind, ima::HashAlgo> template_for(const eima_event_head &h) const;
	// c == nullptr: a host process.
	void record(Container *c, const PendingEvent &ev, const Result<Bytes> &digest,
		    const Bytes &signature);
	void append_host(const ima::TemplateEntry &entry);
	void poll_drops();
	void flush_all();
	void drain_ring();
	void save_drained_at(std::chrono::system_clock::time_point t);

	void handle_control(UniqueFd client);
	// Sends the replies that are in; with wait, all of them.
	void answer_deferred(bool wait);
	nlohmann::json status_json() const;
	nlohmann::json ps_json() const;
	Answer pcrs_json(const nlohmann::json &req);
	Answer quote_json(const nlohmann::json &req);

	AgentConfig config_;
	std::unique_ptr<tpm::Swtpm> swtpm_;
	std::unique_ptr<TpmExtender> extender_;
	std::string tpm_description_ = "none";
	std::unique_ptr<MeasurementProbe> probe_;
	// Pinning and adoption (docs/restart.md): how this start found the pinned set, and
	// "off: why" when the probe is not pinned.
	Adoption adoption_;
	std::string pinning_;
	std::optional<std::size_t> adopted_events_;   // events in the first drain after adopting
	std::string mode_reason_;                     // why this mode was chosen
	std::vector<std::string> policy_unsupported_; // rules this mode cannot honour
	std::size_t policy_rules_ = 0;
	std::uint64_t host_mntns_ = 0;
	UniqueFd host_root_;
	std::optional<MeasurementList> host_list_;
	// Host entries written to the list's buffer but not yet to its file: they go to the
	// TPM only once flush_all() has written them, so the TPM never holds an entry the
	// list lost (what a restart relies on).
	std::vector<ExtendRecord> host_unwritten_;
	std::string host_list_state_; // "new: why" or "resumed: ..."
	std::uint64_t drained_at_ns_ = 0; // wall time of the last drain whose entries are on disk
	std::chrono::steady_clock::time_point drained_saved_{};
	ima::TemplateEntry boot_aggregate_;
	std::map<std::uint64_t, Container> containers_; // by Container::key
	std::list<RetiringContainer> retiring_;
	std::deque<ExitedContainer> exited_;           // oldest first, at most keep_exited
	BackgroundDisposer disposer_;                  // stops exited containers' vTPMs
	MeasurementCache cache_;
	FileMeasurer measurer_{cache_};
	std::string kernel_digest_; // "bpf_ima_file_hash", or "off: " and why
	std::vector<PendingEvent> pending_;
	void *ring_ = nullptr;                        // struct ring_buffer*
	UniqueFd control_fd_;
	struct DeferredReply {
		UniqueFd client;
		Answer answer;
	};
	std::list<DeferredReply> deferred_; // clients waiting for a quote or PCR read
	std::uint64_t events_ = 0, violations_ = 0, unattributed_drops_ = 0;
	std::uint64_t exited_pruned_ = 0;
	std::uint64_t drops_walked_at_ = 0; // the kernel's drop counter at the last map walk
	std::chrono::steady_clock::time_point last_drop_walk_{};
	// The longest the event loop spent on one wakeup: what a burst of events or of exits
	// delayed everything else by.
	std::chrono::steady_clock::duration longest_wakeup_{};
};

} // namespace eima::agent
