#include "agent/agent.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <set>

#include <fmt/format.h>

#include "control/control_protocol.h"
#include "agent/agent_log.h"
#include "agent/file_opener.h"
#include "agent/policy_loader.h"
#include "attest/evidence.h"
#include "attest/vtpm_binding.h"
#include "common/file_io.h"
#include "common/json_text.h"

namespace eima::agent {

namespace fs = std::filesystem;

// An event copied out of the ring buffer: the ring slot is released before we hash.
struct Agent::PendingEvent {
	eima_event_head head;
	std::string path;
};

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

// PCRs 0..23 of each bank, read in one go.
Result<PcrBanks> read_all_pcrs(tpm::Tpm &t, const std::vector<ima::HashAlgo> &banks)
{
	std::vector<std::uint32_t> all;
	for (std::uint32_t i = 0; i <= tpm::max_pcr; ++i)
		all.push_back(i);
	PcrBanks out;
	for (auto bank : banks) {
		auto v = t.read_pcrs(bank, all);
		if (!v)
			return std::unexpected(v.error());
		out[bank] = std::move(*v);
	}
	return out;
}

// Nanoseconds since the epoch (CLOCK_REALTIME): the unit of drained_at_ns and of the
// interruption entry's span.
std::uint64_t wall_ns(std::chrono::system_clock::time_point t)
{
	return static_cast<std::uint64_t>(
		std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}

std::uint64_t read_u64_file(const std::string &path)
{
	auto text = read_file(path);
	return text ? std::strtoull(text->c_str(), nullptr, 10) : 0;
}

} // namespace

Agent::~Agent()
{
	if (ring_)
		ring_buffer__free(static_cast<ring_buffer *>(ring_));
	probe_.reset();     // detach first: no new events
	extender_.reset();  // drains the TPM queue
	swtpm_.reset();     // then the TPM goes
}

Result<std::unique_ptr<Agent>> Agent::start(const AgentConfig &config)
{
	auto agent = std::unique_ptr<Agent>(new Agent());
	agent->config_ = config;
	std::error_code ec;
	fs::create_directories(config.run_dir, ec);
	if (ec)
		return fail(ec.value(), "create run directory", config.run_dir);
	// Containers' lists and vTPMs do not survive a restart yet: a running container gets a
	// new list (and vTPM) at its next event; the host list keeps all of it.
	fs::remove_all(fs::path(config.run_dir) / "containers", ec);

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

	if (auto r = agent->set_up_tpm(); !r)
		return std::unexpected(r.error());
	auto boot = agent->boot_aggregate_entry();
	if (!boot)
		return std::unexpected(boot.error());
	agent->boot_aggregate_ = *boot;

	std::vector<ima::HashAlgo> banks{ima::HashAlgo::sha1, ima::HashAlgo::sha256};
	auto resumed = agent->resume_host_list(banks);
	if (!resumed)
		return std::unexpected(resumed.error());
	if (!*resumed) {
		auto host = MeasurementList::create(config.run_dir + "/host", banks);
		if (!host)
			return std::unexpected(host.error());
		agent->host_list_ = std::move(*host);
		// On the host's PCR, which is not 10 when the kernel's IMA has that one;
		// containers' lists start with it on their vTPM's PCR 10.
		ima::TemplateEntry host_boot = agent->boot_aggregate_;
		host_boot.pcr = config.host_pcr;
		agent->append_host(host_boot);
	}
	if (auto w = write_file(config.run_dir + "/host/boot_id", current_boot_id()); !w)
		return std::unexpected(w.error());

	if (auto r = agent->set_up_probe(); !r)
		return std::unexpected(r.error());
	if (*resumed) {
		// Nothing was measured from the last entry eimad wrote until the programs were
		// attached again: one violation says so, with the span, so that no exec in it is
		// a silent gap. (The programs and ring buffer are not pinned across a restart.)
		auto [tmpl, algo] = agent->template_for(eima_event_head{});
		auto gap = interruption_entry(template_name(tmpl), algo, config.host_pcr,
					      agent->drained_at_ns_,
					      wall_ns(std::chrono::system_clock::now()));
		if (!gap)
			return std::unexpected(gap.error());
		agent->append_host(*gap);
		++agent->violations_;
	}
	auto sock = control::listen_control(config.run_dir + "/eimad.sock");
	if (!sock)
		return std::unexpected(sock.error());
	agent->control_fd_ = std::move(*sock);
	agent->flush_all();
	return agent;
}


Result<bool> Agent::resume_host_list(const std::vector<ima::HashAlgo> &banks)
{
	std::string dir = config_.run_dir + "/host";
	auto start_new = [&](std::string why) -> Result<bool> {
		host_list_state_ = "new: " + why;
		return false;
	};
	// An old list is set aside, never overwritten: it is evidence of what ran.
	auto set_aside = [&](const std::string &as) -> Result<std::string> {
		std::string old = dir + as + std::to_string(::time(nullptr));
		std::error_code ec;
		fs::rename(dir, old, ec);
		if (ec)
			return fail(ec.value(), "set aside the last list", dir + " -> " + old);
		return old;
	};
	if (config_.fresh)
		return start_new("--fresh");
	if (::access((dir + "/binary_runtime_measurements").c_str(), F_OK) != 0)
		return start_new("no list to resume");
	// A list from another boot describes a TPM that has been reset since.
	auto boot = read_file(dir + "/boot_id");
	if (!boot || *boot != current_boot_id()) {
		auto old = set_aside(".before-boot-");
		if (!old)
			return std::unexpected(old.error());
		return start_new("the list in " + dir + " is from another boot (kept as " + *old + ")");
	}
	auto r = MeasurementList::resume(dir, banks);
	if (!r)
		return std::unexpected(r.error());
	if (r->records.empty()) // not even boot_aggregate survived: nothing to resume
		return start_new("the last list held no whole entry");
	// Where the interruption began: the last drain whose entries reached the file, else
	// the list's last write (both before any exec the list does not hold).
	drained_at_ns_ = read_u64_file(dir + "/drained_at_ns");
	if (!drained_at_ns_) {
		struct stat st;
		if (::stat((dir + "/binary_runtime_measurements").c_str(), &st) == 0)
			drained_at_ns_ = std::uint64_t(st.st_mtim.tv_sec) * 1'000'000'000u +
					 st.st_mtim.tv_nsec;
	}
	std::string torn = r->torn_bytes ? fmt::format(", {} torn bytes cut off ({}; kept in "
						      "binary_runtime_measurements.torn)",
						      r->torn_bytes, r->torn_reason)
					 : "";
	std::size_t extended = r->records.size();
	if (extender_) {
		// The prefix of the list the TPM holds; the rest is extended now, in order.
		auto pcrs = extender_
				    ->later<PcrBanks>([&banks](tpm::Tpm &t) { return read_all_pcrs(t, banks); })
				    .get();
		if (!pcrs)
			return std::unexpected(pcrs.error());
		auto prefix = extended_prefix(r->records, *pcrs);
		if (!prefix) {
			auto old = set_aside(".unverifiable-");
			if (!old)
				return std::unexpected(old.error());
			return start_new(fmt::format("the TPM holds no prefix of the last list ({} "
						     "entries{}); kept as {}",
						     r->records.size(), torn, *old));
		}
		extended = *prefix;
		for (std::size_t i = *prefix; i < r->records.size(); ++i)
			extender_->submit(std::move(r->records[i]));
	}
	host_list_state_ = fmt::format("resumed: {} entries, {} already in the TPM, {} extended "
				       "now{}",
				       r->list.entries(), extended, r->records.size() - extended,
				       torn);
	host_list_ = std::move(r->list);
	return true;
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

Result<void> Agent::set_up_probe()
{
	ProbeMode mode = ProbeMode::trace;
	std::string lsm_reason = bpf_lsm_unavailable_reason();
	if (config_.mode == ModeChoice::lsm ||
	    (config_.mode == ModeChoice::automatic && lsm_reason.empty()))
		mode = ProbeMode::lsm;

	auto load_in = [&](ProbeMode m, bool kernel_digest) -> Result<std::unique_ptr<MeasurementProbe>> {
		auto pol = load_measure_policy(config_.policy, m);
		if (!pol)
			return std::unexpected(pol.error());
		policy_unsupported_ = pol->unsupported;
		policy_rules_ = pol->rules;
		ProbeOptions opts{host_mntns_, static_cast<std::uint32_t>(::getpid()),
				  pol->has_file_check, config_.ring_buffer_kb * 1024u, kernel_digest};
		return MeasurementProbe::load(m, opts, pol->compiled);
	};
	// In lsm mode the sleepable hooks hash in the kernel; where the kernel refuses them (no
	// bpf_ima_file_hash, no sleepable mmap_file before 6.2), the plain hooks report and
	// eimad hashes.
	Result<std::unique_ptr<MeasurementProbe>> probe = fail("load BPF programs");
	std::string sleepable_refused; // why the hooks that hash did not load
	if (mode == ProbeMode::lsm) {
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
	kernel_digest_ = probe_->kernel_digest() ? "bpf_ima_file_hash in sleepable LSM hooks"
			 : mode == ProbeMode::trace
				 ? "off: trace mode (tracepoints cannot sleep to hash)"
				 : "off: sleepable LSM hooks did not load: " + sleepable_refused;
	mode_reason_ = mode == ProbeMode::lsm
			       ? "BPF LSM hooks (synchronous)"
			       : "tracepoints (measurement only, after the fact): " +
					 (lsm_reason.empty() ? std::string("requested") : lsm_reason);
	ring_ = ring_buffer__new(probe_->events_fd(), &Agent::on_ring_event, this, nullptr);
	if (!ring_)
		return fail(errno, "create ring buffer reader", "events");
	return {};
}

int Agent::on_ring_event(void *ctx, void *data, std::size_t size)
{
	auto *self = static_cast<Agent *>(ctx);
	if (size < sizeof(eima_event_head))
		return 0;
	auto *ev = static_cast<const eima_event *>(data);
	PendingEvent p;
	std::memcpy(&p.head, &ev->head, sizeof(p.head));
	std::size_t off = ev->head.path_off, len = ev->head.path_len;
	if (off + len <= sizeof(ev->path_buf) && off + len + offsetof(eima_event, path_buf) <= size)
		p.path.assign(ev->path_buf + off, len);
	self->pending_.push_back(std::move(p));
	return 0;
}

Container &Agent::container_for(const PendingEvent &ev)
{
	auto [it, fresh] = containers_.try_emplace(ev.head.mntns_id);
	Container &c = it->second;
	if (!fresh)
		return c;
	// A namespace inode names one live namespace at a time: an older container under this
	// inode has exited, even if the once-a-second reaper has not seen it yet.
	std::vector<std::uint64_t> dead;
	for (auto &[key, other] : containers_)
		if (key != ev.head.mntns_id && other.ns.mnt == ev.head.mntns)
			dead.push_back(key);
	for (auto key : dead)
		retire(containers_.at(key));
	c.key = ev.head.mntns_id;
	c.ns.mnt = ev.head.mntns;
	c.ns.pid = ev.head.pidns;
	c.ns.uts = ev.head.utsns;
	c.cgroup_id = ev.head.cgroup_id;
	int pid = static_cast<int>(ev.head.tgid);
	std::optional<RuntimeContainerId> rid;
	// The process may be gone already: then the namespace names the container.
	if (auto cg = read_file("/proc/" + std::to_string(pid) + "/cgroup"))
		rid = container_id_from_cgroup(*cg, config_.runc_state_dir);
	c.runtime = rid ? rid->runtime : "";
	c.id = container_name(rid, ev.head.mntns);
	// Two namespaces cannot share a directory: a reused runtime id gets the namespace too.
	for (auto &[key, other] : containers_)
		if (key != c.key && other.id == c.id)
			c.id += "-" + std::to_string(ev.head.mntns_id);
	// Nor may a new container take over an exited one's list and final quote (a mount
	// namespace's inode number is reused as soon as it is free).
	if (id_taken(c.id)) {
		std::string base = c.id;
		for (int n = 2; id_taken(c.id); ++n)
			c.id = base + "." + std::to_string(n);
	}
	capture_root(c, pid);
	open_container_list(c);
	probe_->mark_known(ev.head.mntns);
	return c;
}

namespace {

// The pids in /proc now.
std::vector<int> process_ids()
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

std::uint64_t mntns_of(int pid)
{
	return ns_inode(("/proc/" + std::to_string(pid) + "/ns/mnt").c_str());
}

// A live process in the mount namespace (the one given first), or -1. Scans /proc: only
// when a container's root is still unknown, which is rare.
int process_in_mntns(std::uint64_t mntns, int first)
{
	if (first > 0 && mntns_of(first) == mntns)
		return first;
	for (int pid : process_ids())
		if (mntns_of(pid) == mntns)
			return pid;
	return -1;
}

} // namespace

void Agent::capture_root(Container &c, int pid)
{
	// The root as the container's processes see it, held open for when they are gone:
	// the event's process if it still lives in the namespace, else any process that does.
	int live = process_in_mntns(c.ns.mnt, pid);
	if (live < 0)
		return;
	if (auto root = open_process_root(live))
		if (process_in_mntns(c.ns.mnt, live) == live) // still there after the open
			c.root = std::move(*root);
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
	if (config_.vtpm)
		c.vtpm = std::make_unique<VirtualTpm>(c.list->dir() + "/vtpm");
	append_container(c, boot_aggregate_);
}

void Agent::append_container(Container &c, const ima::TemplateEntry &entry)
{
	auto rec = c.list->append(entry);
	if (!rec) {
		spdlog::error("container {}: {}", c.id, rec.error().message());
		return;
	}
	if (c.vtpm)
		c.vtpm->extender().submit(std::move(*rec));
}

bool Agent::id_taken(const std::string &id) const
{
	return std::ranges::any_of(exited_, [&](auto &e) { return e.id == id; }) ||
	       std::ranges::any_of(retiring_, [&](auto &r) { return r.c.id == id; });
}

void Agent::bind_vtpms()
{
	for (auto &[key, c] : containers_)
		bind_vtpm(c);
	for (auto &r : retiring_) // a vTPM may come up after its container exited
		bind_vtpm(r.c);
}

void Agent::bind_vtpm(Container &c)
{
	// The binding goes on the host's container PCR like the container's own entries, as an
	// ima-buf entry whose buffer is the vTPM's identity: a verifier finds it by name.
	if (!c.vtpm || c.bound)
		return;
	auto state = c.vtpm->state();
	if (state == TpmExtender::State::opening)
		return;
	c.bound = true;
	if (state == TpmExtender::State::failed) {
		spdlog::error("container {}: vTPM did not start: {}", c.id,
			   c.vtpm->error());
		return;
	}
	auto id = c.vtpm->identity();
	Bytes buf = attest::vtpm_binding_buffer({c.id, id->ek_pem, id->ak_pem, c.ns.mnt});
	auto d = ima::digest(config_.hash, buf);
	auto e = d ? ima::make_ima_buf(config_.hash, *d, attest::vtpm_binding_name(c.id), buf,
				       config_.container_pcr)
		   : std::unexpected(d.error());
	if (e)
		append_host(*e);
	else
		spdlog::error("container {}: binding: {}", c.id, e.error().message());
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
	if (cache_.in_list(h.mntns_id, h.file))
		return;

	auto [tmpl, algo] = template_for(h);
	// The process's own root first (alive: exactly its view), then the root its container
	// had when eimad first saw it; none is needed for a digest the kernel took.
	bool want_sig = tmpl == TemplateKind::ima_sig;
	UniqueFd proot;
	int fallback = -1;
	if (measurer_.needs_file(h, algo, want_sig)) {
		if (auto r = open_process_root(static_cast<int>(h.tgid)))
			proot = std::move(*r);
		else if (c && !c->root)
			capture_root(*c, -1);
		fallback = host ? host_root_.get() : (c->root ? c->root.get() : -1);
	}
	int roots[] = {proot.get(), fallback};
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

	auto make = [&](const std::string &name, std::uint32_t pcr) -> Result<ima::TemplateEntry> {
		if (!digest)
			return ima::make_violation(template_name(tmpl), algo, name, pcr);
		switch (tmpl) {
		case TemplateKind::ima: return ima::make_ima(*digest, name, pcr);
		case TemplateKind::ima_sig: return ima::make_ima_sig(algo, *digest, name, sig, pcr);
		case TemplateKind::ima_ng: break;
		}
		return ima::make_ima_ng(algo, *digest, name, pcr);
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
		append_host(*e);
	else
		spdlog::error("host list: {}", e.error().message());
}

void Agent::append_host(const ima::TemplateEntry &entry)
{
	auto rec = host_list_->append(entry);
	if (!rec) {
		spdlog::error("host list: {}", rec.error().message());
		return;
	}
	if (extender_)
		host_unwritten_.push_back(std::move(*rec)); // extended once written (flush_all)
}

void Agent::poll_drops()
{
	// Each event the kernel could not queue becomes one violation entry, in the list of
	// the container that lost it (and the host list). lookup-and-delete: a count is read
	// once; what arrives after the read is read on the next tick.
	//
	// Walking the map costs a scan of all its buckets even when it is empty, so it is
	// walked only when the kernel's drop counter moved since the last walk (the program
	// updates the map before the counter), and once a second whatever it says.
	auto dropped = probe_->counter(EIMA_CNT_DROPPED);
	auto now = std::chrono::steady_clock::now();
	if (dropped && *dropped == drops_walked_at_ && now - last_drop_walk_ < std::chrono::seconds(1))
		return;
	drops_walked_at_ = dropped ? *dropped : 0;
	last_drop_walk_ = now;
	std::vector<std::pair<std::uint64_t, std::uint64_t>> seen;
	int fd = probe_->dropped_fd();
	std::uint64_t key;
	while (bpf_map_get_next_key(fd, nullptr, &key) == 0) {
		std::uint64_t n = 0;
		if (bpf_map_lookup_and_delete_elem(fd, &key, &n) != 0)
			break; // not on this kernel (< 5.14): the kernel counter still counts them
		seen.emplace_back(key, n);
	}
	PendingEvent lost_event{};
	lost_event.path = "<event-lost:ring-buffer-full>";
	Result<Bytes> lost = fail(ENOBUFS, "measure", "event lost: ring buffer full");
	for (auto [mntns, n] : seen) {
		lost_event.head.mntns = mntns;
		Container *c = nullptr;
		if (mntns != host_mntns_) {
			// Counted per namespace inode: the live container under it, or, when eimad
			// never saw an event of that namespace, one keyed by the inode until then.
			for (auto &[key, live] : containers_)
				if (live.ns.mnt == mntns)
					c = &live;
			if (!c) {
				c = &containers_[mntns];
				c->key = mntns;
				c->id = "mntns-" + std::to_string(mntns);
				c->ns.mnt = mntns;
				open_container_list(*c);
			}
			c->dropped += n;
		}
		for (std::uint64_t i = 0; i < n; ++i)
			record(c, lost_event, lost, {});
	}
	if (auto unattributed = probe_->counter(EIMA_CNT_DROPPED_UNATTRIBUTED)) {
		lost_event.head.mntns = host_mntns_;
		for (; unattributed_drops_ < *unattributed;
		     ++unattributed_drops_)
			record(nullptr, lost_event, lost, {});
	}
}

void Agent::flush_all()
{
	if (auto r = host_list_->flush(); !r) {
		// Not extended either: the entries stay queued and go out with the next flush
		// that writes them, so list and TPM still agree.
		spdlog::error("{}", r.error().message());
	} else {
		for (auto &rec : host_unwritten_)
			extender_->submit(std::move(rec));
		host_unwritten_.clear();
	}
	for (auto &[key, c] : containers_)
		if (c.list)
			if (auto r = c.list->flush(); !r)
				spdlog::error("{}", r.error().message());
}

void Agent::drain_ring()
{
	// Every event the kernel queued before this instant is consumed below; once the
	// entries are on disk, an exec from before it is in the list.
	auto consumed_from = std::chrono::system_clock::now();
	auto *rb = static_cast<ring_buffer *>(ring_);
	ring_buffer__consume(rb);
	for (std::size_t i = 0; i < pending_.size(); ++i)
		handle_event(pending_[i]);
	pending_.clear();
	poll_drops();
	bind_vtpms();
	flush_all();
	save_drained_at(consumed_from);
}

void Agent::save_drained_at(std::chrono::system_clock::time_point t)
{
	// Where a restart's interruption entry begins. Written at most every 100 ms: an older
	// value only makes that span start earlier, which still covers every exec in it.
	auto now = std::chrono::steady_clock::now();
	if (!host_unwritten_.empty() || now - drained_saved_ < std::chrono::milliseconds(100))
		return;
	drained_saved_ = now;
	// Replaced whole (rename), so a kill mid-write never leaves it empty.
	std::string path = config_.run_dir + "/host/drained_at_ns";
	if (write_file(path + ".tmp", std::to_string(wall_ns(t)) + "\n"))
		::rename((path + ".tmp").c_str(), path.c_str());
}

namespace {

// Mount namespaces some process is in now.
std::set<std::uint64_t> live_mount_namespaces()
{
	std::set<std::uint64_t> live;
	for (int pid : process_ids())
		if (auto ino = mntns_of(pid))
			live.insert(ino);
	return live;
}

} // namespace

void Agent::reap_exited()
{
	if (containers_.empty())
		return;
	auto live = live_mount_namespaces();
	std::vector<std::uint64_t> gone;
	for (auto &[key, c] : containers_)
		if (!live.contains(c.ns.mnt))
			gone.push_back(key);
	if (gone.empty())
		return;
	drain_ring(); // whatever its last processes did is in its list first
	for (auto key : gone) // the drain may have retired some (their inode came back)
		if (auto it = containers_.find(key); it != containers_.end())
			retire(it->second);
}

namespace {

nlohmann::json vtpm_json(const Container &c)
{
	if (!c.vtpm)
		return {{"state", "none"}};
	switch (c.vtpm->state()) {
	case TpmExtender::State::opening: return {{"state", "starting"}};
	case TpmExtender::State::failed: return {{"state", "failed"}, {"error", c.vtpm->error()}};
	case TpmExtender::State::open: break;
	}
	return {{"state", "running"},
		{"pid", c.vtpm->pid()},
		{"dir", c.vtpm->state_dir()},
		{"bound", c.bound},
		{"extended", c.vtpm->extender().extended()},
		{"failures", c.vtpm->extender().failures()}};
}

} // namespace

void Agent::retire(Container &c)
{
	RetiringContainer r{std::move(c), {}, {}};
	containers_.erase(r.c.key);
	Container &rc = r.c;
	r.exited = {rc.id,
		    rc.runtime,
		    rc.list ? rc.list->dir() : "",
		    rc.ns,
		    rc.cgroup_id,
		    vtpm_json(rc),
		    rc.list ? rc.list->entries() : 0,
		    rc.list ? rc.list->violations() : 0,
		    "pending"};
	// The namespace's inode number will be reused: nothing measured under it may carry over.
	probe_->forget_mntns(rc.ns.mnt, rc.key);
	cache_.forget_mntns(rc.key);
	if (rc.list)
		if (auto f = rc.list->flush(); !f)
			spdlog::error("{}", f.error().message());
	if (!rc.vtpm)
		return finish_retiring(r, "none: no vTPM");
	// Nonce: the SHA-256 of the final binary list, which anyone holding the list can
	// recompute; the quote then says this list is what the vTPM held at the end.
	if (!rc.list)
		return finish_retiring(r, "none: it has no list");
	auto list = read_file(rc.list->dir() + "/binary_runtime_measurements");
	auto nonce = list ? ima::digest(ima::HashAlgo::sha256, as_bytes(*list))
			  : std::unexpected(list.error());
	if (!nonce)
		return finish_retiring(r, "none: " + nonce.error().message());
	r.quote.pcrs = {ima::default_ima_pcr};
	r.quote.nonce = *nonce;
	if (auto refused = start_quote(rc, r.quote))
		return finish_retiring(r, "none: " + (*refused)["error"].get<std::string>());
	retiring_.push_back(std::move(r));
}

namespace {

// Writes DIR/final-evidence.json from a container quote's reply: its path, or "none: " and why.
// The host list is referred to by file (attest/evidence.h), not embedded.
std::string write_final_evidence(const nlohmann::json &reply, const std::string &run_dir,
				 const std::string &dir)
{
	if (reply.contains("error"))
		return "none: final quote: " + reply["error"].get<std::string>();
	// The host list is shared by every container's final evidence and only grows: each
	// names it rather than carrying a copy (which made RUN grow with the square of the
	// containers run, and the event loop read all of it at every exit).
	auto ev = attest::read_container_evidence(reply, run_dir, attest::HostList::by_file);
	if (!ev)
		return "none: " + ev.error().message();
	std::string path = dir + "/final-evidence.json";
	if (auto w = write_file(path, json_dump(attest::evidence_to_json(*ev), 2) + "\n"); !w)
		return "none: " + w.error().message();
	return path;
}

} // namespace

void Agent::advance_retiring(bool wait)
{
	for (auto it = retiring_.begin(); it != retiring_.end();) {
		auto reply = step_quote(&it->c, it->quote, wait);
		if (!reply) {
			++it;
			continue;
		}
		flush_all(); // the host list on disk holds what the host quote covers
		finish_retiring(*it, write_final_evidence(*reply, config_.run_dir, it->c.list->dir()));
		it = retiring_.erase(it);
	}
}

void Agent::finish_retiring(RetiringContainer &r, std::string final_evidence)
{
	if (final_evidence.starts_with("none: ") && r.c.vtpm)
		spdlog::warn("container {}: final evidence: {}", r.c.id, final_evidence);
	r.exited.final_evidence = std::move(final_evidence);
	if (r.c.vtpm)
		r.exited.vtpm["state"] = "stopped";
	disposer_.dispose(std::move(r.c.vtpm)); // its swtpm stops and its state goes
	exited_.push_back(std::move(r.exited));
	while (exited_.size() > config_.keep_exited) {
		std::error_code ec;
		if (!exited_.front().log_dir.empty())
			fs::remove_all(exited_.front().log_dir, ec);
		exited_.pop_front();
		++exited_pruned_;
	}
}

namespace {

// The ring buffer's consumer and producer positions, read from their own read-only mapping
// of the ring's first two pages: whether records are queued costs no system call.
class RingPeek {
public:
	explicit RingPeek(int map_fd)
	{
		page_ = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
		void *p = ::mmap(nullptr, 2 * page_, PROT_READ, MAP_SHARED, map_fd, 0);
		if (p != MAP_FAILED)
			pages_ = static_cast<char *>(p);
	}
	~RingPeek()
	{
		if (pages_)
			::munmap(pages_, 2 * page_);
	}
	RingPeek(const RingPeek &) = delete;
	RingPeek &operator=(const RingPeek &) = delete;

	// True when records are queued, or when the positions cannot be read (then the caller
	// drains, as if there were).
	bool has_data() const
	{
		if (!pages_)
			return true;
		auto *cons = reinterpret_cast<const unsigned long *>(pages_);
		auto *prod = reinterpret_cast<const unsigned long *>(pages_ + page_);
		return __atomic_load_n(prod, __ATOMIC_ACQUIRE) !=
		       __atomic_load_n(cons, __ATOMIC_ACQUIRE);
	}

private:
	std::size_t page_ = 0;
	char *pages_ = nullptr;
};

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
	auto watch = [&](int fd) {
		epoll_event e{};
		e.events = EPOLLIN;
		e.data.fd = fd;
		::epoll_ctl(ep.get(), EPOLL_CTL_ADD, fd, &e);
	};
	// Wakes when the BPF side forces it: an event from a namespace eimad does not know yet,
	// or wakeup_bytes queued. Smaller batches only show in the ring's positions.
	int ring_fd = ring_buffer__epoll_fd(static_cast<ring_buffer *>(ring_));
	RingPeek ring(probe_->events_fd());
	watch(sigfd.get());
	watch(ring_fd);
	watch(control_fd_.get());
	spdlog::info("measuring in {} mode ({}); digests: {}; TPM: {}; lists in {}; host list {}",
		   probe_mode_name(probe_->mode()), mode_reason_,
		   probe_->kernel_digest() ? "in the kernel" : "by eimad", tpm_description_,
		   config_.run_dir, host_list_state_);
	for (auto &u : policy_unsupported_)
		spdlog::warn("policy: not honoured in this mode: {}", u);
	// Readiness for scripts: the socket exists before we print this.
	fmt::print("eimad: ready\n");
	std::fflush(stdout);

	using clock = std::chrono::steady_clock;
	// A vTPM that is still starting is bound by the drain that follows it coming up.
	auto vtpm_unbound = [&] {
		return std::ranges::any_of(containers_, [](auto &kc) {
			       return kc.second.vtpm && !kc.second.bound;
		       }) ||
		       std::ranges::any_of(retiring_, [](auto &r) { return r.c.vtpm && !r.c.bound; });
	};
	auto last_reap = clock::now();
	auto last_data = clock::now(); // the first second after start counts as busy
	auto last_look = clock::now();  // the last wakeup, which looked at the ring
	for (;;) {
		// Time-outs only for work that waits on time: none but the peek when idle.
		auto now = clock::now();
		bool busy = now - last_data < active_for || !deferred_.empty() ||
			    !retiring_.empty() || vtpm_unbound();
		auto due = last_look + (busy ? busy_tick : idle_peek);
		if (!containers_.empty())
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
			} else if (fd == control_fd_.get()) {
				int client = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
				if (client >= 0) {
					drain_ring(); // answers reflect every event so far
					handle_control(UniqueFd(client));
				}
			}
		}
		auto peeked = std::chrono::system_clock::now();
		bool queued = ring.has_data();
		if (queued)
			last_data = woke;
		else
			save_drained_at(peeked); // nothing queued: every exec before is in the list
		// While busy every wakeup drains, as every 5 ms tick did (drops counted and
		// vTPMs come up are noticed there); when idle, only records found queued do.
		if (busy || stop || queued)
			drain_ring();
		if (stop)
			break;
		now = clock::now();
		if (containers_.empty() || now - last_reap >= reap_every) {
			if (!containers_.empty())
				reap_exited();
			last_reap = now;
		}
		advance_retiring(false);
		answer_deferred(false);
		longest_wakeup_ = std::max(longest_wakeup_, clock::now() - woke);
	}
	// Clients waiting get their answers. Every container gets its final quote, and no
	// vTPM outlives eimad (the disposer stops the last of them when eimad is destroyed).
	answer_deferred(true);
	while (!containers_.empty())
		retire(containers_.begin()->second);
	advance_retiring(true);
	flush_all(); // the last entries reach the list, then the TPM
	spdlog::info("stopping: {} events, {} violations, host list {} entries",
		   events_, violations_, host_list_->entries());
	return {};
}

namespace {

ControlAnswer answer_now(nlohmann::json reply)
{
	return [reply = std::move(reply)](bool) mutable { return std::optional(std::move(reply)); };
}

} // namespace

void Agent::handle_control(UniqueFd client)
{
	auto req = control::read_message(client.get());
	Answer answer;
	if (!req) {
		answer = answer_now({{"error", req.error().message()}});
	} else {
		std::string cmd = req->value("cmd", "");
		if (cmd == "status")
			answer = answer_now(status_json());
		else if (cmd == "ps")
			answer = answer_now(ps_json());
		else if (cmd == "pcrs")
			answer = pcrs_json(*req);
		else if (cmd == "quote")
			answer = quote_json(*req);
		else
			answer = answer_now({{"error", "unknown command: " + cmd}});
	}
	// Answered by answer_deferred() later in this same wakeup, or, while a TPM is busy, in a
	// later one: the client waits, the event loop goes on.
	deferred_.push_back({std::move(client), std::move(answer)});
}

void Agent::answer_deferred(bool wait)
{
	for (auto it = deferred_.begin(); it != deferred_.end();) {
		auto reply = it->answer(wait);
		if (!reply) {
			++it;
			continue;
		}
		flush_all(); // the lists on disk hold what the answer covers
		(void)control::write_message(it->client.get(), *reply);
		it = deferred_.erase(it);
	}
}

nlohmann::json Agent::status_json() const
{
	nlohmann::json j;
	j["mode"] = probe_mode_name(probe_->mode());
	j["mode_reason"] = mode_reason_;
	j["programs"] = probe_->programs();
	j["tpm"] = tpm_description_;
	j["hash"] = ima::hash_algo_name(config_.hash);
	j["template"] = template_name(config_.template_kind);
	j["policy"] = config_.policy;
	j["policy_rules"] = policy_rules_;
	j["policy_unsupported"] = policy_unsupported_;
	j["run_dir"] = config_.run_dir;
	j["events"] = events_;
	j["violations"] = violations_;
	j["host_entries"] = host_list_->entries();
	j["containers"] = containers_.size();
	j["containers_exited"] = exited_.size() + retiring_.size();
	j["containers_retiring"] = retiring_.size(); // final evidence being taken
	j["containers_pruned"] = exited_pruned_;     // beyond --keep-exited, directory removed
	j["vtpms_stopping"] = disposer_.pending();
	j["requests_waiting"] = deferred_.size(); // quotes and PCR reads waiting on a TPM
	j["loop_longest_ms"] =
		std::chrono::duration<double, std::milli>(longest_wakeup_).count();
	j["vtpm"] = config_.vtpm ? "swtpm" : "none";
	j["host_list"] = host_list_state_;
	j["kernel_digest"] = kernel_digest_;
	j["kernel_digests_used"] = measurer_.kernel_digests_used();
	// Taken in the kernel with another algorithm than the list's (--hash, template=ima):
	// eimad hashed those files itself.
	j["kernel_digests_unusable"] = measurer_.kernel_digests_unusable();
	if (extender_) {
		j["tpm_extended"] = extender_->extended();
		j["tpm_failures"] = extender_->failures();
		if (extender_->failures())
			j["tpm_last_error"] = extender_->last_error();
	}
	if (auto c = probe_->counters()) {
		static constexpr const char *names[] = {
			"hook_calls",  "policy_skip",          "cache_hit",
			"events",      "dropped",              "path_errors",
			"dropped_unattributed", "kernel_digests", "kernel_digest_errors"};
		for (std::size_t i = 0; i < std::size(names); ++i)
			j["kernel"][names[i]] = (*c)[i];
	}
	return j;
}


nlohmann::json Agent::ps_json() const
{
	nlohmann::json arr = nlohmann::json::array();
	for (auto &[key, c] : containers_) {
		arr.push_back({{"id", c.id},
			       {"runtime", c.runtime},
			       {"mntns", c.ns.mnt},
			       {"pidns", c.ns.pid},
			       {"utsns", c.ns.uts},
			       {"cgroup_id", c.cgroup_id},
			       {"entries", c.list ? c.list->entries() : 0},
			       {"violations", c.list ? c.list->violations() : 0},
			       {"dropped", c.dropped},
			       {"log", c.list ? c.list->dir() : ""},
			       {"state", "running"},
			       {"vtpm", vtpm_json(c)}});
	}
	auto exited = [&](const ExitedContainer &e) {
		arr.push_back({{"id", e.id},
			       {"runtime", e.runtime},
			       {"mntns", e.ns.mnt},
			       {"pidns", e.ns.pid},
			       {"utsns", e.ns.uts},
			       {"cgroup_id", e.cgroup_id},
			       {"vtpm", e.vtpm},
			       {"entries", e.entries},
			       {"violations", e.violations},
			       {"log", e.log_dir},
			       {"state", "exited"},
			       {"final_evidence", e.final_evidence}});
	};
	for (auto &e : exited_)
		exited(e);
	for (auto &r : retiring_)
		exited(r.exited);
	return {{"containers", arr}};
}

namespace {

bool is_ready(auto &future, bool wait)
{
	return wait || future.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
}

} // namespace

Agent::Answer Agent::host_quote(ima::HashAlgo bank, std::vector<std::uint32_t> pcrs, Bytes nonce)
{
	// Queued behind every entry appended so far, so the list prefix of `entries` records
	// is what the PCRs cover.
	if (!extender_)
		return answer_now({{"error", "eimad runs without a TPM (--tpm none)"}});
	flush_all(); // every entry counted below is written, hence queued for the TPM
	auto q = extender_->quote_later(bank, std::move(pcrs), nonce);
	return [q = std::move(q), nonce = std::move(nonce),
		entries = host_list_->entries()](bool wait) mutable -> std::optional<nlohmann::json> {
		if (!is_ready(q, wait))
			return std::nullopt;
		auto r = q.get();
		if (!r)
			return nlohmann::json{{"error", r.error().message()}};
		return attest::quote_reply(*r, nonce, entries);
	};
}

Container *Agent::find_container(std::uint64_t key)
{
	if (auto it = containers_.find(key); it != containers_.end())
		return &it->second;
	for (auto &r : retiring_)
		if (r.c.key == key)
			return &r.c;
	return nullptr;
}

Agent::Answer Agent::container_quote(Container &c, ima::HashAlgo bank,
				     std::vector<std::uint32_t> pcrs, Bytes nonce)
{
	ContainerQuote q{bank, std::move(pcrs), std::move(nonce), {}, {}, {}, 0, 0};
	if (auto refused = start_quote(c, q))
		return answer_now(std::move(*refused));
	// By key: the container may retire (and move) before the quotes are in.
	return [this, key = c.key, q = std::move(q)](bool wait) mutable {
		return step_quote(find_container(key), q, wait);
	};
}

std::optional<nlohmann::json> Agent::start_quote(Container &c, ContainerQuote &q)
{
	if (!c.vtpm)
		return nlohmann::json{
			{"error", "container " + c.id + " has no vTPM (eimad runs with --vtpm none)"}};
	if (!c.list)
		return nlohmann::json{{"error", "container " + c.id + " has no list"}};
	if (!extender_)
		return nlohmann::json{{"error", "a container's quote needs the host TPM to bind its "
						"vTPM, and eimad runs without one (--tpm none)"}};
	// Queued behind the vTPM's start and every entry so far.
	q.vtpm = c.vtpm->extender().quote_later(q.bank, q.pcrs, q.nonce);
	q.reply = {{"container", c.id}, {"log_dir", c.list->dir()}};
	q.entries = c.list->entries();
	return std::nullopt;
}

std::optional<nlohmann::json> Agent::step_quote(Container *c, ContainerQuote &q, bool wait)
{
	if (q.vtpm.valid()) {
		if (!is_ready(q.vtpm, wait))
			return std::nullopt;
		auto vq = q.vtpm.get();
		if (!vq)
			return nlohmann::json{
				{"error", "container " + q.reply["container"].get<std::string>() +
						  ": vTPM: " + vq.error().message()}};
		q.reply.update(attest::quote_reply(*vq, q.nonce, q.entries));
		// The vTPM is up, so its binding goes in now if it has not yet; the host quote,
		// queued behind it (written, so extended), covers it.
		if (c)
			bind_vtpm(*c);
		flush_all();
		q.host_entries = host_list_->entries();
		q.host = extender_->quote_later(q.bank, {config_.host_pcr, config_.container_pcr},
						q.nonce);
	}
	if (!is_ready(q.host, wait))
		return std::nullopt;
	auto hq = q.host.get();
	if (!hq)
		return nlohmann::json{{"error", "host quote: " + hq.error().message()}};
	q.reply["host"] = attest::quote_reply(*hq, q.nonce, q.host_entries);
	return std::move(q.reply);
}

Agent::Answer Agent::quote_json(const nlohmann::json &req)
{
	auto bank = ima::hash_algo_from_name(req.value("bank", "sha256"));
	auto nonce = from_hex(req.value("nonce", ""));
	if (!bank || !nonce || nonce->empty() || nonce->size() > 64)
		return answer_now({{"error", "quote needs a bank and a nonce of 1 to 64 bytes in hex"}});
	std::vector<std::uint32_t> pcrs;
	if (req.contains("pcrs") && req["pcrs"].is_array())
		for (auto &p : req["pcrs"])
			if (p.is_number_unsigned())
				pcrs.push_back(p.get<std::uint32_t>());
	std::string id = req.value("container", "");
	if (id.empty()) {
		if (pcrs.empty())
			pcrs = {config_.host_pcr, config_.container_pcr};
		return host_quote(*bank, pcrs, *nonce);
	}
	if (pcrs.empty())
		pcrs = {ima::default_ima_pcr};
	for (auto &[key, c] : containers_)
		if (c.id == id && c.list)
			return container_quote(c, *bank, pcrs, *nonce);
	for (auto &r : retiring_)
		if (r.c.id == id)
			return answer_now({{"error", "container " + id + " has exited; its final "
								      "evidence is being taken"}});
	for (auto &e : exited_)
		if (e.id == id)
			return answer_now({{"error", "container " + id +
							     " has exited; its final evidence: " +
							     e.final_evidence}});
	return answer_now({{"error", "no such container: " + id}});
}

namespace {

// PCRs 0..23 of each bank as {bank: {pcr: hex}}, read in one go on the extender's thread
// behind every record queued so far.
std::future<Result<nlohmann::json>> read_all_pcrs_later(TpmExtender &tpm,
							 std::vector<ima::HashAlgo> banks)
{
	return tpm.later<nlohmann::json>([banks = std::move(banks)](tpm::Tpm &t) -> Result<nlohmann::json> {
		auto pcrs = read_all_pcrs(t, banks);
		if (!pcrs)
			return std::unexpected(pcrs.error());
		nlohmann::json out;
		for (auto &[bank, values] : *pcrs)
			for (auto &[pcr, value] : values)
				out[std::string(ima::hash_algo_name(bank))][std::to_string(pcr)] =
					to_hex(value);
		return out;
	});
}

// The answer to a PCR read from a TPM: its banks, the source, and how many list entries
// they cover.
ControlAnswer pcrs_answer(std::future<Result<nlohmann::json>> read, std::string source,
			  std::size_t entries, std::string context)
{
	return [read = std::move(read), source = std::move(source), entries,
		context = std::move(context)](bool wait) mutable -> std::optional<nlohmann::json> {
		if (!is_ready(read, wait))
			return std::nullopt;
		auto banks = read.get();
		if (!banks)
			return nlohmann::json{{"error", context + banks.error().message()}};
		return nlohmann::json{{"banks", std::move(*banks)}, {"source", source},
				      {"entries", entries}};
	};
}

} // namespace

Agent::Answer Agent::pcrs_json(const nlohmann::json &req)
{
	// "banks": [...] (or one "bank") are read in one go: with "entries", the number of
	// list entries they cover, a client can cut a consistent snapshot of the list.
	std::vector<ima::HashAlgo> banks;
	std::vector<std::string> names = req.contains("banks") && req["banks"].is_array()
						 ? req["banks"].get<std::vector<std::string>>()
						 : std::vector<std::string>{req.value("bank", "sha256")};
	for (auto &n : names) {
		auto b = ima::hash_algo_from_name(n);
		if (!b)
			return answer_now({{"error", "unknown bank: " + n}});
		banks.push_back(*b);
	}
	std::string id = req.value("container", "");
	if (id.empty()) {
		if (!extender_)
			return answer_now({{"error", "eimad runs without a TPM (--tpm none)"}});
		flush_all(); // the entries counted are written, hence queued before the read
		return pcrs_answer(read_all_pcrs_later(*extender_, std::move(banks)), "tpm",
				   host_list_->entries(), "");
	}
	Container *found = nullptr;
	for (auto &[key, c] : containers_)
		if (c.id == id)
			found = &c;
	if (!found || !found->list)
		return answer_now({{"error", "no such container: " + id}});
	if (found->vtpm)
		return pcrs_answer(read_all_pcrs_later(found->vtpm->extender(), std::move(banks)),
				   "vtpm", found->list->entries(), "container " + id + ": vTPM: ");
	// --vtpm none: the values its list replays to.
	nlohmann::json out;
	for (auto bank : banks) {
		auto &j = out["banks"][std::string(ima::hash_algo_name(bank))];
		j = nlohmann::json::object();
		for (auto &[pcr, value] : found->list->replayed_pcrs(bank))
			j[std::to_string(pcr)] = to_hex(value);
	}
	out["source"] = "replay";
	out["entries"] = found->list->entries();
	return answer_now(std::move(out));
}

} // namespace eima::agent
