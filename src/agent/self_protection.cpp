#include "agent/self_protection.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <span>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "agent/file_opener.h"
#include "agent/measurement_probe.h"
#include "bpf/abi/self_protect.h"
#include "bpfsign/signed_file.h"
#include "common/file_io.h"
#include "common/unique_fd.h"
#include "control/control_protocol.h"
#include "enforce/trusted_keyring.h"

#include "self_protect.skel.h"

namespace eima::agent {

namespace fs = std::filesystem;

namespace {

// "protect_<pid>": bpffs refuses dots in names.
constexpr const char *protect_prefix = "protect_";
constexpr const char *refusal_names[EIMA_PR_COUNT] = {"map_write", "link", "signal", "ptrace",
						      "pin",	   "umount", "key"};

// "map_id", "link_id" and "prog_id" of a BPF fd, from /proc/self/fdinfo (the kind of object
// an fd is shows only there, or in which info struct the kernel accepts).
std::optional<eima_protected_obj> object_of_fd(int fd)
{
	std::ifstream in(fmt::format("/proc/self/fdinfo/{}", fd));
	std::string key;
	std::uint32_t link = 0, map = 0, prog = 0;
	while (in >> key) {
		if (key == "link_id:")
			in >> link;
		else if (key == "map_id:")
			in >> map;
		else if (key == "prog_id:")
			in >> prog;
	}
	if (link) // a link's fdinfo names its program too
		return eima_protected_obj{EIMA_PROT_LINK, link};
	if (map)
		return eima_protected_obj{EIMA_PROT_MAP, map};
	if (prog)
		return eima_protected_obj{EIMA_PROT_PROG, prog};
	return std::nullopt;
}

// The program of a link and the maps that program uses (.rodata and .bss included, which
// are never pinned).
Result<void> add_link_closure(std::uint32_t link_id, std::set<std::pair<std::uint32_t, std::uint32_t>> &out)
{
	UniqueFd link(bpf_link_get_fd_by_id(link_id));
	if (!link)
		return fail(errno, "open BPF link", fmt::format("id {}", link_id));
	bpf_link_info li{};
	std::uint32_t len = sizeof(li);
	if (bpf_obj_get_info_by_fd(link.get(), &li, &len))
		return fail(errno, "BPF link info", fmt::format("id {}", link_id));
	if (!li.prog_id)
		return {};
	out.insert({EIMA_PROT_PROG, li.prog_id});
	UniqueFd prog(bpf_prog_get_fd_by_id(li.prog_id));
	if (!prog)
		return fail(errno, "open BPF program", fmt::format("id {}", li.prog_id));
	std::uint32_t map_ids[64] = {};
	bpf_prog_info pi{};
	pi.nr_map_ids = std::size(map_ids);
	pi.map_ids = reinterpret_cast<std::uint64_t>(map_ids);
	len = sizeof(pi);
	if (bpf_obj_get_info_by_fd(prog.get(), &pi, &len))
		return fail(errno, "BPF program info", fmt::format("id {}", li.prog_id));
	for (std::uint32_t i = 0; i < std::min<std::uint32_t>(pi.nr_map_ids, std::size(map_ids)); ++i)
		out.insert({EIMA_PROT_MAP, map_ids[i]});
	return {};
}

// Every object pinned in dir (not its subdirectories), with the closure of each link.
Result<void> add_pinned(const std::string &dir, std::set<std::pair<std::uint32_t, std::uint32_t>> &out)
{
	std::error_code ec;
	for (auto &entry : fs::directory_iterator(dir, ec)) {
		if (!entry.is_regular_file(ec))
			continue;
		UniqueFd fd(bpf_obj_get(entry.path().c_str()));
		if (!fd)
			return fail(errno, "open pinned BPF object", entry.path());
		auto obj = object_of_fd(fd.get());
		if (!obj)
			return fail(EINVAL, "protect", entry.path().string() + " is not a BPF map, link or program");
		out.insert({obj->kind, obj->id});
		if (obj->kind == EIMA_PROT_LINK)
			if (auto r = add_link_closure(obj->id, out); !r)
				return r;
	}
	if (ec)
		return fail(ec.value(), "list pin directory", dir);
	return {};
}

Result<eima_protected_dir> dir_key(const std::string &dir)
{
	struct stat st;
	if (::stat(dir.c_str(), &st) != 0)
		return fail(errno, "stat", dir);
	return eima_protected_dir{kernel_dev(st.st_dev), st.st_ino};
}

} // namespace

struct SelfProtection::Impl {
	self_protect_bpf *skel = nullptr;	       // unsigned: the skeleton eimad carries
	std::optional<bpfsign::LoadedObject> loaded;   // signed: from self_protect.signed.bpf.o
	std::optional<enforce::TrustedKeyring> keyring; // eimad's (native): protected, with its keys
	std::string object_name = SelfProtection::unsigned_object;
	std::array<std::uint8_t, 32> object_sha256{};
	std::string signer, how;
	int cfg = -1, objs = -1, dirs_map = -1, keys_map = -1, refusals = -1, ring = -1,
	    lost = -1; // map fds
	std::optional<bpfsign::PolicyEventReader> events;
	std::string dir; // PIN_DIR/protect_<pid>
	std::size_t objects = 0, dirs = 0, keys = 0;
	std::uint64_t test_kill_cgroup = 0;

