#include "agent/measurement_probe.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/mount.h>
#include <unistd.h>

#include <fstream>
#include <vector>
#include <sstream>

#include "measure_lsm.skel.h"
#include "measure_trace.skel.h"

namespace eima::agent {

std::string_view probe_mode_name(ProbeMode mode)
{
	return mode == ProbeMode::lsm ? "lsm" : "trace";
}

std::string bpf_lsm_unavailable_reason()
{
	std::ifstream in("/sys/kernel/security/lsm");
	if (!in)
		return "/sys/kernel/security/lsm is not readable (securityfs not mounted?)";
	std::string lsms;
	std::getline(in, lsms);
	std::stringstream ss(lsms);
	for (std::string name; std::getline(ss, name, ',');)
		if (name == "bpf")
			return {};
	return "bpf is not in the active LSMs (" + lsms + "): boot with lsm=...,bpf";
}

namespace {

// Syscall tracepoints are attached by id, read from tracefs. Where nobody mounted it
// (containers, minimal hosts) mount it: eimad is root and the mount is harmless.
Result<void> ensure_tracefs()
{
	if (::access("/sys/kernel/tracing/events", F_OK) == 0 ||
	    ::access("/sys/kernel/debug/tracing/events", F_OK) == 0)
		return {};
	if (::mount("nodev", "/sys/kernel/tracing", "tracefs", 0, nullptr) != 0)
		return fail(errno, "mount tracefs", "/sys/kernel/tracing (syscall tracepoints need it)");
	return {};
}

// One implementation per skeleton type: both skeletons have the same maps by name.
template <typename Skel, typename Ops>
class SkeletonProbe final : public MeasurementProbe {
public:
	~SkeletonProbe() override
	{
		if (skel_)
			Ops::destroy(skel_);
	}

