// eimad's configuration: what the command line chose, parsed once into enums so that no
// string is compared per event.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "enforce/enforcer.h"
#include "ima/hash_algo.h"

namespace eima::agent {

// --mode: BPF LSM hooks, tracepoints, or LSM where the kernel has it.
enum class ModeChoice { automatic, lsm, trace };
std::optional<ModeChoice> mode_choice_from_name(std::string_view name); // auto|lsm|trace

// --tpm: the host's TPM.
struct TpmChoice {
	enum class Kind { automatic, swtpm, device, none } kind = Kind::automatic;
	std::string device = "/dev/tpmrm0"; // with Kind::device
};
// auto | swtpm | device | device:PATH | none
Result<TpmChoice> tpm_choice_from_name(std::string_view name);

// --protect: self-protection on (a start error where it cannot be had), off, or automatic:
// on where eimad runs in lsm mode with its set pinned, else off with the reason in `eima
// status` (the shipped configuration, which must start on kernels without BPF LSM too).
enum class ProtectChoice { automatic, on, off };
// auto | on | off (true and false, as a TOML boolean in the configuration file, too)
std::optional<ProtectChoice> protect_choice_from_name(std::string_view name);

// --template and a rule's template=: the list's template.
enum class TemplateKind { ima, ima_ng, ima_sig };
std::string_view template_name(TemplateKind t);
std::optional<TemplateKind> template_from_name(std::string_view name);

struct AgentConfig {
	std::string run_dir = "/run/eima";
	std::string policy = "exec"; // a policy file, or a built-in name: exec, tcb
	ModeChoice mode = ModeChoice::automatic;
	TpmChoice tpm;
	bool vtpm = true; // a swtpm per container (--vtpm swtpm), or none
	ima::HashAlgo hash = ima::HashAlgo::sha256;
	TemplateKind template_kind = TemplateKind::ima_ng;
	std::uint32_t host_pcr = 10;      // host processes' entries in the host list
	std::uint32_t container_pcr = 11; // containers' entries in the host list
	std::string runc_state_dir = "/run/runc";
	std::uint32_t ring_buffer_kb = 0; // 0: the BPF object's 4 MiB
	// Exited containers kept (in `eima ps`, and their directories under RUN/containers);
	// beyond this many the oldest one's directory is removed. /run is memory.
	std::size_t keep_exited = 100;
	// Start new lists (and, with the embedded swtpm, zeroed PCRs) even where the last
	// ones could be resumed.
	bool fresh = false;
	// Where the BPF links and maps are pinned, so that events queue in the kernel while
	// eimad is down (docs/restart.md); "" for pin_dir_for(run_dir), "none" for no pins.
	std::string pin_dir;
	// Self-protection (--protect, lsm mode with pins; docs/self-protection.md).
	ProtectChoice protect = ProtectChoice::off;
	// Tests only, in builds with EIMA_TEST_BYPASS: signals from this cgroup (its id) reach
	// eimad under protection, so a test can simulate a crash.
	std::uint64_t protect_test_kill_cgroup = 0;
	bool protect_test_bypass_compiled = false; // eimad has --protect-test-kill-cgroup
	// func=BPF_CHECK in the policy (signed_bpf_policy.h): where the signed policy objects
	// are (--bpf-objects) and the certificate they are signed with (--bpf-cert).
	std::string bpf_objects_dir;
	std::string bpf_cert;
	// Appraisal in lsm mode (--appraise, --trusted-cert, --blessing-xattr).
	enforce::EnforceConfig enforce;
	// Prometheus metrics: "unix:PATH" or "ADDR:PORT"; "" for none (metrics_endpoint.h).
	std::string metrics;
	bool events_syslog = false; // also send every event (docs/events.md) to syslog
	// What enforces, if anything runs beside the agent (the fanotify enforcer): its part of
	// `eima status`, under "enforcement". Called on the agent's loop; must be thread-safe.
	std::function<nlohmann::json()> enforcement_status;
};

// The default pin directory of a run directory: one pinned set per run directory, as the
// events queued in it belong to that directory's lists. /run/eima -> /sys/fs/bpf/eima/run-eima
// ('/' as '-', '.' as '_').
std::string pin_dir_for(const std::string &run_dir);
constexpr const char *default_pin_parent = "/sys/fs/bpf/eima";

} // namespace eima::agent