	~Impl()
	{
		if (events)
			if (auto r = events->consume(); !r)
				spdlog::error("self-protection events: {}", r.error().message());
		events.reset();
		if (cfg >= 0) {
			// Off before anything goes: from here eimad unpins as anyone could.
			std::uint32_t zero = 0;
			eima_protect_cfg off{};
			bpf_map_update_elem(cfg, &zero, &off, BPF_ANY);
		}
		if (!dir.empty())
			remove_flat_dir(dir);
		// The links' last fds (the skeleton's, or `loaded`'s): the hooks detach.
		if (skel)
			self_protect_bpf__destroy(skel);
	}

	Result<void> load_unsigned();
	Result<void> load_signed(const ProtectObject &o);
	Result<void> pin();
};

Result<void> SelfProtection::Impl::load_unsigned()
{
	skel = self_protect_bpf__open_and_load();
	if (!skel)
		return fail(errno, "load BPF programs", unsigned_object);
	if (int err = self_protect_bpf__attach(skel))
		return fail(-err, "attach BPF LSM programs", unsigned_object);
	std::size_t size = 0;
	const void *elf = self_protect_bpf__elf_bytes(&size);
	object_sha256 = elf_sha256(elf, size);
	how = "unsigned: the skeleton eimad carries (no --bpf-cert)";
	cfg = bpf_map__fd(skel->maps.protect_cfg);
	objs = bpf_map__fd(skel->maps.protected_objs);
	dirs_map = bpf_map__fd(skel->maps.protected_dirs);
	keys_map = bpf_map__fd(skel->maps.protected_keys);
	refusals = bpf_map__fd(skel->maps.protect_refusals);
	ring = bpf_map__fd(skel->maps.protect_events);
	lost = bpf_map__fd(skel->maps.protect_events_lost);
	return {};
}

Result<void> SelfProtection::Impl::load_signed(const ProtectObject &o)
{
	auto file = bpfsign::read_signed_file(o.objects_dir + "/" + SelfProtection::signed_object);
	if (!file)
		return fail(file.error().err, "self-protection",
			    file.error().message() + " (--bpf-objects DIR)");
	object_sha256 = file->sha256;
	auto pl = bpfsign::load_signed_file(*file, *o.signing);
	if (!pl)
		return std::unexpected(pl.error());
	keyring = o.signing->keyring;
	loaded = std::move(pl->loaded);
	how = std::move(pl->how) + ")";
	object_name = SelfProtection::signed_object;
	signer = o.signing->signer;
	if (auto a = bpfsign::attach_programs(*loaded, file->manifest); !a)
		return std::unexpected(a.error());
	const std::pair<int *, const char *> maps[] = {{&cfg, "protect_cfg"},
						       {&objs, "protected_objs"},
						       {&dirs_map, "protected_dirs"},
						       {&keys_map, "protected_keys"},
						       {&refusals, "protect_refusals"},
						       {&ring, "protect_events"},
						       {&lost, "protect_events_lost"}};
	for (auto [fd, name] : maps) {
		auto m = bpfsign::loaded_map_fd(*loaded, name, file->path);
		if (!m)
			return std::unexpected(m.error());
		*fd = *m;
	}
	return {};
}

Result<void> SelfProtection::Impl::pin()
{
	if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
		return fail(errno, "create pin directory", dir);
	if (loaded)
		return bpfsign::pin_loaded_object(*loaded, dir);
	bpf_map *map;
	bpf_object__for_each_map(map, skel->obj) {
		if (bpf_map__is_internal(map))
			continue;
		std::string path = dir + "/" + bpf_map__name(map);
		if (int err = bpf_map__pin(map, path.c_str()))
			return fail(-err, "pin BPF map", path);
	}
	const bpf_object_skeleton *sk = skel->skeleton;
	for (int i = 0; i < sk->prog_cnt; ++i) {
		std::string path = dir + "/link_" + sk->progs[i].name;
		if (int err = bpf_link__pin(*sk->progs[i].link, path.c_str()))
			return fail(-err, "pin BPF link", path);
	}
	return {};
}

SelfProtection::SelfProtection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

SelfProtection::~SelfProtection()
{
	if (impl_ && impl_->cfg >= 0)
		spdlog::info("self-protection lifted");
}

Result<std::vector<ProbeProgram>> SelfProtection::program_fds() const
{
	if (impl_->skel)
		return loaded_program_fds(impl_->skel->obj);
	std::vector<ProbeProgram> out;
	for (const auto &[name, fd] : impl_->loaded->programs) {
		UniqueFd dup(::fcntl(fd.get(), F_DUPFD_CLOEXEC, 0));
		if (!dup)
			return fail(errno, "dup BPF program", name);
		out.push_back(ProbeProgram{name, std::move(dup)});
	}
	return out;
}

const std::string &SelfProtection::object_name() const { return impl_->object_name; }

std::array<std::uint8_t, 32> SelfProtection::object_sha256() const { return impl_->object_sha256; }

const std::string &SelfProtection::signer() const { return impl_->signer; }

namespace {

// A record of the protect_events ring as an audit record.
Result<enforce::AppraisalRecord> decode_refusal(std::span<const std::uint8_t> data,
						std::int64_t boot_to_wall_ns)
{
	auto read = bpfsign::ring_record_as<eima_protect_event>(data, "read self-protection event");
	if (!read)
		return std::unexpected(read.error());
	const eima_protect_event &ev = *read;
	enforce::AppraisalRecord r;
	r.time_ns = static_cast<std::uint64_t>(static_cast<std::int64_t>(ev.ktime_ns) + boot_to_wall_ns);
	r.container = "host";
	r.pid = ev.pid;
	r.tid = ev.tid;
	r.uid = ev.uid;
	r.comm.assign(ev.comm, ::strnlen(ev.comm, sizeof(ev.comm)));
	r.operation = ev.kind < EIMA_PR_COUNT ? refusal_names[ev.kind] : fmt::format("kind-{}", ev.kind);
	r.reason = "protected";
	r.denied = true;
	r.mechanism = "self_protection";
	switch (ev.kind) {
	case EIMA_PR_MAP_WRITE: r.detail = fmt::format("writable fd to eima's map id {}", ev.target); break;
	case EIMA_PR_LINK: r.detail = fmt::format("detach or update of eima's link id {}", ev.target); break;
	case EIMA_PR_SIGNAL: r.detail = fmt::format("signal {} to eimad", ev.target); break;
	case EIMA_PR_PTRACE: r.detail = fmt::format("ptrace access (mode {:#x}) to eimad", ev.target); break;
	case EIMA_PR_PIN: r.detail = fmt::format("unlink or rename in pin directory inode {}", ev.target); break;
	case EIMA_PR_UMOUNT: r.detail = "unmount of the bpffs holding eima's pins"; break;
	case EIMA_PR_KEY: r.detail = fmt::format("change to eimad's key or keyring {}", ev.target); break;
	default: r.detail = fmt::format("target {}", ev.target);
	}
	r.path = bpfsign::executable_of(ev.pid);
	return r;
}

// The refusals a stopped eimad's set still holds (made while no eimad read them), to sink.
// Its ring is pinned as protect_events (skeleton) or map_protect_events (signed).
void drain_earlier(const fs::path &set, const bpfsign::PolicyRecordSink &sink)
{
	for (const char *name : {"protect_events", "map_protect_events"}) {
		UniqueFd ring(bpf_obj_get((set / name).c_str()));
		if (!ring)
			continue;
		auto r = bpfsign::PolicyEventReader::open_ring(ring.get(), set / name, decode_refusal, sink);
		auto n = r ? r->consume() : std::unexpected(r.error());
		if (!n)
			spdlog::error("self-protection: the refusals of {}: {}", set.string(),
				      n.error().message());
		else if (*n)
			spdlog::info("self-protection: {} refusals made while no eimad ran, from {}", *n,
				     set.string());
	}
}

} // namespace

int SelfProtection::events_fd() const
{
	return impl_->events ? impl_->events->epoll_fd() : -1;
}

Result<std::uint64_t> SelfProtection::drain()
{
	if (!impl_->events)
		return 0;
	return impl_->events->consume();
}

Result<std::unique_ptr<SelfProtection>> SelfProtection::start(const ProtectRequest &req)
{
	auto impl = std::make_unique<Impl>();
	if (auto r = req.object.signing ? impl->load_signed(req.object) : impl->load_unsigned(); !r)
		return std::unexpected(r.error());
	impl->dir = fmt::format("{}/{}{}", req.pin_dir, protect_prefix, ::getpid());
	if (auto r = impl->pin(); !r)
		return std::unexpected(r.error());

	// What is eima's: the measurement set, this one and the others eimad pins, each link's
	// program and maps.
	std::vector<std::string> dirs = {req.pin_dir, impl->dir};
	dirs.insert(dirs.end(), req.extra_pin_dirs.begin(), req.extra_pin_dirs.end());
	std::set<std::pair<std::uint32_t, std::uint32_t>> objects;
	for (const auto &dir : dirs)
		if (auto r = add_pinned(dir, objects); !r)
			return std::unexpected(r.error());
	std::uint8_t one = 1;
	for (auto [kind, id] : objects) {
		eima_protected_obj key{kind, id};
		if (bpf_map_update_elem(impl->objs, &key, &one, BPF_NOEXIST))
			return fail(errno, "protect BPF object",
				    fmt::format("kind {} id {} (at most {})", kind, id,
						EIMA_PROTECT_MAX_OBJS));
	}
	impl->objects = objects.size();
	for (const auto &dir : dirs) {
		auto key = dir_key(dir);
		if (!key)
			return std::unexpected(key.error());
		if (bpf_map_update_elem(impl->dirs_map, &*key, &one, BPF_ANY))
			return fail(errno, "protect pin directory", dir);
		++impl->dirs;
	}
	std::vector<std::int32_t> key_serials = req.key_serials;
	if (impl->keyring) {
		key_serials.push_back(impl->keyring->serial);
		for (const auto &c : impl->keyring->certs)
			key_serials.push_back(c.key_serial);
	}
	std::uint8_t key_protection = EIMA_PROT_KEY;
	for (auto serial : key_serials) {
		if (bpf_map_update_elem(impl->keys_map, &serial, &key_protection, BPF_ANY))
			return fail(errno, "protect key", std::to_string(serial));
		++impl->keys;
	}

	struct stat exe;
	if (::stat("/proc/self/exe", &exe) != 0)
		return fail(errno, "stat", "/proc/self/exe");
	auto pins = dir_key(req.pin_dir);
	if (!pins)
		return std::unexpected(pins.error());
	eima_protect_cfg cfg{};
	cfg.enabled = 1;
	cfg.owner_tgid = static_cast<std::uint32_t>(::getpid());
	cfg.exe_dev = kernel_dev(exe.st_dev);
	cfg.exe_ino = exe.st_ino;
	cfg.pins_dev = pins->dev;
	cfg.test_kill_cgroup = req.test_kill_cgroup;
	impl->test_kill_cgroup = cfg.test_kill_cgroup;
	std::uint32_t zero = 0;
	if (bpf_map_update_elem(impl->cfg, &zero, &cfg, BPF_ANY))
		return fail(errno, "turn self-protection on");

	if (req.sink) {
		auto r = bpfsign::PolicyEventReader::open_ring(impl->ring, "self-protection's refusals",
							       decode_refusal, req.sink);
		if (!r)
			return std::unexpected(r.error());
		impl->events.emplace(std::move(*r));
	}
	// Sets a crashed eimad left: this one protects everything now, so theirs can go (as
	// their owner is gone and this process runs eimad, their hooks let it).
	std::error_code ec;
	for (auto &entry : fs::directory_iterator(req.pin_dir, ec)) {
		std::string name = entry.path().filename();
		if (entry.is_directory(ec) && name.starts_with(protect_prefix) &&
		    entry.path() != impl->dir) {
			spdlog::info("self-protection: replacing the set a stopped eimad left in {}",
				     entry.path().string());
			if (req.sink)
				drain_earlier(entry.path(), req.sink);
			remove_flat_dir(entry.path());
		}
	}
	spdlog::info("self-protection on: {} BPF objects, {} pin directories, {} keys; its "
		     "programs loaded {}{}",
		     impl->objects, impl->dirs, impl->keys, impl->how,
		     impl->test_kill_cgroup ? " (TEST BYPASS: signals from a test cgroup pass)" : "");
	return std::unique_ptr<SelfProtection>(new SelfProtection(std::move(impl)));
}

nlohmann::json SelfProtection::status() const
{
	nlohmann::json j;
	j["on"] = true;
	j["pins"] = impl_->dir;
	j["objects"] = impl_->objects;
	j["pin_directories"] = impl_->dirs;
	j["keys"] = impl_->keys;
	j["test_bypass"] = impl_->test_kill_cgroup != 0;
	j["programs"] = {{"object", impl_->object_name},
			 {"signed", !impl_->signer.empty()},
			 {"loaded", impl_->how}};
	if (!impl_->signer.empty())
		j["programs"]["signer"] = impl_->signer;
	if (impl_->keyring)
		j["programs"]["keyring"] = impl_->keyring->serial;
	int ncpu = libbpf_num_possible_cpus();
	std::vector<std::uint64_t> per_cpu(ncpu > 0 ? ncpu : 1);
	for (std::uint32_t k = 0; k < EIMA_PR_COUNT; ++k) {
		std::uint64_t sum = 0;
		if (bpf_map_lookup_elem(impl_->refusals, &k, per_cpu.data()) == 0)
			for (auto v : per_cpu)
				sum += v;
		j["refused"][refusal_names[k]] = sum;
	}
	std::uint32_t zero = 0;
	std::uint64_t lost = 0;
	if (bpf_map_lookup_elem(impl_->lost, &zero, per_cpu.data()) == 0)
		for (auto v : per_cpu)
			lost += v;
	// Refusals whose record the full ring could not take: counted above, not in the log.
	j["records_lost"] = lost;
	j["records_written"] = impl_->events ? impl_->events->written() : 0;
	return j;
}

Result<CleanupReport> force_cleanup(const std::string &pin_parent,
				    const std::vector<std::string> &extra_dirs)
{
	std::vector<std::string> dirs = extra_dirs;
	std::error_code ec;
	for (auto &entry : fs::directory_iterator(pin_parent, ec))
		if (entry.is_directory(ec))
			dirs.push_back(entry.path());
	// All locks first: nothing is removed while any eimad runs.
	std::vector<ProbePins> held;
	for (const auto &dir : dirs) {
		if (!fs::is_directory(dir, ec))
			continue;
		auto pins = ProbePins::open(dir);
		if (!pins && pins.error().err == EWOULDBLOCK)
			return fail(EBUSY, "force cleanup",
				    dir + " is held by a running eimad: stop it with `eima stop`");
		if (!pins)
			return std::unexpected(pins.error());
		held.push_back(std::move(*pins));
	}
	CleanupReport report;
	for (auto &pins : held) {
		// Protection sets (protect_*) and BPF policy sets (bpf_policy_*).
		for (auto &entry : fs::directory_iterator(pins.dir(), ec))
			if (entry.is_directory(ec))
				remove_flat_dir(entry.path());
		pins.remove();
		if (fs::exists(pins.dir(), ec))
			report.problems.push_back(pins.dir() + ": still there after removing its pins");
		else
			report.removed_pins.push_back(pins.dir());
	}
	// "eima:<run dir>": a keyring whose eimad answers on its run directory's socket is in use
	// (an eimad that pins nowhere, or elsewhere, holds no lock found above).
	// "eima:bpf:<run dir>": the BPF policy's keyring (signed_bpf_policy.h), the same.
	auto in_use = [&report](std::string_view description) {
		std::string_view rest = description.substr(5);
		if (rest.starts_with("bpf:"))
			rest.remove_prefix(4);
		std::string run_dir(rest);
		if (!control::control_request(run_dir, {{"cmd", "status"}}))
			return false;
		report.problems.push_back(fmt::format("keyring {}: its eimad runs", description));
		return true;
	};
	if (auto k = enforce::unlink_user_keyrings("eima:", in_use); k)
		report.unlinked_keyrings = *k;
	else
		report.problems.push_back(k.error().message());
	return report;
}

} // namespace eima::agent
