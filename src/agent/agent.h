// eimad: measures what runs, per container, into IMA measurement lists and the TPM.
//
// One exec, end to end: BPF hook (policy and "already measured" checks in the kernel) ->
// event on the ring buffer (RingReader) -> Agent::handle_event: the container, by mount
// namespace (ContainerRegistry) -> the digest: the kernel's, or the file opened beneath
// that container's root, checked to be the file the kernel saw, and hashed (FileMeasurer,
// cached per file version) -> append to the container's list and to the host list
// (HostRecorder) -> the host entry goes to the TPM once it is written. A file that cannot
// be measured is a violation entry, never a silent gap.
//
// The units, each owning its state (the Agent only wires them and runs the loop):
//   RingReader        the ring buffer: records copied out, the peek at its positions, the
//                     kernel's counts of events it had no room for
//   ContainerRegistry live containers by mount namespace, /proc (through ProcessView),
//                     which have exited, unique ids, the exited ones `eima ps` shows
//                     (container_state.h: what a restarted eimad finds them by)
//   FileMeasurer      one event's digest (file_measurer.h)
//   HostRecorder      the host list: written before extended, resumed after a restart,
//                     drained_at_ns; the vTPM binding entries
//   self_measurement  eimad's own binary, BPF programs and policy, recorded in the host
//                     list after boot_aggregate (docs/measurer.md)
//   Retirement        containers whose last process exited: final quote and evidence
//   QuoteService      `eima quote` and `eima pcrs`, and containers' quotes, off the loop
//   ControlServer     the control socket, with answers that wait on a TPM
// The Agent itself: start-up (TPM, boot_aggregate, BPF programs, the containers a restart
// resumes), each container's own list and vTPM, turning events into entries, and the
// event loop.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/agent_config.h"
#include "agent/container_registry.h"
#include "agent/control_server.h"
#include "agent/event_stream.h"
#include "agent/file_measurer.h"
#include "agent/host_recorder.h"
#include "agent/list_recovery.h"
#include "agent/measurement_cache.h"
#include "agent/measurement_list.h"
#include "agent/measurement_probe.h"
#include "agent/process_root_cache.h"
#include "agent/quote_service.h"
#include "agent/retirement.h"
#include "agent/ring_reader.h"
#include "agent/self_protection.h"
#include "agent/signed_bpf_policy.h"
#include "agent/tpm_extender.h"
#include "agent/virtual_tpm.h"
#include "common/error.h"
#include "common/unique_fd.h"
#include "ima/hash_algo.h"
#include "tpm/swtpm.h"

namespace eima::agent {

class Agent : private ControlService {
public:
	static Result<std::unique_ptr<Agent>> start(const AgentConfig &config);
	~Agent();

	// Runs until SIGTERM or SIGINT, then drains the ring buffer and flushes the lists;
	// the destructor detaches the programs (removing their pins), drains the TPM queue
	// and stops swtpm.
	Result<void> run();

	// From any thread (fanotify enforcement decides on its own): ev goes to `eima events`
	// while run() runs. Before and after there is no stream; a decision is still in the
	// audit log.
	void post_event(nlohmann::json ev);

private:
	Agent() = default;

	Result<void> set_up_tpm();
	// Locks the pin directory (pins_) and claims a set pinned there (ProbePins::claim_agent).
	Result<void> open_pins();
	// With --bpf-cert: how every signed object of eimad's loads (bpf_signing_).
	Result<void> set_up_bpf_signing();
	Result<enforce::TrustedKeyring> native_bpf_keyring();
	Result<void> set_up_probe();
	Result<void> set_up_enforcer();
	Result<void> set_up_protection();
	// func=BPF_CHECK (signed_bpf_policy.h): loaded before protection, enabled after it.
	Result<void> load_bpf_policy();
	Result<void> enable_bpf_policy();
	// Why eimad refuses to start: an enforcing func=BPF_CHECK rule it cannot apply.
	Error bpf_check_refusal(const std::string &why) const;
	// Where the BPF policy's and self-protection's refusals go: RUN/audit.jsonl and `eima
	// events`.
	Result<void> decision_record(const enforce::AppraisalRecord &r);
	Result<ima::TemplateEntry> boot_aggregate_entry();
	Container &container_for(const PendingEvent &ev);
	// The "eima-interrupted:<from>-<to>" violation on a PCR.
	Result<ima::TemplateEntry> interruption(std::uint32_t pcr,
						std::pair<std::uint64_t, std::uint64_t> span) const;
	// After a restart: the containers the last eimad left in RUN/containers. Running ones
	// get their lists and vTPMs back (and the interruption entry, when there is a gap);
	// those that exited meanwhile get their final evidence; exited ones stay in `eima ps`.
	// Without a resumed host list, they all go.
	Result<void> resume_containers(bool host_resumed,
				       std::optional<std::pair<std::uint64_t, std::uint64_t>> gap_span);
	// A container that exited: its event, then retirement (final quote and evidence).
	void retire(Container c);
	// An event for `eima events` and syslog (docs/events.md).
	void emit(nlohmann::json ev);
	// RUN/containers/<id>, boot_aggregate first, and the container's vTPM.
	void open_container_list(Container &c);
	void append_container(Container &c, const ima::TemplateEntry &entry);
	// Appends the binding entry of every vTPM that came up since the last call.
	void bind_vtpms();
	// Every second: containers whose mount namespace no process is in any more.
	void reap_exited();
	// A live or retiring container by key.
	Container *find_container(std::uint64_t key);
	void handle_event(const PendingEvent &ev);
	// The template and file digest algorithm of an entry for this event.
	std::pair<TemplateKind, ima::HashAlgo> template_for(const eima_event_head &h) const;
	// c == nullptr: a host process.
	void record(Container *c, const PendingEvent &ev, const Result<Bytes> &digest,
		    const Bytes &signature);
	void poll_drops();
	void flush_all();
	void drain_ring();

