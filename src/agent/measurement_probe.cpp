#include "agent/measurement_probe.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <span>
#include <sstream>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "agent/agent_config.h"
#include "agent/ring_reader.h"
#include "bpfsign/signed_file.h"
#include "common/bpf_map_keys.h"
#include "ima/hash_algo.h"

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

MeasurementProbe::~MeasurementProbe()
{
	// A clean stop: nothing may keep the programs attached once eimad is gone on purpose.
	if (pins_)
		pins_->remove();
}

namespace {

constexpr const char *info_pin = "info";
constexpr const char *agent_pin = "agent";
// The maps both objects have, by name (the skeletons' maps, pinned under these names).
constexpr const char *map_pins[] = {"events",	    "measured", "known_mntns", "dropped_by_mntns",
				    "counters", "policy",   agent_pin, "cgroup_of_mntns"};

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

// measure_lsm's programs these options attach (the object has alternatives for each hook).
std::vector<std::string> lsm_programs(const ProbeOptions &o)
{
	std::vector<std::string> names;
	auto choose = [&](bool on, std::initializer_list<const char *> programs) {
		if (on)
			names.insert(names.end(), programs.begin(), programs.end());
	};
	// One set of hooks: the sleepable ones that hash, or the plain ones. Without
	// FILE_CHECK rules, file_open is not hooked at all: every open would otherwise pay for
	// a program that returns at once.
	bool hash = o.kernel_digest, plain = !o.kernel_digest;
	bool protect = hash && o.protect_blessed;
	choose(hash, {"eima_bprm_check_hash", "eima_mmap_file_hash"});
	choose(hash && (o.want_file_check || protect), {"eima_file_open_hash"});
	choose(plain, {"eima_bprm_check", "eima_mmap_file"});
	choose(true, {"eima_file_mprotect"}); // never sleepable
	choose(plain && o.want_file_check, {"eima_file_open"});
	// Changes to blessed files: only beside the sleepable file_open that marks them. Where
	// the kernel can read a dentry's xattr, the hooks that have a dentry read it themselves
	// (the *_read programs) instead of relying on the mark alone.
	bool read = protect && o.dentry_xattr;
	choose(protect, {"eima_file_truncate", "eima_path_truncate", "eima_inode_removexattr",
			 "eima_inode_post_setxattr", "eima_inode_post_removexattr"});
	choose(protect && !read,
	       {"eima_path_unlink", "eima_path_link", "eima_path_rename", "eima_inode_setxattr"});
	choose(read, {"eima_path_unlink_read", "eima_path_link_read", "eima_path_rename_read",
		      "eima_inode_setxattr_read", "eima_inode_setattr_read"});
	return names;
}

// What eimad writes into the object's ".data.config" before attaching it.
eima_probe_config probe_config_for(ProbeMode mode, const ProbeOptions &o, std::uint32_t ring_bytes)
{
	eima_probe_config c{};
	c.host_mntns = o.host_mntns;
	// Wake eimad when a quarter of a small ring is used, so bursts do not overflow it.
	c.wakeup_bytes = std::min<std::uint32_t>(EIMA_WAKEUP_BYTES, ring_bytes / 4);
	c.want_file_check = mode == ProbeMode::lsm && o.want_file_check;
	return c;
}

// The file the skeleton embeds, as bpf/CMakeLists.txt names it (and the package installs
// it under /usr/lib/<multiarch>/eima/bpf), or the signed object's.
std::string expected_object_name(ProbeMode mode, const ProbeOptions &opts)
{
	if (!opts.signed_object.empty())
		return std::filesystem::path(opts.signed_object).filename();
	return mode == ProbeMode::lsm ? "measure_lsm.bpf.o" : "measure_trace.bpf.o";
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
		Ops::configure(s, opts);
		if (opts.ring_bytes)
			if (int err = bpf_map__set_max_entries(s->maps.events, opts.ring_bytes))
				return fail(-err, "size ring buffer", std::to_string(opts.ring_bytes));
		s->data_config->probe_config =
			probe_config_for(mode, opts, bpf_map__max_entries(s->maps.events));
		if (int err = Ops::load(s))
			return fail(-err, "load BPF programs",
				    std::string(probe_mode_name(mode)) +
					    " (libbpf logged the verifier's reason; see it with "
					    "--log-level debug if it was expected)");
		auto agent = probe->bind_maps([s](const char *name) -> Result<int> {
			int fd = bpf_object__find_map_fd_by_name(s->obj, name);
			if (fd < 0)
				return fail(-fd, "find BPF map", name);
			return fd;
		});
		if (!agent)
			return std::unexpected(agent.error());
		if (auto r = probe->set_policy(policy); !r)
			return std::unexpected(r.error());
		if (auto r = set_agent_tgid(*agent, opts.agent_tgid); !r)
			return std::unexpected(r.error());
		if (mode == ProbeMode::trace)
			if (auto r = ensure_tracefs(); !r)
				return std::unexpected(r.error());
		if (int err = Ops::attach(s))
			return fail(-err, "attach BPF programs", std::string(probe_mode_name(mode)));
		probe->programs_ = autoloaded(s->obj);
		probe->info_ = describe<Skel>(mode, opts, s);
		probe->object_name_ = expected_object_name(mode, opts);
		return std::unique_ptr<MeasurementProbe>(std::move(probe));
	}

