#include "agent/agent.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "agent/agent_log.h"
#include "agent/container_state.h"
#include "agent/event_stream.h"
#include "agent/file_opener.h"
#include "agent/metrics_endpoint.h"
#include "agent/policy_loader.h"
#include "agent/self_measurement.h"
#include "agent/prometheus_text.h"
#include "agent/service_notify.h"
#include "bpfsign/signed_loader.h"
#include "common/file_io.h"
#include "common/hex.h"
#include "common/json_text.h"
#include "policy/ima_policy.h"

namespace eima::agent {

namespace fs = std::filesystem;

namespace {

std::uint64_t ns_inode(const char *path)
{
	struct stat st;
	return ::stat(path, &st) == 0 ? st.st_ino : 0;
}

// Name recorded for a file that could not be measured: its path when the kernel gave one.
std::string event_path(const eima_event_head &head, const std::string &path)
{
	if (head.flags & EIMA_EVF_NO_PATH || path.empty())
		return fmt::format("<dev {}:{} ino {}>", head.file.dev >> 20, head.file.dev & 0xfffff,
				   head.file.ino);
	return path;
}

std::string current_boot_id()
{
	auto id = read_file("/proc/sys/kernel/random/boot_id");
	return id ? *id : std::string("unknown\n");
}

} // namespace

Agent::~Agent()
{
	protection_.reset(); // lifted first: what follows unpins eima's set
	bpf_policy_.reset(); // writes what it queued, unpins: BPF loads are no longer judged
	ring_.reset();
	probe_.reset();     // detach first: no new events
	extender_.reset();  // drains the TPM queue
	swtpm_.reset();     // then the TPM goes
}

Result<std::unique_ptr<Agent>> Agent::start(const AgentConfig &config)
{
	auto agent = std::unique_ptr<Agent>(new Agent());
	agent->config_ = config;
	agent->registry_.emplace(agent->proc_, config.runc_state_dir, config.keep_exited);
	std::error_code ec;
	fs::create_directories(config.run_dir, ec);
	if (ec)
		return fail(ec.value(), "create run directory", config.run_dir);

	// The host is init's mount namespace. Where init's is hidden from us (a sandbox that
	// runs eimad), our own stands in: eimad then runs in the host's namespace by design.
	agent->host_mntns_ = ns_inode("/proc/1/ns/mnt");
	if (!agent->host_mntns_)
		agent->host_mntns_ = ns_inode("/proc/self/ns/mnt");
	if (!agent->host_mntns_)
		return fail(errno, "stat", "/proc/self/ns/mnt");
	int root = ::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return fail(errno, "open", "/");
	agent->host_root_.reset(root);

	// The pin directory first: a pinned set's FILE_CHECK programs skip this process's own
	// opens from here on (the files below are read before the set is adopted).
	if (auto r = agent->open_pins(); !r)
		return std::unexpected(r.error());
	// A BPF policy an earlier eimad left keeps enforcing if it trusts what this one loads,
	// else audit mode until this eimad's policy replaces it (signed_bpf_policy.h).
	if (auto r = agent->set_up_bpf_signing(); !r)
		return std::unexpected(r.error());
	if (agent->pins_) {
		OwnLoads own;
		if (agent->bpf_signing_ && agent->bpf_signing_->keyring)
			own.keyring = agent->bpf_signing_->keyring->serial;
		// With the signer's certificate, in lsm mode, every object eimad loads is signed.
		own.all_signed = !config.bpf_cert.empty() && config.mode != ModeChoice::trace;
		agent->bpf_earlier_ = SignedBpfPolicy::relax_earlier(agent->pins_->dir(), own);
	}
	if (auto r = agent->set_up_tpm(); !r)
		return std::unexpected(r.error());
	auto boot = agent->boot_aggregate_entry();
	if (!boot)
		return std::unexpected(boot.error());
	agent->boot_aggregate_ = *boot;

	// On the host's PCR, which is not 10 when the kernel's IMA has that one; containers'
	// lists start with it on their vTPM's PCR 10.
	ima::TemplateEntry host_boot = agent->boot_aggregate_;
	host_boot.pcr = config.host_pcr;
	// After an extend fails the extender opens the TPM again: eimad's own swtpm is started
	// again if it died (docs/failure-modes.md).
	TpmExtender::Opener reopen;
	if (agent->extender_)
		reopen = tpm_reopener(agent->swtpm_.get(), agent->swtpm_ ? agent->swtpm_->tcti()
									: "device:" + config.tpm.device);
	agent->host_.emplace(config.run_dir + "/host", agent->extender_.get(), std::move(reopen));
	auto resumed = agent->host_->open({ima::HashAlgo::sha1, ima::HashAlgo::sha256}, config.fresh,
					  current_boot_id(), host_boot);
	if (!resumed)
		return std::unexpected(resumed.error());

	if (auto r = agent->set_up_probe(); !r)
		return std::unexpected(r.error());
	if (auto r = agent->set_up_enforcer(); !r)
		return std::unexpected(r.error());
	// An adopted set kept measuring while eimad was down: the execs of the gap are queued
	// in its ring, or counted as drops per namespace. Only events the killed eimad had
	// taken from the ring but not yet written (it died mid-drain) are lost: then, as after
	// a fresh load, nothing was measured from its last drain until now.
	bool gap_measured = agent->adoption_.adopted && !agent->adoption_.uncommitted;
	std::optional<std::pair<std::uint64_t, std::uint64_t>> gap_span;
	if (*resumed && !gap_measured) {
		// Nothing was measured from the last entry eimad wrote until the programs were
		// attached again: one violation says so, with the span, so that no exec in it is
		// a silent gap (in the host list, and in every running container's).
		gap_span.emplace(agent->host_->drained_at_ns(),
				 wall_ns(std::chrono::system_clock::now()));
		auto gap = agent->interruption(config.host_pcr, *gap_span);
		if (!gap)
			return std::unexpected(gap.error());
		agent->host_->append(*gap);
		++agent->violations_;
	}
	// The code that measures and its rules (docs/measurer.md): on a new list right after
	// boot_aggregate, on a resumed one after what it holds (a restart may run another
	// binary or policy). An eimad that cannot say what it runs does not measure.
	SelfMeasurementFormat self_format{config.template_kind, config.hash, config.host_pcr};
	auto self = measure_self(self_format, *agent->probe_, agent->compiled_policy_);
	if (!self)
		return std::unexpected(self.error());
	for (auto &e : *self)
		agent->host_->append(e);
	Agent *a = agent.get();
	agent->quotes_.emplace(QuoteService::Site{
		agent->extender_.get(), &*agent->host_, &*agent->registry_, config.hash,
		config.host_pcr, config.container_pcr,
		[a](std::uint64_t key) { return a->find_container(key); }, [a] { a->flush_all(); }});
	agent->retirement_.emplace(Retirement::Site{
		&*agent->registry_, &*agent->quotes_, config.run_dir,
		[a](const Container &c) {
			// The namespace's inode number will be reused: nothing measured under it
			// may carry over.
			a->probe_->forget_mntns(c.ns.mnt, c.key);
			a->cache_.forget_mntns(c.key);
		},
		[a] { a->flush_all(); }});
	if (auto r = agent->resume_containers(*resumed, gap_span); !r)
		return std::unexpected(r.error());
	// Each answer covers every event so far (the ring is drained first), and the lists on
	// disk hold what it covers.
	agent->control_.emplace(static_cast<ControlService &>(*agent), [a] { a->flush_all(); },
				[a] { a->drain_ring(); });
	if (auto r = agent->control_->listen(config.run_dir + "/eimad.sock"); !r)
		return std::unexpected(r.error());
	// The BPF policy loads attached but allowing everything, so that protection's programs
	// load even when they are unsigned (no --bpf-cert); protection then covers the policy's
	// pins and keyring.
	if (auto r = agent->load_bpf_policy(); !r)
		return std::unexpected(r.error());
	// Last: everything it protects is in place (pins, keyring, the control socket that
	// is the one way left to stop eimad).
	if (auto r = agent->set_up_protection(); !r)
		return std::unexpected(r.error());
	if (agent->protection_) {
		// Its programs are measuring code too (docs/measurer.md).
		auto progs = measure_protection(self_format, *agent->protection_);
		if (!progs)
			return std::unexpected(progs.error());
		for (auto &e : *progs)
			agent->host_->append(e);
	}
	// eimad loads nothing unsigned from here on: BPF loads are judged.
	if (auto r = agent->enable_bpf_policy(); !r)
		return std::unexpected(r.error());
	if (agent->bpf_policy_) {
		auto progs = agent->bpf_policy_->measure(self_format);
		if (!progs)
			return std::unexpected(progs.error());
		for (auto &e : *progs)
			agent->host_->append(e);
	}
	agent->flush_all();
	return agent;
}

Result<void> Agent::set_up_protection()
{
	if (config_.protect == ProtectChoice::off) {
		protection_off_ = "not asked for: eimad --protect";
		return {};
	}
	std::string why;
	if (probe_->mode() != ProbeMode::lsm)
		why = "needs lsm mode (BPF LSM hooks protect eima)";
	else if (probe_->pin_dir().empty())
		why = "needs the BPF set pinned (pinning is " + pinning_ +
		      "): protection guards the pins that outlive eimad";
	if (!why.empty()) {
		if (config_.protect == ProtectChoice::on)
			return fail(EINVAL, "--protect", why);
		// auto: the shipped configuration starts everywhere, and says what it lacks.
		protection_off_ = "protect = auto, and protection " + why;
		spdlog::warn("self-protection off: {}", protection_off_);
		return {};
	}
	ProtectRequest req{probe_->pin_dir(), enforcer_->key_serials(),
			   config_.protect_test_kill_cgroup};
	// Signed when eimad knows the signer of its objects: checked against eimad's keyring
	// (which it protects, with its keys).
	req.object = {config_.bpf_objects_dir, bpf_signing_};
	if (bpf_policy_ && !bpf_policy_->pin_dir().empty())
		req.extra_pin_dirs.push_back(bpf_policy_->pin_dir());
	// Its refusals go where the BPF policy's go: RUN/audit.jsonl and `eima events`.
	req.sink = [this](const enforce::AppraisalRecord &r) { return decision_record(r); };
	auto p = SelfProtection::start(req);
	if (!p) {
		if (config_.protect == ProtectChoice::on)
			return std::unexpected(p.error());
		// auto: measuring goes on unprotected, loudly, rather than not at all.
		protection_off_ = "protect = auto, and protection failed to start: " +
				  p.error().message();
		spdlog::error("self-protection off: {}", protection_off_);
		return {};
	}
	protection_ = std::move(*p);
	return {};
}

Error Agent::bpf_check_refusal(const std::string &why) const
{
	return Error{EOPNOTSUPP, fmt::format("policy {}:{}", config_.policy, bpf_rules_.line),
		     "func=BPF_CHECK (enforce) cannot be applied: " + why};
}

Result<void> Agent::load_bpf_policy()
{
	using Mode = policy::BpfCheckPolicy::Mode;
	if (bpf_rules_.mode == Mode::none)
		return {};
	// Enforcement asked for and not possible is a refusal to start: a user who asked that
	// only signed BPF load must not get a machine where anything loads. Audit mode records
	// only, so eimad warns and goes on without it (docs/signed-bpf.md).
	auto not_applied = [&](const std::string &why) -> Result<void> {
		if (bpf_rules_.mode == Mode::enforce)
			return std::unexpected(bpf_check_refusal(why));
		bpf_policy_off_ = "off: " + why;
		spdlog::warn("policy {}:{}: audit func=BPF_CHECK not applied: {}", config_.policy,
			     bpf_rules_.line, why);
		return {};
	};
	if (auto why = signed_bpf_unavailable(probe_->mode(), mode_reason_); !why.empty())
		return not_applied(why);
	SignedBpfRequest req{bpf_rules_, config_.policy, config_.bpf_objects_dir,
			     probe_->pin_dir(), bpf_signing_};
	auto p = SignedBpfPolicy::load(req);
	if (!p)
		return not_applied(p.error().message());
	bpf_policy_ = std::move(*p);
	return {};
}

Result<void> Agent::decision_record(const enforce::AppraisalRecord &r)
{
	spdlog::warn("{}: {}", r.mechanism == "self_protection" ? "self-protection" : "BPF policy",
		     enforce::to_text(r));
	emit(enforce::decision_event(r));
	enforce::AuditLog *log = enforcer_ ? enforcer_->audit_log() : nullptr;
	if (!log) {
		if (!bpf_audit_) {
			auto l = enforce::AuditLog::open(config_.run_dir + "/audit.jsonl",
							 config_.enforce.audit_limits);
			if (!l)
				return std::unexpected(l.error());
			bpf_audit_.emplace(std::move(*l));
		}
		log = &*bpf_audit_;
	}
	return log->append(json_dump(enforce::to_json(r)));
}

Result<void> Agent::enable_bpf_policy()
{
	auto sink = [this](const enforce::AppraisalRecord &r) { return decision_record(r); };
	if (!bpf_policy_) {
		// No rules now (or not applied): earlier eimads' sets go, their events logged.
		if (!probe_->pin_dir().empty())
			SignedBpfPolicy::remove_earlier(probe_->pin_dir(), sink);
		return {};
	}
	if (auto r = bpf_policy_->enable(sink); !r) {
		if (bpf_rules_.mode == policy::BpfCheckPolicy::Mode::enforce)
			return r;
		bpf_policy_off_ = "off: " + r.error().message();
		spdlog::warn("audit func=BPF_CHECK not applied: {}", r.error().message());
		bpf_policy_.reset();
	}
	return {};
}

nlohmann::json Agent::stop(const ControlPeer &peer)
{
	// The socket is root's (0600), so this holds already; said here so that loosening the
	// socket's mode never lets anyone else lift protection.
	if (peer.uid != 0)
		return {{"error", fmt::format("stop: only root may stop eimad (peer uid {})", peer.uid)}};
	spdlog::info("stop requested over the control socket by pid {} (uid 0){}", peer.pid,
		     protection_ ? ": lifting self-protection" : "");
	stop_requested_ = true;
	return {{"stopping", true}, {"pid", ::getpid()}};
}


Result<void> Agent::set_up_tpm()
{
	using Kind = TpmChoice::Kind;
	Kind choice = config_.tpm.kind;
	std::string tcti;
	if (choice == Kind::automatic)
		choice = ::access("/dev/tpmrm0", R_OK | W_OK) == 0 ? Kind::device : Kind::swtpm;
	if (choice == Kind::none) {
		tpm_description_ = "none";
		return {};
	}
	if (choice == Kind::swtpm) {
		// Its PCRs outlive eimad, as a device TPM's do, so the lists can be resumed.
		tpm::SwtpmOptions opts;
		opts.persistent = true;
		opts.fresh = config_.fresh;
		auto sw = tpm::Swtpm::start(config_.run_dir + "/tpm", opts);
		if (!sw)
			return std::unexpected(sw.error());
		swtpm_ = std::move(*sw);
		tcti = swtpm_->tcti();
		tpm_description_ = "swtpm (" + tcti + ")";
	} else {
		const std::string &path = config_.tpm.device;
		// The kernel's IMA extends its own PCR (10 unless built otherwise) in the same
		// TPM: sharing it, neither list would replay. Its first entry names that PCR.
		std::string ima_list = "/sys/kernel/security/ima/ascii_runtime_measurements";
		if (auto first = read_file_prefix(ima_list, 256); first && !first->empty()) {
			std::uint32_t kernel_pcr = static_cast<std::uint32_t>(std::atoi(first->c_str()));
			if (kernel_pcr == config_.host_pcr || kernel_pcr == config_.container_pcr)
				return fail(EBUSY, "choose PCRs",
					    fmt::format("the kernel's IMA extends PCR {} of {}; give eimad "
							"others (--host-pcr, --container-pcr)",
							kernel_pcr, path));
		}
		tcti = "device:" + path;
		tpm_description_ = "device " + path;
	}
	auto t = tpm::Tpm::open(tcti);
	if (!t)
		return std::unexpected(t.error());
	extender_ = std::make_unique<TpmExtender>(std::make_unique<tpm::Tpm>(std::move(*t)));
	return {};
}

Result<ima::TemplateEntry> Agent::boot_aggregate_entry()
{
	// As the kernel: over the bank of the list's hash algorithm (SHA-1 for the 'ima'
	// template); all zeros when there is no TPM.
	bool ima_template = config_.template_kind == TemplateKind::ima;
	ima::HashAlgo algo = ima_template ? ima::HashAlgo::sha1 : config_.hash;
	Bytes digest(ima::digest_size(algo), 0);
	if (extender_) {
		auto d = extender_
				 ->later<Bytes>([algo](tpm::Tpm &t) { return t.boot_aggregate(algo); })
				 .get();
		if (!d)
			return std::unexpected(d.error());
		digest = *d;
	}
	if (ima_template)
		return ima::make_ima(digest, ima::boot_aggregate_name);
	return ima::make_boot_aggregate(algo, digest, template_name(config_.template_kind));
}

Result<void> Agent::set_up_bpf_signing()
{
	if (config_.bpf_cert.empty())
		return {};
	auto path = bpfsign::probe_signing_path();
	if (!path)
		return std::unexpected(path.error());
	auto signing = bpfsign::signing_context(*path, config_.bpf_cert);
	// Trusted loader: eimad checks the signatures itself, against the certificate.
	if (*path == bpfsign::SigningPath::native) {
		auto keyring = native_bpf_keyring();
		if (!keyring)
			return std::unexpected(keyring.error());
		signing.keyring = std::move(*keyring);
	}
	bpf_signing_ = std::move(signing);
	return {};
}

// The keyring the kernel checks eimad's signed loads against: the one an earlier eimad's
// pinned BPF policy trusts, when it holds exactly --bpf-cert (so that policy accepts them
// while this eimad starts), or a new one.
Result<enforce::TrustedKeyring> Agent::native_bpf_keyring()
{
	const std::string name = "eima:bpf:" + config_.run_dir;
	if (pins_) {
		auto earlier = enforce::find_trusted_keyring(
			name, {config_.bpf_cert}, SignedBpfPolicy::earlier_trusted_keyrings(pins_->dir()));
		if (!earlier)
			return std::unexpected(earlier.error());
		if (*earlier) {
			spdlog::info("keyring {} ({}): an earlier eimad's, trusted by the BPF policy it "
				     "left, holding {}: this eimad's signed loads are checked against it",
				     name, (*earlier)->serial, config_.bpf_cert);
			return std::move(**earlier);
		}
	}
	return enforce::make_trusted_keyring(name, {config_.bpf_cert});
}

Result<void> Agent::open_pins()
{
	if (config_.pin_dir == "none") {
		pinning_ = "off: --pin-dir none";
		return {};
	}
	auto p = ProbePins::open(config_.pin_dir.empty() ? pin_dir_for(config_.run_dir)
							 : config_.pin_dir);
	if (!p && p.error().err == EWOULDBLOCK)
		return std::unexpected(p.error()); // never two readers of one ring
	if (!p) {
		pinning_ = "off: " + p.error().message();
		return {};
	}
	p->claim_agent(static_cast<std::uint32_t>(::getpid()));
	pins_ = std::move(*p);
	return {};
}

Result<void> Agent::set_up_probe()
{
	ProbeMode mode = ProbeMode::trace;
	std::string lsm_reason = bpf_lsm_unavailable_reason();
	if (config_.mode == ModeChoice::lsm ||
	    (config_.mode == ModeChoice::automatic && lsm_reason.empty()))
		mode = ProbeMode::lsm;

	auto options_for = [&](ProbeMode m,
			       bool kernel_digest) -> Result<std::pair<ProbeOptions, eima_policy>> {
		auto pol = load_measure_policy(config_.policy, m);
		if (!pol)
			return std::unexpected(pol.error());
		policy_unsupported_ = pol->unsupported;
		bpf_rules_ = pol->bpf_check;
		policy_rules_ = pol->rules;
		policy_appraises_ = pol->has_appraise;
		compiled_policy_ = pol->compiled;
		ProbeOptions opts{host_mntns_, static_cast<std::uint32_t>(::getpid()),
				  pol->has_file_check, config_.ring_buffer_kb * 1024u, kernel_digest,
				  m == ProbeMode::lsm && pol->has_appraise};
		if (opts.protect_blessed)
			opts.dentry_xattr = enforce::probe_kernel_support().change_hooks_read_xattr;
		// Given the certificate eima's objects are signed with, the measuring programs
		// load from their signed object, as the BPF policy's and self-protection's do. In
		// trace mode too: no BPF LSM refuses an unsigned load there, but the host list
		// then names a signed object, checked by the kernel (6.18+) or by eimad.
		if (bpf_signing_) {
			opts.signed_object = config_.bpf_objects_dir +
					     (m == ProbeMode::lsm ? "/measure_lsm.signed.bpf.o"
								  : "/measure_trace.signed.bpf.o");
			opts.signing = bpf_signing_;
		}
		return std::pair(opts, pol->compiled);
	};
	auto load_in = [&](ProbeMode m,
			   bool kernel_digest) -> Result<std::unique_ptr<MeasurementProbe>> {
		auto o = options_for(m, kernel_digest);
		if (!o)
			return std::unexpected(o.error());
		// An enforcing func=BPF_CHECK rule needs BPF LSM: refused before loading anything.
		if (m == ProbeMode::trace && bpf_rules_.mode == policy::BpfCheckPolicy::Mode::enforce)
			return std::unexpected(bpf_check_refusal(signed_bpf_unavailable(m, lsm_reason)));
		return MeasurementProbe::load(m, o->first, o->second);
	};

	// ---- Pinning: adopt the set a killed eimad left attached (docs/restart.md) ----
	std::optional<ProbePins> pins = std::move(pins_);
	pins_.reset();
	if (pins && config_.fresh) {
		pins->clear();
		adoption_.detail = "--fresh: the pinned set, if any, was detached";
	} else if (pins) {
		auto found = pins->info();
		// --mode auto adopts what the last auto chose (same kernel, same object).
		ProbeMode m = config_.mode == ModeChoice::automatic && found
				      ? static_cast<ProbeMode>(found->mode)
				      : mode;
		auto o = options_for(m, found && found->kernel_digest);
		if (!o)
			return std::unexpected(o.error());
		auto adopted = MeasurementProbe::adopt(*pins, m, o->first, o->second, adoption_);
		if (!adopted)
			return std::unexpected(adopted.error());
		if (*adopted) {
			probe_ = std::move(*adopted);
			mode = m;
			pins.reset(); // the probe owns them now
		} else {
			spdlog::info("pinned BPF set not adopted: {}", adoption_.detail);
		}
	}
	// ---- end pinning ----

	// In lsm mode the sleepable hooks hash in the kernel; where the kernel refuses them (no
	// bpf_ima_file_hash, no sleepable mmap_file before 6.2), the plain hooks report and
	// eimad hashes.
	Result<std::unique_ptr<MeasurementProbe>> probe = fail("load BPF programs");
	std::string sleepable_refused; // why the hooks that hash did not load
	if (probe_) {
		probe = std::move(probe_);
		sleepable_refused = "the adopted set has the plain hooks";
	} else if (mode == ProbeMode::lsm) {
		{
			QuietLibbpf expected_to_fail_on_some_kernels;
			probe = load_in(mode, true);
		}
		if (!probe) {
			sleepable_refused = probe.error().message();
			// With --mode auto a refusal here is reported as the reason for trace mode.
			std::optional<QuietLibbpf> quiet;
			if (config_.mode == ModeChoice::automatic)
				quiet.emplace();
			probe = load_in(mode, false);
		}
	} else {
		probe = load_in(mode, false);
	}
	if (!probe && mode == ProbeMode::lsm && config_.mode == ModeChoice::automatic) {
		// BPF LSM is listed but refused us (e.g. a sandbox): measure from tracepoints.
		lsm_reason = "BPF LSM programs did not load: " + probe.error().message();
		mode = ProbeMode::trace;
		probe = load_in(mode, false);
	}
	if (!probe)
		return std::unexpected(probe.error());
	probe_ = std::move(*probe);

	// ---- Pinning: pin a freshly loaded set ----
	if (pins) {
		if (auto r = probe_->pin(std::move(*pins)); !r) {
			spdlog::warn("BPF set not pinned: {}", r.error().message());
			pinning_ = "off: " + r.error().message();
		}
	}
	if (!probe_->pin_dir().empty())
		pinning_ = probe_->pin_dir();
	// ---- end pinning ----

	kernel_digest_ = probe_->kernel_digest() ? "bpf_ima_file_hash in sleepable LSM hooks"
			 : mode == ProbeMode::trace
				 ? "off: trace mode (tracepoints cannot sleep to hash)"
				 : "off: sleepable LSM hooks did not load: " + sleepable_refused;
	mode_reason_ = mode == ProbeMode::lsm
			       ? "BPF LSM hooks (synchronous)"
			       : "tracepoints (measurement only, after the fact): " +
					 (lsm_reason.empty() ? std::string("requested") : lsm_reason);
	auto ring = RingReader::open(*probe_);
	if (!ring)
		return std::unexpected(ring.error());
	ring_ = std::move(*ring);
	return {};
}

Result<void> Agent::set_up_enforcer()
{
	auto setting = enforce::decide_appraise_mode(config_.enforce, policy_appraises_,
						     probe_->kernel_digest());
	if (!setting)
		return std::unexpected(setting.error());
	auto map = [&](const char *name) {
		auto fd = probe_->open_map(name);
		return fd ? std::move(*fd) : UniqueFd();
	};
	auto e = enforce::Enforcer::start(config_.enforce, *setting, map("appraise_cfg"),
					  map("verdicts"), map("bless_writers"), config_.run_dir);
	if (!e)
		return std::unexpected(e.error());
	enforcer_.emplace(std::move(*e));
	return {};
}

nlohmann::json Agent::authorize_bless(int pid, const std::function<bool()> &peer_waiting)
{
	if (!enforcer_)
		return {{"error", "no enforcement in this eimad"}};
	if (auto r = enforcer_->authorize_bless(pid, peer_waiting); !r)
		return {{"error", r.error().message()}};
	return {{"authorized", pid}, {"appraisal", enforce::appraise_mode_name(enforcer_->mode())}};
}

Container &Agent::container_for(const PendingEvent &ev)
{
	if (Container *c = registry_->find(ev.head.mntns_id))
		return *c;
	// A namespace inode names one live namespace at a time: an older container under this
	// inode has exited, even if the once-a-second reaper has not seen it yet.
	for (auto &old : registry_->take_reused(ev.head.mntns, ev.head.mntns_id))
		retire(std::move(old));
	Container &c = registry_->add(ev.head, probe_->take_cgroup_path(ev.head.mntns_id));
	open_container_list(c);
	probe_->mark_known(ev.head.mntns_id);
	emit({{"type", "container_started"},
	      {"container", c.id},
	      {"runtime", c.runtime},
	      {"mntns", c.ns.mnt},
	      {"pidns", c.ns.pid},
	      {"cgroup_id", c.cgroup_id}});
	return c;
}

Result<ima::TemplateEntry>
Agent::interruption(std::uint32_t pcr, std::pair<std::uint64_t, std::uint64_t> span) const
{
	auto [tmpl, algo] = template_for(eima_event_head{});
	return interruption_entry(template_name(tmpl), algo, pcr, span.first, span.second);
}

Result<void>
Agent::resume_containers(bool host_resumed,
			 std::optional<std::pair<std::uint64_t, std::uint64_t>> gap_span)
{
	fs::path top = fs::path(config_.run_dir) / "containers";
	std::error_code ec;
	std::vector<fs::path> dirs;
	for (auto &e : fs::directory_iterator(top, ec))
		if (e.is_directory(ec))
			dirs.push_back(e.path());
	std::ranges::sort(dirs);
	// A container directory nothing is resumed from: its vTPM (left running by a killed
	// eimad) stops, and it goes, as every container directory went before containers
	// were resumed. Its entries are in the host list (or in the one set aside).
	auto discard = [&](const fs::path &d) {
		tpm::stop_left_running(d / "vtpm");
		fs::remove_all(d, ec);
	};
	if (!host_resumed) {
		// A new host list (--fresh, another boot, a list the TPM no longer matches): the
		// containers' entries it would bind are gone with the old one, so are their lists.
		for (auto &d : dirs)
			discard(d);
		return {};
	}
	for (auto &d : dirs) {
		if (fs::exists(d / "exited.json", ec)) {
			if (auto e = read_exited(d); e)
				registry_->exited(std::move(*e));
			else
				spdlog::warn("containers: {}", e.error().message());
			continue;
		}
		auto saved = read_saved_container(d);
		if (!saved || registry_->find(saved->key) || registry_->id_taken(saved->id)) {
			spdlog::warn("containers: {} not resumed: {}", d.string(),
				     saved ? "its namespace or id is taken" : saved.error().message());
			discard(d);
			continue;
		}
		auto list = MeasurementList::resume(d, {ima::HashAlgo::sha1, ima::HashAlgo::sha256});
		if (!list || list->records.empty()) {
			spdlog::warn("container {}: list not resumed: {}", saved->id,
				     list ? "it held no whole entry" : list.error().message());
			// Its next event starts a new list: what the kernel remembers measuring for
			// it must not keep files out of that one.
			probe_->forget_mntns(saved->ns.mnt, saved->key);
			discard(d);
			continue;
		}
		Container &c = registry_->restore(*saved);
		c.resumed = fmt::format("{} entries{}", list->list.entries(),
					list->torn_bytes ? fmt::format(", {} torn bytes cut off ({})",
								       list->torn_bytes, list->torn_reason)
							 : "");
		c.list = std::move(list->list);
		if (config_.vtpm)
			c.vtpm = std::make_unique<VirtualTpm>((d / "vtpm").string(),
							      c.list->binary_path(), "vTPM of " + c.id,
							      std::move(list->records));
		else
			tpm::stop_left_running(d / "vtpm");
		if (!registry_->still_runs(*saved)) {
			// Exited while no eimad ran: its final evidence now, from its resumed list
			// and vTPM, as for any container that exits.
			spdlog::info("container {} exited while eimad was down: final evidence", c.id);
			retire(registry_->take(saved->key));
			continue;
		}
		if (gap_span) {
			auto gap = interruption(ima::default_ima_pcr, *gap_span);
			if (!gap)
				return std::unexpected(gap.error());
			append_container(c, *gap);
		}
		registry_->capture_root(c, -1);
		probe_->mark_known(c.key);
		spdlog::info("container {} resumed: {}", c.id, c.resumed);
	}
	return {};
}

void Agent::retire(Container c)
{
	emit({{"type", "container_exited"},
	      {"container", c.id},
	      {"runtime", c.runtime},
	      {"entries", c.list ? c.list->entries() : 0},
	      {"violations", c.list ? c.list->violations() : 0}});
	retirement_->retire(std::move(c));
}

void Agent::post_event(nlohmann::json ev)
{
	std::lock_guard lock(event_stream_mu_);
	if (event_stream_)
		event_stream_->post(std::move(ev));
}

void Agent::emit(nlohmann::json ev)
{
	if (event_stream_)
		event_stream_->publish(std::move(ev));
}

void Agent::open_container_list(Container &c)
{
	auto list = MeasurementList::create(config_.run_dir + "/containers/" + c.id,
					    {ima::HashAlgo::sha1, ima::HashAlgo::sha256});
	if (!list) {
		// The host list still gets the container's entries; ps shows 0 for it.
		spdlog::error("container {}: {}", c.id, list.error().message());
		return;
	}
	c.list = std::move(*list);
	// What a restarted eimad finds it by; without it the container is not resumed (it gets
	// a new list at its next event).
	if (auto w = save_container(c.list->dir(), saved_of(c)); !w)
		spdlog::error("container {}: {}", c.id, w.error().message());
	if (config_.vtpm)
		c.vtpm = std::make_unique<VirtualTpm>(c.list->dir() + "/vtpm",
						      c.list->binary_path(), "vTPM of " + c.id);
	append_container(c, boot_aggregate_);
}

void Agent::append_container(Container &c, const ima::TemplateEntry &entry)
{
	auto rec = c.list->append(entry);
	if (!rec) {
		if (rec.error().err != ENOSPC) // lost for want of room: counted, said once
			spdlog::error("container {}: {}", c.id, rec.error().message());
		return;
	}
	if (c.vtpm) // extended once written (flush_container)
		c.unwritten.push_back(std::move(*rec));
}

void Agent::bind_vtpms()
{
	auto bind = [&](Container &c) {
		bool was = c.bound;
		bind_vtpm(c, *host_, config_.hash, config_.container_pcr);
		if (c.bound && !was)
			emit({{"type", "vtpm_bound"}, {"container", c.id}, {"pcr", config_.container_pcr}});
	};
	for (auto &[key, c] : registry_->live())
		bind(c);
	for (auto &r : retirement_->retiring()) // a vTPM may come up after its container exited
		bind(r.c);
}

std::pair<TemplateKind, ima::HashAlgo> Agent::template_for(const eima_event_head &h) const
{
	// A rule's template= wins over --template; 'ima' only knows SHA-1 digests.
	TemplateKind tmpl = config_.template_kind;
	switch (h.template_id) {
	case EIMA_TEMPLATE_IMA: tmpl = TemplateKind::ima; break;
	case EIMA_TEMPLATE_IMA_NG: tmpl = TemplateKind::ima_ng; break;
	case EIMA_TEMPLATE_IMA_SIG: tmpl = TemplateKind::ima_sig; break;
	default: break;
	}
	return {tmpl, tmpl == TemplateKind::ima ? ima::HashAlgo::sha1 : config_.hash};
}

void Agent::handle_event(const PendingEvent &ev)
{
	++events_;
	const eima_event_head &h = ev.head;
	bool host = h.mntns == host_mntns_;
	Container *c = host ? nullptr : &container_for(ev);
	if (h.kind == EIMA_EV_APPRAISAL) {
		emit(enforce::decision_event(enforcer_->record(h, ev.path, c ? c->id : "host")));
		return;
	}
	if (cache_.in_list(h.mntns_id, h.file))
		return;

	auto [tmpl, algo] = template_for(h);
	// The process's own root first (alive: exactly its view), then the root its container
	// had when eimad first saw it; none is needed for a digest the kernel took.
	bool want_sig = tmpl == TemplateKind::ima_sig;
	int proot = -1;
	int fallback = -1;
	if (measurer_.needs_file(h, algo, want_sig)) {
		proot = process_roots_.root_of(static_cast<int>(h.tgid));
		if (proot < 0 && c && !c->root)
			registry_->capture_root(*c, -1);
		fallback = host ? host_root_.get() : (c->root ? c->root.get() : -1);
	}
	int roots[] = {proot, fallback};
	auto m = measurer_.measure(h, ev.path, algo, want_sig, roots);
	const Result<Bytes> &digest = m.digest;
	const Bytes &sig = m.signature;
	if (digest) {
		cache_.add_to_list(h.mntns_id, h.file);
	} else {
		// Recorded as a violation now; the kernel forgets the file so that the next
		// access tries again, and a later success is logged as a normal entry.
		spdlog::warn("violation: {}", digest.error().message());
		probe_->forget({h.mntns_id, h.file.dev, h.file.ino});
	}
	record(c, ev, digest, sig);
}

void Agent::record(Container *c, const PendingEvent &ev, const Result<Bytes> &digest,
		   const Bytes &sig)
{
	bool host = c == nullptr;
	auto [tmpl, algo] = template_for(ev.head);
	std::string path = event_path(ev.head, ev.path);

	auto make = [&](const std::string &name, std::uint32_t pcr) {
		return make_file_entry(tmpl, algo, digest, sig, name, pcr);
	};
	if (!digest)
		++violations_;
	std::uint32_t own_pcr = ev.head.pcr ? ev.head.pcr : ima::default_ima_pcr;
	if (!host && c->list) {
		if (auto e = make(path, own_pcr); e) {
			append_container(*c, *e);
		} else {
			spdlog::error("{}: {}", c->id, e.error().message());
		}
	}
	std::string host_name = host ? path : c->id + ":" + path;
	std::uint32_t host_pcr = host ? (ev.head.pcr ? ev.head.pcr : config_.host_pcr)
				      : config_.container_pcr;
	if (auto e = make(host_name, host_pcr); e)
		host_->append(*e);
	else
		spdlog::error("host list: {}", e.error().message());

	if (!event_stream_)
		return;
	const auto &h = ev.head;
	nlohmann::json out = {{"type", digest ? "measurement" : "violation"},
			      {"container", host ? "host" : c->id},
			      {"path", path},
			      {"hook", policy::func_name(static_cast<eima_func>(h.func))},
			      {"template", template_name(tmpl)},
			      {"pcr", host ? host_pcr : own_pcr},
			      {"pid", h.tgid},
			      {"uid", h.uid},
			      {"comm", std::string(h.comm, ::strnlen(h.comm, sizeof h.comm))}};
	if (digest)
		out["digest"] = fmt::format("{}:{}", ima::hash_algo_name(algo), to_hex(*digest));
	else
		out["reason"] = digest.error().message();
	emit(std::move(out));
}

void Agent::poll_drops()
{
	// Each event the kernel could not queue becomes one violation entry, in the list of
	// the container that lost it (and the host list).
	auto lost_events = ring_->take_lost();
	PendingEvent lost_event{};
	lost_event.path = "<event-lost:ring-buffer-full>";
	Result<Bytes> lost = fail(ENOBUFS, "measure", "event lost: ring buffer full");
	for (auto [mntns, n] : lost_events.by_mntns) {
		lost_event.head.mntns = mntns;
		Container *c = nullptr;
		if (mntns != host_mntns_) {
			bool created = false;
			c = &registry_->for_lost_events(mntns, created);
			if (created)
				open_container_list(*c);
			c->dropped += n;
		}
		for (std::uint64_t i = 0; i < n; ++i)
			record(c, lost_event, lost, {});
	}
	lost_event.head.mntns = host_mntns_;
	for (std::uint64_t i = 0; i < lost_events.unattributed; ++i)
		record(nullptr, lost_event, lost, {});
	// Records eimad could not decode: one host violation each.
	lost_event.path = "<event-malformed>";
	Result<Bytes> malformed = fail(EPROTO, "measure", "ring record could not be decoded");
	for (std::uint64_t i = 0; i < lost_events.malformed; ++i)
		record(nullptr, lost_event, malformed, {});
}

void Agent::flush_all()
{
	host_->flush();
	registry_->flush_lists();
}

void Agent::drain_ring()
{
	// Every event the kernel queued before this instant is consumed below; once the
	// entries are on disk, an exec from before it is in the list.
	auto consumed_from = std::chrono::system_clock::now();
	// Pinned set: a kill from here until the flush loses what was taken from the kernel.
	probe_->note_uncommitted(true, ring_->unattributed_taken());
	auto events = ring_->take();
	if (adoption_.adopted && !adopted_events_)
		adopted_events_ = events.size(); // what queued while no eimad ran
	for (auto &ev : events)
		handle_event(ev);
	process_roots_.clear();
	poll_drops();
	bind_vtpms();
	flush_all();
	if (host_->all_written()) // else not on disk yet: a kill still loses them
		probe_->note_uncommitted(false, ring_->unattributed_taken());
	host_->save_drained_at(consumed_from);
}

void Agent::reap_exited()
{
	auto gone = registry_->gone();
	if (gone.empty())
		return;
	drain_ring(); // whatever its last processes did is in its list first
	for (auto key : gone) // the drain may have retired some (their inode came back)
		if (registry_->find(key))
			retire(registry_->take(key));
}

namespace {

// How long events the BPF side queued without a wakeup (BPF_RB_NO_WAKEUP: fewer than
// wakeup_bytes from namespaces eimad knows) can wait before eimad collects them. While
// events flow, and for `active_for` after the last, eimad looks every `busy_tick`, as it
// always did; when nothing has come for that long, it only peeks at the ring's positions
// every `idle_peek`. Control requests drain the ring first, so no answer ever misses an
// event; the bound is on how stale the list files and the TPM can be.
constexpr auto busy_tick = std::chrono::milliseconds(5);
constexpr auto active_for = std::chrono::seconds(1);
constexpr auto idle_peek = std::chrono::milliseconds(100);
constexpr auto reap_every = std::chrono::seconds(1);
// While a client waits for an answer from a TPM's thread (a quote: a few ms of swtpm work),
// eimad looks in this often: at busy_tick a sequential verifier lost 2.5 ms a round on
// average, a container's two quotes twice that (bench/attest_rate.sh).
constexpr auto answer_tick = std::chrono::milliseconds(1);

} // namespace

Result<void> Agent::run()
{
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	// eimad's main blocks these before any thread starts; for other embedders too.
	pthread_sigmask(SIG_BLOCK, &mask, nullptr);
	UniqueFd sigfd(::signalfd(-1, &mask, SFD_CLOEXEC));
	if (!sigfd)
		return fail(errno, "signalfd");
	UniqueFd ep(::epoll_create1(EPOLL_CLOEXEC));
	LoopFds loop_fds{.watch =
				 [&ep](int fd, std::uint32_t events) {
					 epoll_event e{};
					 e.events = events;
					 e.data.fd = fd;
					 ::epoll_ctl(ep.get(), EPOLL_CTL_ADD, fd, &e);
				 },
			 .unwatch = [&ep](int fd) { ::epoll_ctl(ep.get(), EPOLL_CTL_DEL, fd, nullptr); }};
	// Wakes when the BPF side forces it: an event from a namespace eimad does not know yet,
	// or wakeup_bytes queued. Smaller batches only show in the ring's positions.
	loop_fds.watch(sigfd.get(), EPOLLIN);
	loop_fds.watch(ring_->epoll_fd(), EPOLLIN);
	loop_fds.watch(control_->fd(), EPOLLIN);
	int bpf_events = bpf_policy_ ? bpf_policy_->events_fd() : -1;
	if (bpf_events >= 0)
		loop_fds.watch(bpf_events, EPOLLIN);
	int protection_events = protection_ ? protection_->events_fd() : -1;
	if (protection_events >= 0)
		loop_fds.watch(protection_events, EPOLLIN);
	auto drain_decisions = [this] {
		if (bpf_policy_)
			if (auto n = bpf_policy_->drain(); !n)
				spdlog::error("BPF policy events: {}", n.error().message());
		if (protection_)
			if (auto n = protection_->drain(); !n)
				spdlog::error("self-protection events: {}", n.error().message());
	};
	// Events for `eima events` and syslog, for as long as the loop runs.
	{
		std::lock_guard lock(event_stream_mu_);
		event_stream_.emplace(loop_fds, config_.events_syslog);
	}
	struct StopEvents {
		Agent &agent;
		~StopEvents()
		{
			std::lock_guard lock(agent.event_stream_mu_);
			agent.event_stream_.reset();
		}
	} stop_events{*this};
	if (auto l = event_stream_->listen(config_.run_dir + "/events.sock"); !l)
		return std::unexpected(l.error());
	std::optional<MetricsEndpoint> metrics;
	if (!config_.metrics.empty()) {
		auto address = parse_metrics_address(config_.metrics);
		if (!address)
			return std::unexpected(address.error());
		metrics.emplace(loop_fds, [this] {
			drain_ring(); // a scrape reflects every event so far
			return prometheus_text(status(), ps());
		});
		if (auto l = metrics->listen(*address); !l)
			return std::unexpected(l.error());
		spdlog::info("metrics: http://{}/metrics", metrics->where());
	}
	spdlog::info("measuring in {} mode ({}); digests: {}; TPM: {}; lists in {}; host list {}",
		   probe_mode_name(probe_->mode()), mode_reason_,
		   probe_->kernel_digest() ? "in the kernel" : "by eimad", tpm_description_,
		   config_.run_dir, host_->state());
	for (auto &u : policy_unsupported_)
		spdlog::warn("policy: not honoured in this mode: {}", u);
	// Readiness for scripts: the socket exists before we print this.
	fmt::print("eimad: ready\n");
	std::fflush(stdout);
	if (auto n = notify_service_manager("READY=1"); !n)
		spdlog::warn("{}", n.error().message());

	using clock = std::chrono::steady_clock;
	// A vTPM that is still starting is bound by the drain that follows it coming up.
	auto vtpm_unbound = [&] {
		return std::ranges::any_of(registry_->live(), [](auto &kc) {
			       return kc.second.vtpm && !kc.second.bound;
		       }) ||
		       std::ranges::any_of(retirement_->retiring(),
					   [](auto &r) { return r.c.vtpm && !r.c.bound; });
	};
	auto last_reap = clock::now();
	auto last_data = clock::now(); // the first second after start counts as busy
	auto last_look = clock::now();  // the last wakeup, which looked at the ring
	for (;;) {
		// Time-outs only for work that waits on time: none but the peek when idle.
		auto now = clock::now();
		bool busy = now - last_data < active_for || control_->waiting() ||
			    !retirement_->retiring().empty() || vtpm_unbound();
		auto due = last_look + (control_->waiting() ? answer_tick
					: busy			? busy_tick
								: idle_peek);
		if (!registry_->live().empty())
			due = std::min(due, last_reap + reap_every);
		// Rounded up: waking a little late beats spinning on a time-out of 0 ms.
		auto wait = std::chrono::ceil<std::chrono::milliseconds>(due - now).count();
		epoll_event evs[8];
		int n = ::epoll_wait(ep.get(), evs, 8, static_cast<int>(std::max<long>(wait, 0)));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail(errno, "epoll_wait");
		auto woke = clock::now();
		last_look = woke;
		bool stop = false;
		for (int i = 0; i < n; ++i) {
			int fd = evs[i].data.fd;
			if (fd == sigfd.get()) {
				stop = true;
			} else if (event_stream_->owns(fd)) {
				event_stream_->handle(fd, evs[i].events);
			} else if (metrics && metrics->owns(fd)) {
				metrics->handle(fd, evs[i].events);
			} else if (fd == control_->fd()) {
				control_->serve_ready(); // never waits on a client
			} else if (fd == bpf_events || fd == protection_events) {
				drain_decisions();
			}
		}
		stop = stop || stop_requested_;
		auto peeked = std::chrono::system_clock::now();
		bool queued = ring_->has_data();
		if (queued)
			last_data = woke;
		else
			host_->save_drained_at(peeked); // nothing queued: every exec before is in the list
		// While busy every wakeup drains, as every 5 ms tick did (drops counted and
		// vTPMs come up are noticed there); when idle, only records found queued do.
		if (busy || stop || queued)
			drain_ring();
		if (stop)
			break;
		now = clock::now();
		if (registry_->live().empty() || now - last_reap >= reap_every) {
			if (!registry_->live().empty())
				reap_exited();
			last_reap = now;
		}
		retirement_->advance(false);
		if (enforcer_)
			enforcer_->sweep(); // bless processes that exited lose their authorization
		control_->answer(false);
		event_stream_->flush_followers(); // what this pass published, in one write each
		longest_wakeup_ = std::max(longest_wakeup_, clock::now() - woke);
	}
	// Clients waiting get their answers. Containers that exited get their final quote.
	// Those still running keep their lists and vTPMs for the next eimad: each swtpm saves
	// its state as it stops (docs/restart.md); no vTPM outlives eimad.
	control_->answer(true);
	drain_decisions();
	reap_exited(); // those gone by now retire here, not at the next start
	retirement_->advance(true);
	flush_all(); // the last entries reach the lists, then the TPMs
	(void)notify_service_manager("STOPPING=1"); // best effort: the stop goes on regardless
	spdlog::info("stopping: {} events, {} violations, host list {} entries",
		   events_, violations_, host_->entries());
	return {};
}

nlohmann::json Agent::status() const
{
	nlohmann::json j;
	j["mode"] = probe_mode_name(probe_->mode());
	j["mode_reason"] = mode_reason_;
	j["programs"] = probe_->programs();
	// Where the measuring programs came from: the skeleton eimad carries, or the signed
	// object given --bpf-cert (docs/signed-bpf.md).
	j["programs_object"] = {{"object", probe_->object_name()},
				{"signed", !probe_->signer().empty()},
				{"loaded", probe_->load_detail()}};
	if (!probe_->signer().empty())
		j["programs_object"]["signer"] = probe_->signer();
	j["tpm"] = tpm_description_;
	j["hash"] = ima::hash_algo_name(config_.hash);
	j["template"] = template_name(config_.template_kind);
	j["policy"] = config_.policy;
	j["policy_rules"] = policy_rules_;
	j["policy_unsupported"] = policy_unsupported_;
	j["run_dir"] = config_.run_dir;
	j["events"] = events_;
	j["violations"] = violations_;
	j["host_entries"] = host_->entries();
	j["containers"] = registry_->live().size();
	j["containers_exited"] = registry_->exited().size() + retirement_->retiring().size();
	j["containers_retiring"] = retirement_->retiring().size(); // final evidence being taken
	j["containers_pruned"] = registry_->pruned(); // beyond --keep-exited, directory removed
	j["vtpms_stopping"] = retirement_->vtpms_stopping();
	j["requests_waiting"] = control_->waiting(); // quotes and PCR reads waiting on a TPM
	j["control_clients"] = control_->clients();
	j["control_refused"] = control_->refused(); // over the limit of clients at once
	j["control_cut_off"] = control_->cut_off(); // past a deadline, or a request too long
	j["quotes_requested"] = quotes_requested_;
	j["loop_longest_ms"] =
		std::chrono::duration<double, std::milli>(longest_wakeup_).count();
	j["vtpm"] = config_.vtpm ? "swtpm" : "none";
	j["host_list"] = host_->state();
	// Pinning (docs/restart.md): where the set is pinned, and what this start adopted.
	j["pinning"] = pinning_;
	j["probe_adopted"] = adoption_.adopted;
	j["probe_adoption"] = adoption_.detail;
	if (adoption_.adopted) {
		j["adopted_from_pid"] = adoption_.from_pid;
		j["adopted_queued_bytes"] = adoption_.queued_bytes;
		j["adopted_queued_events"] = adopted_events_.value_or(0);
		j["adopted_uncommitted"] = adoption_.uncommitted; // so an interruption entry
		j["adopted_policy_changed"] = adoption_.policy_changed;
	}
	j["kernel_digest"] = kernel_digest_;
	j["enforcement"] = enforcer_->status();
	// func=BPF_CHECK (docs/signed-bpf.md): applied, not applied and why, or no such rule.
	if (bpf_policy_)
		j["bpf_check"] = bpf_policy_->status();
	else if (bpf_rules_.mode != policy::BpfCheckPolicy::Mode::none) {
		j["bpf_check"] = policy::bpf_check_report(bpf_rules_);
		j["bpf_check"]["state"] = bpf_policy_off_;
	} else {
		j["bpf_check"] = {{"mode", "none"}, {"state", "no func=BPF_CHECK rule in the policy"}};
	}
	if (!bpf_earlier_.relaxed.empty())
		j["bpf_check"]["earlier_sets_relaxed"] = bpf_earlier_.relaxed;
	if (!bpf_earlier_.kept.empty())
		j["bpf_check"]["earlier_sets_kept_enforcing"] = bpf_earlier_.kept;
	j["protection"] = protection_ ? protection_->status()
				      : nlohmann::json{{"on", false}, {"why_off", protection_off_}};
	j["protection"]["test_bypass_compiled"] = config_.protect_test_bypass_compiled;
	j["kernel_digests_used"] = measurer_.kernel_digests_used();
	// Taken in the kernel with another algorithm than the list's (--hash, template=ima):
	// eimad hashed those files itself.
	j["kernel_digests_unusable"] = measurer_.kernel_digests_unusable();
	if (extender_) {
		j["tpm_extended"] = extender_->extended();
		j["tpm_failures"] = extender_->failures();
		j["tpm_queued"] = extender_->queued();
		if (extender_->failures())
			j["tpm_last_error"] = extender_->last_error();
		// open, stalled, lost (being reopened) or failed (for good): the first word is
		// the state, for scripts and metrics; the rest says why.
		std::string health = extender_->describe();
		j["tpm_state"] = health.substr(0, health.find(':'));
		j["tpm_health"] = health;
		j["tpm_pending"] = extender_->pending(); // host entries written, not yet extended
		j["tpm_recoveries"] = extender_->recoveries();
	}
	if (config_.enforcement_status)
		j["enforcement"] = config_.enforcement_status();
	// Entries that could not be written to the host list (a full disk): a violation says
	// how many once it can be written again.
	j["host_lost_entries"] = host_->lost();
	if (auto e = host_->write_error(); !e.empty())
		j["host_write_error"] = e;
	if (auto c = probe_->counters()) {
		static constexpr const char *names[] = {
			"hook_calls",  "policy_skip",          "cache_hit",
			"events",      "dropped",              "path_errors",
			"dropped_unattributed", "kernel_digests", "kernel_digest_errors",
			"appraisals", "appraisal_cache_hits", "denied"};
		for (std::size_t i = 0; i < std::size(names); ++i)
			j["kernel"][names[i]] = (*c)[i];
	}
	return j;
}


nlohmann::json Agent::ps() const
{
	return ps_json(*registry_, *retirement_);
}

Container *Agent::find_container(std::uint64_t key)
{
	if (Container *c = registry_->find(key))
		return c;
	return retirement_->find(key);
}

std::string Agent::why_late() const
{
	if (!extender_)
		return {};
	return fmt::format("host TPM {}; {} host entries pending", extender_->describe(),
			   extender_->pending());
}

ControlAnswer Agent::pcrs(const nlohmann::json &req)
{
	return quotes_->pcrs(req);
}

ControlAnswer Agent::identity(const nlohmann::json &req)
{
	return quotes_->identity(req);
}

ControlAnswer Agent::activate(const nlohmann::json &req)
{
	return quotes_->activate(req);
}

ControlAnswer Agent::quote(const nlohmann::json &req)
{
	++quotes_requested_;
	emit({{"type", "quote"}, {"container", req.value("container", std::string("host"))}});
	return quotes_->quote(req);
}

} // namespace eima::agent