	static Result<std::unique_ptr<MeasurementProbe>> load(ProbeMode mode, const ProbeOptions &opts,
							      const eima_policy &policy)
	{
		auto probe = std::unique_ptr<SkeletonProbe>(new SkeletonProbe());
		probe->mode_ = mode;
		probe->kernel_digest_ = mode == ProbeMode::lsm && opts.kernel_digest;
		probe->skel_ = Ops::open();
		if (!probe->skel_)
			return fail(errno, "open BPF skeleton", std::string(probe_mode_name(mode)));
		Skel *s = probe->skel_;
		s->rodata->host_mntns = opts.host_mntns;
		s->rodata->agent_tgid = opts.agent_tgid;
		Ops::configure(s, opts);
		// Wake eimad when a quarter of a small ring is used, so bursts do not overflow it.
		if (opts.ring_bytes && opts.ring_bytes / 4 < s->rodata->wakeup_bytes)
			s->rodata->wakeup_bytes = opts.ring_bytes / 4;
		if (opts.ring_bytes)
			if (int err = bpf_map__set_max_entries(s->maps.events, opts.ring_bytes))
				return fail(-err, "size ring buffer", std::to_string(opts.ring_bytes));
		if (int err = Ops::load(s))
			return fail(-err, "load BPF programs",
				    std::string(probe_mode_name(mode)) +
					    " (libbpf logged the verifier's reason; see it with "
					    "--log-level debug if it was expected)");
		probe->events_fd_ = bpf_map__fd(s->maps.events);
		probe->measured_fd_ = bpf_map__fd(s->maps.measured);
		probe->known_mntns_fd_ = bpf_map__fd(s->maps.known_mntns);
		probe->dropped_fd_ = bpf_map__fd(s->maps.dropped_by_mntns);
		probe->counters_fd_ = bpf_map__fd(s->maps.counters);
		probe->policy_fd_ = bpf_map__fd(s->maps.policy);
		if (auto r = probe->set_policy(policy); !r)
			return std::unexpected(r.error());
		if (mode == ProbeMode::trace)
			if (auto r = ensure_tracefs(); !r)
				return std::unexpected(r.error());
		if (int err = Ops::attach(s))
			return fail(-err, "attach BPF programs", std::string(probe_mode_name(mode)));
		bpf_program *prog;
		bpf_object__for_each_program(prog, s->obj)
			if (bpf_program__autoload(prog))
				probe->programs_.push_back(bpf_program__name(prog));
		return std::unique_ptr<MeasurementProbe>(std::move(probe));
	}

private:
	Skel *skel_ = nullptr;
};

struct LsmOps {
	static measure_lsm_bpf *open() { return measure_lsm_bpf::open(); }
	static void configure(measure_lsm_bpf *s, const ProbeOptions &o)
	{
		s->rodata->want_file_check = o.want_file_check;
		// One set of hooks: the sleepable ones that hash, or the plain ones. Without
		// FILE_CHECK rules, file_open is not hooked at all: every open would otherwise
		// pay for a program that returns at once.
		bool hash = o.kernel_digest, plain = !o.kernel_digest;
		bpf_program__set_autoload(s->progs.eima_bprm_check_hash, hash);
		bpf_program__set_autoload(s->progs.eima_mmap_file_hash, hash);
		bpf_program__set_autoload(s->progs.eima_file_open_hash, hash && o.want_file_check);
		bpf_program__set_autoload(s->progs.eima_bprm_check, plain);
		bpf_program__set_autoload(s->progs.eima_mmap_file, plain);
		bpf_program__set_autoload(s->progs.eima_file_mprotect, true); // never sleepable
		bpf_program__set_autoload(s->progs.eima_file_open, plain && o.want_file_check);
	}
	static int load(measure_lsm_bpf *s) { return measure_lsm_bpf::load(s); }
	static int attach(measure_lsm_bpf *s) { return measure_lsm_bpf::attach(s); }
	static void destroy(measure_lsm_bpf *s) { measure_lsm_bpf::destroy(s); }
};

struct TraceOps {
	static measure_trace_bpf *open() { return measure_trace_bpf::open(); }
	static void configure(measure_trace_bpf *, const ProbeOptions &) {}
	static int load(measure_trace_bpf *s) { return measure_trace_bpf::load(s); }
	static int attach(measure_trace_bpf *s) { return measure_trace_bpf::attach(s); }
	static void destroy(measure_trace_bpf *s) { measure_trace_bpf::destroy(s); }
};

} // namespace

Result<std::unique_ptr<MeasurementProbe>> MeasurementProbe::load(ProbeMode mode,
								  const ProbeOptions &opts,
								  const eima_policy &policy)
{
	if (mode == ProbeMode::lsm)
		return SkeletonProbe<measure_lsm_bpf, LsmOps>::load(mode, opts, policy);
	return SkeletonProbe<measure_trace_bpf, TraceOps>::load(mode, opts, policy);
}

Result<std::vector<std::uint64_t>> MeasurementProbe::counters() const
{
	std::vector<std::uint64_t> totals(EIMA_CNT_MAX);
	for (std::uint32_t i = 0; i < EIMA_CNT_MAX; ++i) {
		auto v = counter(i);
		if (!v)
			return std::unexpected(v.error());
		totals[i] = *v;
	}
	return totals;
}

Result<std::uint64_t> MeasurementProbe::counter(std::uint32_t index) const
{
	static const int ncpus = libbpf_num_possible_cpus();
	if (ncpus <= 0)
		return fail(-ncpus, "count possible CPUs");
	std::vector<std::uint64_t> per_cpu(ncpus);
	if (bpf_map_lookup_elem(counters_fd_, &index, per_cpu.data()))
		return fail(errno, "read BPF map", "counters");
	std::uint64_t total = 0;
	for (auto v : per_cpu)
		total += v;
	return total;
}

Result<void> MeasurementProbe::set_policy(const eima_policy &policy)
{
	std::uint32_t zero = 0;
	if (bpf_map_update_elem(policy_fd_, &zero, &policy, BPF_ANY))
		return fail(errno, "write BPF map", "policy");
	return {};
}

void MeasurementProbe::forget(const eima_measured_key &key)
{
	bpf_map_delete_elem(measured_fd_, &key);
}

void MeasurementProbe::mark_known(std::uint64_t mntns)
{
	std::uint8_t one = 1;
	// Full map: the namespace keeps waking eimad at once, which is only slower.
	bpf_map_update_elem(known_mntns_fd_, &mntns, &one, BPF_ANY);
}

void MeasurementProbe::forget_mntns(std::uint64_t mntns_inode, std::uint64_t mntns_id)
{
	bpf_map_delete_elem(known_mntns_fd_, &mntns_inode);
	bpf_map_delete_elem(dropped_fd_, &mntns_inode);
	// Files measured under a never-reused id can never match another namespace; they age
	// out of the LRU. Only where the kernel has no such id (the inode stands in for it)
	// must they go now. That walk is a syscall per cached file: 30 ms and more per exit.
	if (mntns_id != mntns_inode)
		return;
	// Collected first: deleting while walking an LRU hash can restart the walk.
	std::vector<eima_measured_key> doomed;
	eima_measured_key key, *prev = nullptr;
	while (bpf_map_get_next_key(measured_fd_, prev, &key) == 0) {
		if (key.mntns == mntns_id)
			doomed.push_back(key);
		prev = &key;
	}
	for (auto &k : doomed)
		bpf_map_delete_elem(measured_fd_, &k);
}

} // namespace eima::agent