	// The programs and description load() would give with these options, without loading.
	static Result<std::pair<PinnedSetInfo, std::vector<std::string>>>
	expect(ProbeMode mode, const ProbeOptions &opts)
	{
		Skel *s = Ops::open();
		if (!s)
			return fail(errno, "open BPF skeleton", std::string(probe_mode_name(mode)));
		Ops::configure(s, opts);
		if (opts.ring_bytes)
			bpf_map__set_max_entries(s->maps.events, opts.ring_bytes);
		auto out = std::pair(describe<Skel>(mode, opts, s), autoloaded(s->obj));
		Ops::destroy(s);
		return out;
	}

	Result<UniqueFd> open_map(const std::string &name) const override
	{
		int fd = bpf_object__find_map_fd_by_name(skel_->obj, name.c_str());
		if (fd < 0)
			return fail(ENOENT, "find BPF map", name);
		int dup = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
		if (dup < 0)
			return fail(errno, "dup BPF map fd", name);
		return UniqueFd(dup);
	}

	Result<std::vector<ProbeProgram>> program_fds() const override
	{
		return loaded_program_fds(skel_->obj);
	}

	// Pins what the skeleton loaded: its maps by name, its links as "link_<program>"
	// (bpffs refuses dots in names).
	Result<void> pin_objects(const ProbePins &pins) override
	{
		bpf_map *map;
		bpf_object__for_each_map(map, skel_->obj) {
			if (bpf_map__is_internal(map)) // .rodata, .bss: nobody reads them back
				continue;
			if (int err = bpf_map__pin(map, pins.path(bpf_map__name(map)).c_str()))
				return fail(-err, "pin BPF map", pins.path(bpf_map__name(map)));
		}
		const bpf_object_skeleton *sk = skel_->skeleton;
		for (int i = 0; i < sk->prog_cnt; ++i) {
			bpf_link *link = *sk->progs[i].link;
			if (!link)
				continue;
			std::string path = pins.path(std::string("link_") + sk->progs[i].name);
			if (int err = bpf_link__pin(link, path.c_str()))
				return fail(-err, "pin BPF link", path);
		}
		return {};
	}

private:
	static std::vector<std::string> autoloaded(bpf_object *obj)
	{
		std::vector<std::string> names;
		bpf_program *prog;
		bpf_object__for_each_program(prog, obj)
			if (bpf_program__autoload(prog))
				names.push_back(bpf_program__name(prog));
		return names;
	}

	template <typename S>
	static PinnedSetInfo describe(ProbeMode mode, const ProbeOptions &opts, S *s)
	{
		PinnedSetInfo info;
		info.layout = PinnedSetInfo::current_layout;
		info.mode = static_cast<std::uint32_t>(mode);
		std::size_t size = 0;
		const void *elf = S::elf_bytes(&size);
		info.object_sha256 = elf_sha256(elf, size);
		info.host_mntns = opts.host_mntns;
		info.ring_bytes = bpf_map__max_entries(s->maps.events);
		info.kernel_digest = mode == ProbeMode::lsm && opts.kernel_digest;
		info.want_file_check = mode == ProbeMode::lsm && opts.want_file_check;
		return info;
	}

	Skel *skel_ = nullptr;
};