	// ControlService: what `eima status`, `ps`, `pcrs` and `quote` are answered with.
	nlohmann::json status() const override;
	nlohmann::json ps() const override;
	ControlAnswer pcrs(const nlohmann::json &req) override;
	ControlAnswer quote(const nlohmann::json &req) override;
	ControlAnswer identity(const nlohmann::json &req) override;
	ControlAnswer activate(const nlohmann::json &req) override;
	nlohmann::json authorize_bless(int pid, const std::function<bool()> &peer_waiting) override;
	std::string why_late() const override;
	nlohmann::json stop(const ControlPeer &peer) override;

	AgentConfig config_;
	std::unique_ptr<tpm::Swtpm> swtpm_;
	std::unique_ptr<TpmExtender> extender_;
	std::string tpm_description_ = "none";
	std::unique_ptr<MeasurementProbe> probe_;
	// Pinning and adoption (docs/restart.md): how this start found the pinned set, and
	// "off: why" when the probe is not pinned.
	Adoption adoption_;
	std::string pinning_;
	std::optional<ProbePins> pins_; // from open_pins() until set_up_probe() takes it
	std::optional<std::size_t> adopted_events_;   // events in the first drain after adopting
	std::string mode_reason_;                     // why this mode was chosen
	std::vector<std::string> policy_unsupported_; // rules this mode cannot honour
	std::size_t policy_rules_ = 0;
	bool policy_appraises_ = false;
	eima_policy compiled_policy_{}; // what the kernel holds, measured into the host list
	std::optional<enforce::Enforcer> enforcer_; // appraisal, its keyring and audit log
	std::unique_ptr<SelfProtection> protection_; // --protect
	std::string protection_off_;		     // why it is off, for `eima status`
	policy::BpfCheckPolicy bpf_rules_;	     // the policy's func=BPF_CHECK rules
	std::unique_ptr<SignedBpfPolicy> bpf_policy_; // applying them
	std::string bpf_policy_off_;		     // why they are not applied, when not
	EarlierSets bpf_earlier_; // earlier eimads' sets: put in audit mode, or left enforcing
	// With --bpf-cert, how eimad's signed objects load (measuring programs, protection, BPF
	// policy): the kernel's signing path, probed once, and on the native path the keyring
	// each load is checked against (signed_bpf_policy.h, step 0).
	std::optional<bpfsign::SigningContext> bpf_signing_;
	std::optional<enforce::AuditLog> bpf_audit_; // when appraisal keeps no audit log
	bool stop_requested_ = false;		     // by `eima stop`
	std::uint64_t host_mntns_ = 0;
	UniqueFd host_root_;
	std::optional<HostRecorder> host_;
	ima::TemplateEntry boot_aggregate_;
	HostProcesses proc_;
	std::optional<ContainerRegistry> registry_;
	MeasurementCache cache_;
	FileMeasurer measurer_{cache_};
	std::string kernel_digest_; // "bpf_ima_file_hash", or "off: " and why
	std::unique_ptr<RingReader> ring_;
	ProcessRootCache process_roots_; // for one drain of the ring
	std::optional<QuoteService> quotes_;
	std::optional<Retirement> retirement_;
	std::optional<ControlServer> control_;
	std::uint64_t events_ = 0, violations_ = 0;
	std::uint64_t quotes_requested_ = 0; // eima quote requests, host and containers
	std::optional<EventStream> event_stream_; // while run() runs
	std::mutex event_stream_mu_;              // post_event against its start and end
	// The longest the event loop spent on one wakeup: what a burst of events or of exits
	// delayed everything else by.
	std::chrono::steady_clock::duration longest_wakeup_{};
};

} // namespace eima::agent
