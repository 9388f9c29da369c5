// eimad: the measuring agent. See src/agent/agent.h for the path of one event.
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdlib>

#include <pthread.h>
#include <sys/stat.h>

#include <cstring>
#include <fmt/format.h>

#include "agent/agent.h"
#include "agent/agent_log.h"
#include "agent/metrics_endpoint.h"
#include "agent/self_protection.h"
#include "enforce/audit_log.h"
#include "enforce/fanotify_enforcer.h"

namespace {

// eimad --force-cleanup: run as eimad's executable, which a crashed eimad's protection lets
// remove what it left.
int run_force_cleanup(const std::string &pin_dir)
{
	std::vector<std::string> extra;
	if (!pin_dir.empty() && pin_dir != "none")
		extra.push_back(pin_dir);
	auto r = eima::agent::force_cleanup(eima::agent::default_pin_parent, extra);
	if (!r) {
		spdlog::critical("{}", r.error().message());
		return 1;
	}
	for (auto &d : r->removed_pins)
		fmt::print("removed pins: {}\n", d);
	for (auto k : r->unlinked_keyrings)
		fmt::print("unlinked keyring: {}\n", k);
	for (auto &p : r->problems)
		fmt::print(stderr, "not removed: {}\n", p);
	if (r->removed_pins.empty() && r->unlinked_keyrings.empty() && r->problems.empty())
		fmt::print("nothing of eima's left\n");
	return r->problems.empty() ? 0 : 1;
}

} // namespace