struct LsmOps {
	static measure_lsm_bpf *open() { return measure_lsm_bpf::open(); }
	static void configure(measure_lsm_bpf *s, const ProbeOptions &o)
	{
		auto chosen = lsm_programs(o);
		bpf_program *p;
		bpf_object__for_each_program(p, s->obj)
			bpf_program__set_autoload(
				p, std::ranges::find(chosen, bpf_program__name(p)) != chosen.end());
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

// The programs the signed object of a mode attaches: measure_lsm's these options choose
// (as LsmOps), every one of measure_trace's (as the skeleton).
std::vector<std::string> signed_programs(ProbeMode mode, const ProbeOptions &opts,
					 const bpfsign::LoaderManifest &manifest)
{
	if (mode == ProbeMode::lsm)
		return lsm_programs(opts);
	std::vector<std::string> names;
	for (const auto &p : manifest.programs)
		names.push_back(p.name);
	return names;
}

// measure_lsm or measure_trace from its signed object (ProbeOptions::signed_object): the
// signed loader creates every map and program of the object, eimad configures the maps,
// attaches the programs these options choose and closes the others, which the kernel then
// frees.
class SignedProbe final : public MeasurementProbe {
public:
	static Result<std::unique_ptr<MeasurementProbe>> load(ProbeMode mode, const ProbeOptions &opts,
							      const eima_policy &policy)
	{
		if (!opts.signing)
			return fail(EINVAL, std::string(probe_mode_name(mode)),
				    "a signed object needs the certificate it was signed with");
		auto file = read(mode, opts);
		if (!file)
			return std::unexpected(file.error());
		auto expected = expect(mode, opts, *file);
		if (!expected)
			return std::unexpected(expected.error());
		auto pl = bpfsign::load_signed_file(*file, *opts.signing);
		if (!pl)
			return std::unexpected(pl.error());
		auto probe = std::unique_ptr<SignedProbe>(new SignedProbe());
		probe->loaded_ = std::move(pl->loaded);
		probe->load_detail_ = "signed: loaded " + pl->how + ")";
		probe->mode_ = mode;
		probe->kernel_digest_ = expected->first.kernel_digest;
		probe->info_ = expected->first;
		probe->programs_ = expected->second;
		probe->object_name_ = expected_object_name(mode, opts);
		probe->signer_ = opts.signing->signer;
		if (auto r = probe->configure(opts, policy); !r)
			return std::unexpected(r.error());
		if (mode == ProbeMode::trace)
			if (auto r = ensure_tracefs(); !r)
				return std::unexpected(r.error());
		if (auto r = probe->attach(file->manifest); !r)
			return std::unexpected(r.error());
		return std::unique_ptr<MeasurementProbe>(std::move(probe));
	}

	// What load() would give, without loading (a pinned set's match).
	static Result<std::pair<PinnedSetInfo, std::vector<std::string>>>
	expect(ProbeMode mode, const ProbeOptions &opts)
	{
		auto file = read(mode, opts);
		if (!file)
			return std::unexpected(file.error());
		return expect(mode, opts, *file);
	}

	// The same from the object as read (once: the SHA-256 recorded is that of what is
	// loaded), its ring's size read as libbpf sees it: the signed loader creates the map
	// at that size.
	static Result<std::pair<PinnedSetInfo, std::vector<std::string>>>
	expect(ProbeMode mode, const ProbeOptions &opts, const bpfsign::SignedFile &signed_file)
	{
		const std::string &file = opts.signed_object;
		const auto &bytes = signed_file.bytes;
		std::unique_ptr<bpf_object, void (*)(bpf_object *)> obj(
			bpf_object__open_mem(bytes.data(), bytes.size(), nullptr), bpf_object__close);
		bpf_map *events = obj ? bpf_object__find_map_by_name(obj.get(), "events") : nullptr;
		if (!events)
			return fail(obj ? ENOENT : errno, std::string(probe_mode_name(mode)),
				    file + ": not a BPF object with an events ring");
		std::uint32_t ring = bpf_map__max_entries(events);
		if (opts.ring_bytes && opts.ring_bytes != ring)
			return fail(EINVAL, "--ring-buffer-kb",
				    fmt::format("{}: the signed object's ring is {} KiB, fixed when "
						"it was signed; leave the option out",
						file, ring / 1024));
		PinnedSetInfo info;
		info.layout = PinnedSetInfo::current_layout;
		info.mode = static_cast<std::uint32_t>(mode);
		info.object_sha256 = signed_file.sha256;
		info.host_mntns = opts.host_mntns;
		info.ring_bytes = ring;
		info.kernel_digest = mode == ProbeMode::lsm && opts.kernel_digest;
		info.want_file_check = mode == ProbeMode::lsm && opts.want_file_check;
		return std::pair(info, signed_programs(mode, opts, signed_file.manifest));
	}

	static Result<bpfsign::SignedFile> read(ProbeMode mode, const ProbeOptions &opts)
	{
		auto file = bpfsign::read_signed_file(opts.signed_object);
		if (!file) {
			// The reader's error, naming the file, with where the objects come from.
			Error e = file.error();
			e.context += " (--bpf-objects DIR, measuring in " +
				     std::string(probe_mode_name(mode)) + " mode)";
			return std::unexpected(e);
		}
		return file;
	}

	Result<UniqueFd> open_map(const std::string &name) const override
	{
		auto fd = bpfsign::loaded_map_fd(loaded_, name, object_name_);
		if (!fd)
			return std::unexpected(fd.error());
		return dup_fd(*fd, name);
	}

	Result<std::vector<ProbeProgram>> program_fds() const override
	{
		std::vector<ProbeProgram> out;
		for (const auto &[name, fd] : loaded_.programs) {
			auto dup = dup_fd(fd.get(), name);
			if (!dup)
				return std::unexpected(dup.error());
			out.push_back({name, std::move(*dup)});
		}
		return out;
	}

	// The maps by name, as the skeleton's (the loader's internal ones, named "obj.rodata"
	// and ".data.config", are held by the programs), and the links as "link_<program>".
	Result<void> pin_objects(const ProbePins &pins) override
	{
		for (const auto &[name, fd] : loaded_.maps)
			if (name.find('.') == std::string::npos &&
			    bpf_obj_pin(fd.get(), pins.path(name).c_str()) != 0)
				return fail(errno, "pin BPF map", pins.path(name));
		for (const auto &[name, fd] : loaded_.links)
			if (bpf_obj_pin(fd.get(), pins.path("link_" + name).c_str()) != 0)
				return fail(errno, "pin BPF link", pins.path("link_" + name));
		return {};
	}

private:
	static Result<UniqueFd> dup_fd(int fd, const std::string &name)
	{
		UniqueFd dup(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
		if (!dup)
			return fail(errno, "dup BPF fd", name);
		return dup;
	}

	Result<void> configure(const ProbeOptions &opts, const eima_policy &policy)
	{
		auto map = [&](const char *name) -> Result<int> {
			return bpfsign::loaded_map_fd(loaded_, name, object_name_);
		};
		auto agent = bind_maps(map);
		auto config = map(".data.config");
		if (!config || !agent)
			return std::unexpected(!config ? config.error() : agent.error());
		eima_probe_config c = probe_config_for(mode_, opts, info_.ring_bytes);
		std::uint32_t zero = 0;
		if (bpf_map_update_elem(*config, &zero, &c, BPF_ANY) != 0)
			return fail(errno, "write BPF map", ".data.config");
		if (auto r = set_policy(policy); !r)
			return r;
		return set_agent_tgid(*agent, opts.agent_tgid);
	}

	// Attaches the chosen programs and closes the others' fds: nothing else holds them,
	// so the kernel frees them, and the set is what the skeleton would have loaded.
	Result<void> attach(const bpfsign::LoaderManifest &manifest)
	{
		std::vector<std::pair<std::string, UniqueFd>> kept;
		for (std::size_t i = 0; i < manifest.programs.size(); ++i) {
			const auto &p = manifest.programs[i];
			if (std::ranges::find(programs_, p.name) == programs_.end())
				continue;
			auto link = bpfsign::attach_program(loaded_.programs[i].second.get(), p);
			if (!link)
				return std::unexpected(link.error());
			loaded_.links.emplace_back(p.name, std::move(*link));
			kept.push_back(std::move(loaded_.programs[i]));
		}
		if (kept.size() != programs_.size())
			return fail(ENOENT, "attach BPF programs",
				    fmt::format("{} lacks some of [{}]", object_name_,
						fmt::join(programs_, " ")));
		loaded_.programs = std::move(kept);
		return {};
	}

	bpfsign::LoadedObject loaded_;
};

} // namespace

Result<int> MeasurementProbe::bind_maps(const std::function<Result<int>(const char *)> &open)
{
	int agent_fd = -1;
	int *fds[] = {&events_fd_,   &measured_fd_, &known_mntns_fd_, &dropped_fd_,
		      &counters_fd_, &policy_fd_,   &agent_fd,	      &cgroup_fd_};
	static_assert(std::size(fds) == std::size(map_pins));
	for (std::size_t i = 0; i < std::size(map_pins); ++i) {
		auto fd = open(map_pins[i]);
		if (!fd)
			return std::unexpected(fd.error());
		*fds[i] = *fd;
	}
	return agent_fd;
}

Result<std::unique_ptr<MeasurementProbe>> MeasurementProbe::load(ProbeMode mode,
								  const ProbeOptions &opts,
								  const eima_policy &policy)
{
	if (!opts.signed_object.empty())
		return SignedProbe::load(mode, opts, policy);
	if (mode == ProbeMode::lsm)
		return SkeletonProbe<measure_lsm_bpf, LsmOps>::load(mode, opts, policy);
	return SkeletonProbe<measure_trace_bpf, TraceOps>::load(mode, opts, policy);
}

Result<std::vector<ProbeProgram>> loaded_program_fds(bpf_object *obj)
{
	std::vector<ProbeProgram> out;
	bpf_program *prog;
	bpf_object__for_each_program(prog, obj) {
		if (!bpf_program__autoload(prog) || bpf_program__fd(prog) < 0)
			continue;
		int dup = ::fcntl(bpf_program__fd(prog), F_DUPFD_CLOEXEC, 0);
		if (dup < 0)
			return fail(errno, "dup BPF program fd", bpf_program__name(prog));
		out.push_back({bpf_program__name(prog), UniqueFd(dup)});
	}
	return out;
}

std::array<std::uint8_t, 32> elf_sha256(const void *elf, std::size_t size)
{
	std::array<std::uint8_t, 32> out{};
	if (auto d = ima::digest(ima::HashAlgo::sha256,
				 {static_cast<const std::uint8_t *>(elf), size});
	    d && d->size() == out.size())
		std::copy(d->begin(), d->end(), out.begin());
	return out;
}

// ---- Pinning and adoption (docs/restart.md) ----

namespace {

// The pinned set of a killed eimad, adopted: the links stay pinned (they keep the programs
// attached), the maps are used through the fds opened here.
class AdoptedProbe final : public MeasurementProbe {
public:
	Result<UniqueFd> open_map(const std::string &name) const override
	{
		std::string path = pins_->path(name);
		UniqueFd fd(bpf_obj_get(path.c_str()));
		if (!fd)
			return fail(errno, "open pinned BPF map", path);
		return fd;
	}
	// Each program through the link pinned for it: the link holds the program.
	Result<std::vector<ProbeProgram>> program_fds() const override
	{
		std::vector<ProbeProgram> out;
		for (auto &name : programs_) {
			std::string path = pins_->path("link_" + name);
			UniqueFd link(bpf_obj_get(path.c_str()));
			bpf_link_info li{};
			std::uint32_t len = sizeof(li);
			if (!link || bpf_obj_get_info_by_fd(link.get(), &li, &len) != 0)
				return fail(errno, "read pinned BPF link", path);
			UniqueFd fd(bpf_prog_get_fd_by_id(li.prog_id));
			if (!fd)
				return fail(errno, "open BPF program by id",
					    name + " (id " + std::to_string(li.prog_id) + ")");
			out.push_back({name, std::move(fd)});
		}
		return out;
	}
	std::vector<UniqueFd> fds_;
};

Result<std::pair<PinnedSetInfo, std::vector<std::string>>> expected_set(ProbeMode mode,
									const ProbeOptions &opts)
{
	if (!opts.signed_object.empty())
		return SignedProbe::expect(mode, opts);
	if (mode == ProbeMode::lsm)
		return SkeletonProbe<measure_lsm_bpf, LsmOps>::expect(mode, opts);
	return SkeletonProbe<measure_trace_bpf, TraceOps>::expect(mode, opts);
}

} // namespace

std::string pinned_set_mismatch(const PinnedSetInfo &found, std::vector<std::string> found_links,
				const PinnedSetInfo &wanted,
				std::vector<std::string> wanted_programs)
{
	if (found.layout != wanted.layout)
		return fmt::format("pinned by another eimad version (layout {}, this one {})",
				   found.layout, wanted.layout);
	if (found.mode != wanted.mode)
		return fmt::format("pinned in {} mode, {} wanted",
				   probe_mode_name(static_cast<ProbeMode>(found.mode)),
				   probe_mode_name(static_cast<ProbeMode>(wanted.mode)));
	if (found.object_sha256 != wanted.object_sha256)
		return "another BPF object (eimad was upgraded or rebuilt)";
	if (found.host_mntns != wanted.host_mntns)
		return fmt::format("for host mount namespace {}, this one is {}", found.host_mntns,
				   wanted.host_mntns);
	if (found.ring_bytes != wanted.ring_bytes)
		return fmt::format("ring buffer of {} bytes, {} wanted", found.ring_bytes,
				   wanted.ring_bytes);
	if (found.kernel_digest != wanted.kernel_digest)
		return found.kernel_digest ? "hooks that hash in the kernel, plain ones wanted"
					   : "plain hooks, hooks that hash in the kernel wanted";
	if (found.want_file_check != wanted.want_file_check)
		return found.want_file_check
			       ? "file_open hooked, the policy has no FILE_CHECK rule"
			       : "file_open not hooked, the policy has FILE_CHECK rules";
	std::ranges::sort(found_links);
	std::ranges::sort(wanted_programs);
	if (found_links != wanted_programs)
		return fmt::format("programs attached: [{}], wanted: [{}]",
				   fmt::join(found_links, " "), fmt::join(wanted_programs, " "));
	return {};
}

Result<ProbePins> ProbePins::open(const std::string &dir)
{
	// Where nobody mounted bpffs (a minimal VM), mount it, as eimad mounts tracefs.
	struct statfs fs;
	if (dir.starts_with("/sys/fs/bpf/") && ::statfs("/sys/fs/bpf", &fs) == 0 &&
	    fs.f_type != BPF_FS_MAGIC && ::mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700") != 0)
		return fail(errno, "mount bpffs", "/sys/fs/bpf (pins need it)");
	std::error_code ec;
	std::filesystem::create_directories(dir, ec);
	if (ec)
		return fail(ec.value(), "create pin directory", dir);
	if (::statfs(dir.c_str(), &fs) != 0)
		return fail(errno, "statfs", dir);
	if (fs.f_type != BPF_FS_MAGIC)
		return fail(EINVAL, "pin BPF objects", dir + " is not on bpffs");
	ProbePins pins;
	pins.dir_ = dir;
	pins.lock_.reset(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
	if (!pins.lock_)
		return fail(errno, "open", dir);
	if (::flock(pins.lock_.get(), LOCK_EX | LOCK_NB) != 0)
		return fail(errno, "lock pin directory",
			    dir + (errno == EWOULDBLOCK ? " (another eimad runs with it)" : ""));
	return pins;
}

std::optional<PinnedSetInfo> ProbePins::info() const
{
	UniqueFd fd(bpf_obj_get(path(info_pin).c_str()));
	if (!fd)
		return std::nullopt;
	bpf_map_info mi{};
	std::uint32_t len = sizeof(mi);
	if (bpf_obj_get_info_by_fd(fd.get(), &mi, &len) || mi.value_size != sizeof(PinnedSetInfo))
		return PinnedSetInfo{}; // layout 0: someone else's, or an older eimad's
	PinnedSetInfo info;
	std::uint32_t zero = 0;
	if (bpf_map_lookup_elem(fd.get(), &zero, &info))
		return PinnedSetInfo{};
	return info;
}

void ProbePins::claim_agent(std::uint32_t tgid) const
{
	UniqueFd fd(bpf_obj_get(path(agent_pin).c_str()));
	if (fd)
		(void)set_agent_tgid(fd.get(), tgid); // adopt() claims again and reports a failure
}

Result<void> set_agent_tgid(int agent_fd, std::uint32_t tgid)
{
	std::uint64_t unseen = 0;
	auto others = [&](std::uint32_t t) { return t != tgid; };
	if (bpf_map_update_elem(agent_fd, &tgid, &unseen, BPF_ANY) != 0) {
		// Full of stale entries (both slots): make room; only this one must hold.
		delete_keys_if<std::uint32_t>(agent_fd, others);
		if (bpf_map_update_elem(agent_fd, &tgid, &unseen, BPF_ANY) != 0)
			return fail(errno, "write BPF map", "agent");
	}
	delete_keys_if<std::uint32_t>(agent_fd, others);
	return {};
}

void ProbePins::clear() const
{
	if (dir_.empty()) // moved from
		return;
	// The description first: a set without it is never adopted, whatever else is left.
	::unlink(path(info_pin).c_str());
	std::error_code ec;
	for (auto &entry : std::filesystem::directory_iterator(dir_, ec))
		::unlink(entry.path().c_str());
}

void ProbePins::remove() const
{
	if (dir_.empty())
		return;
	clear();
	::rmdir(dir_.c_str());
	// The default directories' parent goes with the last of them (rmdir keeps it otherwise).
	auto parent = std::filesystem::path(dir_).parent_path();
	if (parent == default_pin_parent)
		::rmdir(parent.c_str());
}

Result<void> MeasurementProbe::pin(ProbePins pins)
{
	pins.clear();
	if (auto r = pin_objects(pins); !r) {
		pins.clear();
		return r;
	}
	info_.owner_pid = static_cast<std::uint32_t>(::getpid());
	LIBBPF_OPTS(bpf_map_create_opts, none);
	info_fd_.reset(bpf_map_create(BPF_MAP_TYPE_ARRAY, "eima_pinset", sizeof(std::uint32_t),
				      sizeof(PinnedSetInfo), 1, &none));
	std::uint32_t zero = 0;
	// Pinned last: its presence says the set is whole.
	if (!info_fd_ || bpf_map_update_elem(info_fd_.get(), &zero, &info_, BPF_ANY) ||
	    bpf_obj_pin(info_fd_.get(), pins.path(info_pin).c_str())) {
		int err = errno;
		pins.clear();
		info_fd_.reset();
		return fail(err, "pin BPF map", pins.path(info_pin));
	}
	pins_ = std::move(pins);
	return {};
}

void MeasurementProbe::note_uncommitted(bool uncommitted, std::uint64_t unattributed_recorded)
{
	if (!info_fd_ || (info_.uncommitted == uncommitted &&
			  info_.unattributed_recorded == unattributed_recorded))
		return;
	info_.uncommitted = uncommitted;
	info_.unattributed_recorded = unattributed_recorded;
	std::uint32_t zero = 0;
	bpf_map_update_elem(info_fd_.get(), &zero, &info_, BPF_ANY);
}

Result<std::unique_ptr<MeasurementProbe>> MeasurementProbe::adopt(ProbePins &pins, ProbeMode mode,
								  const ProbeOptions &opts,
								  const eima_policy &policy,
								  Adoption &how)
{
	auto refuse = [&](std::string why) -> Result<std::unique_ptr<MeasurementProbe>> {
		how.adopted = false;
		how.detail = std::move(why);
		pins.clear(); // detaches the old programs: they are replaced by a fresh load
		return std::unique_ptr<MeasurementProbe>();
	};
	auto found = pins.info();
	if (!found)
		return refuse("nothing pinned in " + pins.dir());
	how.from_pid = found->owner_pid;
	auto wanted = expected_set(mode, opts);
	if (!wanted)
		return std::unexpected(wanted.error());
	auto probe = std::unique_ptr<AdoptedProbe>(new AdoptedProbe());
	// The links that still hold programs: a link whose program was detached
	// (bpftool link detach) no longer measures.
	std::error_code ec;
	std::vector<std::string> links;
	for (auto &entry : std::filesystem::directory_iterator(pins.dir(), ec)) {
		std::string name = entry.path().filename();
		if (!name.starts_with("link_"))
			continue;
		UniqueFd fd(bpf_obj_get(entry.path().c_str()));
		bpf_link_info li{};
		std::uint32_t len = sizeof(li);
		if (!fd || bpf_obj_get_info_by_fd(fd.get(), &li, &len) || li.prog_id == 0)
			return refuse("link " + name + " is no longer attached");
		links.push_back(name.substr(5));
	}
	if (auto why = pinned_set_mismatch(*found, links, wanted->first, wanted->second);
	    !why.empty())
		return refuse(why);
	auto agent_fd = probe->bind_maps([&](const char *name) -> Result<int> {
		UniqueFd fd(bpf_obj_get(pins.path(name).c_str()));
		if (!fd)
			return fail(fmt::format("map {} is not pinned ({})", name, std::strerror(errno)));
		probe->fds_.push_back(std::move(fd));
		return probe->fds_.back().get();
	});
	if (!agent_fd)
		return refuse(agent_fd.error().message());
	probe->info_fd_.reset(bpf_obj_get(pins.path(info_pin).c_str()));
	if (!probe->info_fd_)
		return refuse("its description is gone");

	// The old owner's policy measured what is queued; the new one decides from now on.
	// Files it judged are in the measured cache: when the policy differs, that cache is
	// emptied, so every file is judged by the new policy at its next access (as after a
	// fresh load).
	eima_policy old{};
	std::uint32_t zero = 0;
	how.policy_changed = bpf_map_lookup_elem(probe->policy_fd_, &zero, &old) != 0 ||
			     std::memcmp(&old, &policy, sizeof(old)) != 0;
	if (auto r = probe->set_policy(policy); !r)
		return std::unexpected(r.error());
	if (how.policy_changed)
		clear_map<eima_measured_key>(probe->measured_fd_);
	// This eimad knows none of the old one's containers: their first events must wake it.
	clear_map<std::uint64_t>(probe->known_mntns_fd_);
	// Claimed already when the directory was locked (ProbePins::claim_agent); again here,
	// where a failure is an error, for whoever adopts without having claimed.
	if (auto r = set_agent_tgid(*agent_fd, opts.agent_tgid); !r)
		return std::unexpected(r.error());

	probe->mode_ = mode;
	probe->kernel_digest_ = found->kernel_digest;
	probe->programs_ = links;
	probe->object_name_ = expected_object_name(mode, opts);
	if (!opts.signed_object.empty()) {
		probe->signer_ = opts.signing ? opts.signing->signer : "";
		probe->load_detail_ = "signed: adopted (its signature was checked when it was loaded)";
	} else {
		probe->load_detail_ = "unsigned: adopted, loaded from the skeleton eimad carries";
	}
	probe->info_ = *found;
	how.uncommitted = found->uncommitted != 0;
	how.queued_bytes = RingPositions(probe->events_fd_).queued();
	// From now on this eimad owns the set.
	probe->info_.owner_pid = static_cast<std::uint32_t>(::getpid());
	bpf_map_update_elem(probe->info_fd_.get(), &zero, &probe->info_, BPF_ANY);
	probe->pins_ = std::move(pins);
	how.adopted = true;
	how.detail = fmt::format("adopted the set pinned by eimad {} in {}", how.from_pid,
				 probe->pins_->dir());
	return std::unique_ptr<MeasurementProbe>(std::move(probe));
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

void MeasurementProbe::mark_known(std::uint64_t mntns_id)
{
	std::uint8_t one = 1;
	// Full map: the namespace keeps waking eimad at once, which is only slower.
	bpf_map_update_elem(known_mntns_fd_, &mntns_id, &one, BPF_ANY);
}

std::optional<std::string> MeasurementProbe::take_cgroup_path(std::uint64_t mntns_id)
{
	eima_cgroup_path p{};
	if (bpf_map_lookup_elem(cgroup_fd_, &mntns_id, &p) != 0)
		return std::nullopt;
	bpf_map_delete_elem(cgroup_fd_, &mntns_id);
	std::string path;
	for (const auto &name : p.names) {
		std::string_view n(name, ::strnlen(name, sizeof(name)));
		if (n.empty() || n == "/") // past the root, or the root itself
			break;
		path.insert(0, "/" + std::string(n));
	}
	return path.empty() ? std::string("/") : path;
}

void MeasurementProbe::forget_mntns(std::uint64_t mntns_inode, std::uint64_t mntns_id)
{
	bpf_map_delete_elem(cgroup_fd_, &mntns_id);
	bpf_map_delete_elem(known_mntns_fd_, &mntns_id);
	bpf_map_delete_elem(dropped_fd_, &mntns_inode);
	// Files measured under a never-reused id can never match another namespace; they age
	// out of the LRU. Only where the kernel has no such id (the inode stands in for it)
	// must they go now. That walk is a syscall per cached file: 30 ms and more per exit.
	if (mntns_id != mntns_inode)
		return;
	delete_keys_if<eima_measured_key>(
		measured_fd_, [&](const eima_measured_key &k) { return k.mntns == mntns_id; });
}

} // namespace eima::agent