int main(int argc, char **argv)
{
	using namespace eima;
	agent::AgentConfig cfg;
	std::string hash = "sha256", mode = "auto", tpm = "auto", vtpm = "swtpm", tmpl = "ima-ng";
	std::string log_level = "info";
	bool foreground = false;

	CLI::App app{"eimad: per-container IMA measurement from eBPF"};
	app.set_version_flag("--version", "eimad " EIMA_VERSION);
	// Every option can also come from a file of `name = value` lines (the package's
	// /etc/eima/eimad.conf, which eimad.service passes); the command line wins.
	app.set_config("--config", "", "read options from this file (TOML/INI: option = value)");
	app.allow_config_extras(CLI::config_extras_mode::error); // a misspelt key is an error
	app.add_option("--run-dir", cfg.run_dir, "where lists and the control socket live");
	app.add_option("--policy", cfg.policy,
		       "IMA policy file, or a built-in: exec (default), tcb");
	app.add_option("--mode", mode, "auto | lsm | trace")
		->check(CLI::IsMember({"auto", "lsm", "trace"}));
	app.add_option("--tpm", tpm, "auto | swtpm | device[:PATH] | none")
		->check([](const std::string &v) {
			auto c = agent::tpm_choice_from_name(v);
			return c ? std::string() : c.error().message();
		});
	app.add_option("--vtpm", vtpm,
		       "a TPM per container: swtpm (default: one swtpm each, bound into the "
		       "host list) | none (containers only in the host list)")
		->check(CLI::IsMember({"swtpm", "none"}));
	app.add_option("--hash", hash, "file digest algorithm")
		->check(CLI::IsMember({"sha1", "sha256", "sha384", "sha512"}));
	app.add_option("--template", tmpl, "ima-ng | ima-sig | ima")
		->check(CLI::IsMember({"ima-ng", "ima-sig", "ima"}));
	app.add_option("--host-pcr", cfg.host_pcr, "PCR of host processes' entries (default 10)")
		->check(CLI::Range(0, 23));
	app.add_option("--container-pcr", cfg.container_pcr,
		       "PCR of containers' entries in the host list (default 11)")
		->check(CLI::Range(0, 23));
	app.add_option("--ring-buffer-kb", cfg.ring_buffer_kb,
		       "kernel-to-agent ring buffer size (power of two; default 4096)")
		->check([](const std::string &v) {
			unsigned long n = std::stoul(v);
			return n >= 4 && (n & (n - 1)) == 0 ? "" : "must be a power of two >= 4";
		});
	app.add_option("--keep-exited", cfg.keep_exited,
		       "exited containers kept with their lists and final evidence under "
		       "RUN/containers; beyond this many the oldest one's directory is removed "
		       "(default 100)");
	app.add_option("--log-level", log_level, "trace | debug | info (default) | warn | error")
		->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
	app.add_flag("--fresh", cfg.fresh,
		     "start new lists (and zeroed PCRs in the embedded swtpm) instead of resuming "
		     "the last ones; a new boot always does");
	app.add_option(
		"--pin-dir", cfg.pin_dir,
		"directory on bpffs where the BPF programs and ring buffer stay pinned while "
		"eimad is killed or restarting, so execs meanwhile are measured when it "
		"returns (default /sys/fs/bpf/eima/<run dir>; none: no pins)");
	std::string appraise = "auto", blessing_xattr = "user.eima";
	app.add_option("--appraise", appraise,
		       "what appraise rules do in lsm mode: enforce (refuse with EPERM), audit "
		       "(allow and log), off; default: enforce when the policy has appraise "
		       "rules (docs/enforcement.md)")
		->check(CLI::IsMember({"auto", "enforce", "audit", "off"}));
	app.add_option("--trusted-cert", cfg.enforce.trusted_certs,
		       "certificate (PEM or DER) whose key may sign blessings; repeatable. "
		       "Loaded into a keyring eimad creates and locks")
		->check(CLI::ExistingFile);
	cfg.bpf_objects_dir = EIMA_BPF_OBJECT_DIR;
	app.add_option("--bpf-cert", cfg.bpf_cert,
		       "the certificate (PEM or DER) eima's BPF objects are signed with, needed by "
		       "func=BPF_CHECK in the policy; with it, --protect loads its programs signed "
		       "too. On 6.18+ eimad loads it into a locked keyring of its own "
		       "(\"eima:bpf:<run dir>\"), the keyring signed loads are checked against; "
		       "before 6.18 eimad checks the objects against it (docs/signed-bpf.md)")
		->check(CLI::ExistingFile);
	app.add_option("--bpf-objects", cfg.bpf_objects_dir,
		       "the directory of the signed objects eimad loads with --bpf-cert: "
		       "bpf_policy.signed.bpf.o, bpf_policy_tl.signed.bpf.o, "
		       "self_protect.signed.bpf.o (default " +
			       std::string(EIMA_BPF_OBJECT_DIR) + ")");
	app.add_option("--blessing-xattr", blessing_xattr,
		       "where blessings are read: user.eima (6.8+) or security.bpf.eima (6.13+)")
		->check(CLI::IsMember({"user.eima", "security.bpf.eima"}));
	app.add_option("--metrics", cfg.metrics,
		       "serve Prometheus metrics (GET /metrics) on unix:PATH or ADDR:PORT "
		       "(127.0.0.1:9464, [::1]:9464, :9464 for every address)")
		->check([](const std::string &v) {
			auto a = agent::parse_metrics_address(v);
			return a ? std::string() : a.error().message();
		});
	app.add_flag("--events-syslog", cfg.events_syslog,
		     "also send every event (measurements, violations, containers, quotes; "
		     "docs/events.md) to syslog, which journald reads");
	// Hosts without BPF LSM: the same blessings, trusted certificates and --appraise,
	// enforced with fanotify in user space (docs/fanotify-enforcement.md).
	enforce::FanotifyConfig fan;
	std::string fan_scope = "filesystem";
	unsigned fan_timeout_ms = 2000;
	app.add_option("--enforce-fanotify", fan.path,
		       "enforce blessings with fanotify permission events on the file system "
		       "mounted at this path (hosts without BPF LSM; see `eima status` for what "
		       "this mode does not protect)");
	app.add_option("--fanotify-scope", fan_scope,
		       "filesystem (default: every mount of it, in every mount namespace) | mount "
		       "(that mount only)")
		->check(CLI::IsMember({"filesystem", "mount"}));
	app.add_option("--fanotify-timeout-ms", fan_timeout_ms,
		       "a verdict not reached in this time is given by a watchdog: deny (enforce) "
		       "or allow (audit); default 2000")
		->check(CLI::Range(10u, 60000u));
	std::string protect = "off";
	app.add_flag("--protect{on}", protect,
		     "self-protection (lsm mode, pinned set): no other process, root included, "
		     "may detach or update eima's BPF objects, remove its pins or keyring, or "
		     "signal or ptrace eimad; `eima stop` and PID 1 stop it "
		     "(docs/self-protection.md). --protect=auto: on where eimad runs in lsm "
		     "mode with its set pinned, else off, said in `eima status` (the shipped "
		     "configuration); --protect alone: on, and a start error where it cannot be")
		->check(CLI::IsMember({"on", "off", "auto", "true", "false"}));
#ifdef EIMA_TEST_BYPASS
	std::string test_kill_cgroup;
	app.add_option("--protect-test-kill-cgroup", test_kill_cgroup,
		       "TESTS ONLY (not in release builds): signals from processes in this cgroup "
		       "v2 directory reach a protected eimad, to simulate a crash")
		->check(CLI::ExistingDirectory);
#endif
	bool force_cleanup = false;
	app.add_flag("--force-cleanup", force_cleanup,
		     "remove every eima pin directory under /sys/fs/bpf/eima (and --pin-dir) "
		     "and every eima keyring, then exit; refused while an eimad runs (what `eima "
		     "stop --force-cleanup` runs)");
	app.add_flag("--foreground", foreground,
		     "stay in the foreground (eimad never daemonizes; kept for scripts)");
	CLI11_PARSE(app, argc, argv);
	agent::init_agent_log(log_level);
	if (force_cleanup)
		return run_force_cleanup(cfg.pin_dir);
#ifdef EIMA_TEST_BYPASS
	cfg.protect_test_bypass_compiled = true;
	if (!test_kill_cgroup.empty()) {
		struct stat st;
		if (::stat(test_kill_cgroup.c_str(), &st) != 0) {
			spdlog::critical("--protect-test-kill-cgroup {}: {}", test_kill_cgroup,
					 std::strerror(errno));
			return 1;
		}
		cfg.protect_test_kill_cgroup = st.st_ino; // a cgroup v2 directory's inode is its id
	}
#endif
	// tpm2-tss logs its own failures to stderr; eimad reports them itself, decoded, with
	// what it was doing. TSS2_LOG set by the caller wins.
	::setenv("TSS2_LOG", "all+none", 0);
	cfg.hash = *ima::hash_algo_from_name(hash);
	cfg.mode = *agent::mode_choice_from_name(mode);
	cfg.protect = *agent::protect_choice_from_name(protect);
	cfg.tpm = *agent::tpm_choice_from_name(tpm);
	cfg.vtpm = vtpm == "swtpm";
	cfg.template_kind = *agent::template_from_name(tmpl);
	cfg.enforce.appraise = *enforce::appraise_choice_from_name(appraise);
	if (!fan.path.empty()) {
		// fanotify enforces in user space; the kernel's appraise hooks stay off.
		fan.trusted_certs = cfg.enforce.trusted_certs;
		fan.blessing_xattr = blessing_xattr;
		fan.mode = appraise == "audit" ? enforce::AppraiseMode::audit
					       : enforce::AppraiseMode::enforce;
		cfg.enforce.appraise = enforce::AppraiseChoice::off;
	}
	cfg.enforce.xattr =
		blessing_xattr == "security.bpf.eima" ? EIMA_XATTR_SECURITY_BPF : EIMA_XATTR_USER;

	// Block SIGTERM/SIGINT before any thread exists, so every thread inherits the mask and
	// the signals reach only the agent's signalfd: a clean stop, never a kill.
	sigset_t stop_signals;
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

	// The enforcer is made after the agent (which creates the run directory) and reports
	// through the agent's status; the holder outlives both, and the enforcer is destroyed
	// (its fanotify group closed, every pending event let through) on every way out.
	std::optional<enforce::AuditLog> audit_log; // declared first: it outlives the enforcer
	auto enforcer = std::make_shared<std::unique_ptr<enforce::FanotifyEnforcer>>();
	if (!fan.path.empty())
		cfg.enforcement_status = [enforcer] {
			return *enforcer ? (*enforcer)->status() : nlohmann::json();
		};
	auto agent = agent::Agent::start(cfg);
	if (!agent) {
		spdlog::critical("{}", agent.error().message());
		return 1;
	}
	if (!fan.path.empty()) {
		fan.scope = fan_scope == "mount" ? enforce::MarkScope::mount
						 : enforce::MarkScope::filesystem;
		fan.response_timeout = std::chrono::milliseconds(fan_timeout_ms);
		fan.runc_state_dir = cfg.runc_state_dir;
		auto log = enforce::AuditLog::open(cfg.run_dir + "/audit.jsonl");
		if (!log) {
			spdlog::critical("{}", log.error().message());
			return 1;
		}
		audit_log.emplace(std::move(*log));
		fan.on_decision = [a = agent->get()](const enforce::AppraisalRecord &r) {
			a->post_event(enforce::decision_event(r));
		};
		auto e = enforce::FanotifyEnforcer::start(fan, &*audit_log);
		if (!e) {
			spdlog::critical("{}", e.error().message());
			return 1;
		}
		*enforcer = std::move(*e);
	}
	auto r = (*agent)->run();
	enforcer->reset();
	if (!r) {
		spdlog::critical("{}", r.error().message());
		return 1;
	}
	return 0;
}
