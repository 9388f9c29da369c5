#include "bpfsign/signed_loader.h"

#include <bpf/bpf.h>
#include <bpf/skel_internal.h>
#include <linux/keyctl.h>
#include <linux/perf_event.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string_view>

#include <fmt/format.h>

#include "bpfsign/bpf_attr618.h"
#include "common/pkcs7_signature.h"

namespace eima::bpfsign {
namespace {

std::uint64_t ptr(const void *p)
{
	return reinterpret_cast<std::uintptr_t>(p);
}

long sys_bpf(int cmd, void *attr, std::size_t size)
{
	return ::syscall(__NR_bpf, cmd, attr, size);
}

// The verifier's log of a refused loader, for the error: its last line before the
// statistics ("processed N insns ...") says why.
std::string verifier_reason(const std::string &log)
{
	std::string s = log.substr(0, log.find('\0'));
	std::string reason;
	std::size_t start = 0;
	while (start < s.size()) {
		std::size_t nl = s.find('\n', start);
		std::string line = s.substr(start, nl == std::string::npos ? nl : nl - start);
		if (!line.empty() && line.rfind("processed ", 0) != 0 &&
		    line.rfind("verification time", 0) != 0 && line.rfind("stack depth", 0) != 0)
			reason = line;
		if (nl == std::string::npos)
			break;
		start = nl + 1;
	}
	return reason.empty() ? "" : " (verifier: " + reason + ")";
}

} // namespace

namespace {

// The blob in a one-element array, frozen so no syscall changes it; on 6.18 exclusive to the
// loader whose digest is given, and hashed by the kernel into bpf_map->sha, which the
// loader's prologue checks.
Result<UniqueFd> make_data_map(std::span<const std::uint8_t> data,
			       const std::optional<Sha256> &exclusive_to, const std::string &what)
{
	MapCreateAttr mc{};
	mc.map_type = BPF_MAP_TYPE_ARRAY;
	mc.key_size = 4;
	mc.value_size = static_cast<std::uint32_t>(data.size());
	mc.max_entries = 1;
	std::strncpy(mc.map_name, "eima_loader", sizeof(mc.map_name) - 1);
	if (exclusive_to) {
		mc.excl_prog_hash = ptr(exclusive_to->data());
		mc.excl_prog_hash_size = exclusive_to->size();
	}
	// A kernel without excl_prog_hash takes the shorter attributes only when their tail is
	// zero, which it is without exclusivity.
	UniqueFd map(static_cast<int>(sys_bpf(BPF_MAP_CREATE, &mc, sizeof(mc))));
	if (!map)
		return fail(errno, exclusive_to ? "create the loader's exclusive map"
						: "create the loader's map",
			    what);
	std::uint32_t key = 0;
	if (bpf_map_update_elem(map.get(), &key, data.data(), BPF_ANY) != 0)
		return fail(errno, "fill the loader's map", what);
	if (bpf_map_freeze(map.get()) != 0)
		return fail(errno, "freeze the loader's map", what);
	if (!exclusive_to)
		return map;
	MapInfoWithHash info{};
	Sha256 map_hash{};
	info.hash = ptr(map_hash.data());
	info.hash_size = map_hash.size();
	std::uint32_t info_len = sizeof(info);
	if (bpf_obj_get_info_by_fd(map.get(), &info, &info_len) != 0)
		return fail(errno, "hash the loader's map", what);
	return map;
}

struct LoaderSignature {
	std::span<const std::uint8_t> signature;
	std::int32_t keyring;
};

Result<UniqueFd> load_loader_insns(std::span<const std::uint8_t> insns, int loader_map,
				   const std::optional<LoaderSignature> &sig, const std::string &what)
{
	int fd_array[1] = {loader_map};
	std::string log;
	ProgLoadAttr pl{};
	pl.prog_type = BPF_PROG_TYPE_SYSCALL;
	pl.insns = ptr(insns.data());
	pl.insn_cnt = static_cast<std::uint32_t>(insns.size() / sizeof(bpf_insn));
	pl.license = ptr("Dual BSD/GPL");
	pl.prog_flags = BPF_F_SLEEPABLE;
	std::strncpy(pl.prog_name, "eima_loader", sizeof(pl.prog_name) - 1);
	// fd_array without fd_array_cnt: the verifier binds the map when the prologue's
	// ld_imm64 names it, after the program's digest exists for the exclusivity check.
	pl.fd_array = ptr(fd_array);
	if (sig) {
		pl.signature = ptr(sig->signature.data());
		pl.signature_size = static_cast<std::uint32_t>(sig->signature.size());
		pl.keyring_id = sig->keyring;
	}
	UniqueFd loader(static_cast<int>(sys_bpf(BPF_PROG_LOAD, &pl, sizeof(pl))));
	int err = errno;
	// Signature and policy refusals come before the verifier and have no log. For a
	// verifier refusal, load again with a log to say why: not the first time, since a
	// loader's log of every instruction fills any buffer (ENOSPC) even when it passes. The
	// kernel keeps the log's tail, where the reason is.
	if (!loader && err != EKEYREJECTED && err != ENOKEY && err != EBADMSG && err != EPERM) {
		log.assign(1 << 20, '\0');
		pl.log_level = 1;
		pl.log_buf = ptr(log.data());
		pl.log_size = static_cast<std::uint32_t>(log.size());
		loader.reset(static_cast<int>(sys_bpf(BPF_PROG_LOAD, &pl, sizeof(pl))));
	}
	if (!loader)
		return fail(err, sig ? "load the signed loader" : "load the loader unsigned",
			    fmt::format("{} (keyring {}){}", what, sig ? sig->keyring : 0,
					verifier_reason(log)));
	return loader;
}

// Runs a loaded loader once: its context receives every map's and program's fd, which are
// ours from then on, whatever the outcome (a failed run leaves some, closed with `out`).
// With a log, the loader hands it to each program it loads (skel_internal.h's
// bpf_loader_ctx), so a verifier refusal keeps its reason.
std::int32_t run_loader_once(int loader, const LoaderManifest &manifest, LoadedObject &out,
			     std::string *log)
{
	std::vector<std::uint8_t> ctx(loader_ctx_size(manifest), 0);
	bpf_loader_ctx header{};
	header.sz = static_cast<std::uint32_t>(ctx.size());
	if (log) {
		header.log_level = 1;
		header.log_size = static_cast<std::uint32_t>(log->size());
		header.log_buf = ptr(log->data());
	}
	std::memcpy(ctx.data(), &header, sizeof(header));
	LIBBPF_OPTS(bpf_test_run_opts, run, .ctx_in = ctx.data(),
		    .ctx_size_in = static_cast<std::uint32_t>(ctx.size()));
	if (bpf_prog_test_run_opts(loader, &run) != 0)
		return -errno;
	auto fd_at = [&](std::size_t off) {
		int fd = -1;
		std::memcpy(&fd, ctx.data() + off, sizeof(fd));
		return fd;
	};
	for (std::size_t i = 0; i < manifest.maps.size(); i++)
		out.maps.emplace_back(manifest.maps[i].name, UniqueFd(fd_at(loader_ctx_map_fd_offset(i))));
	for (std::size_t i = 0; i < manifest.programs.size(); i++)
		out.programs.emplace_back(manifest.programs[i].name,
					  UniqueFd(fd_at(loader_ctx_prog_fd_offset(manifest, i))));
	return static_cast<std::int32_t>(run.retval);
}

Result<LoadedObject> run_loader(UniqueFd loader, const LoaderManifest &manifest,
				const std::string &what)
{
	LoadedObject out;
	if (auto tag = program_tag(loader.get()))
		out.loader_tag = to_hex({tag->data(), tag->size()});
	std::int32_t retval = run_loader_once(loader.get(), manifest, out, nullptr);
	if (retval == 0) {
		for (auto &[name, fd] : out.programs)
			if (!fd)
				return fail("signed loader left no program fd", what + ": " + name);
		return out;
	}
	if (retval == -EBADMSG)
		return fail(EBADMSG, "signed loader refused or failed",
			    what + ": its data is not the signed data");
	// A map or program the kernel refused: run it again with a log for the reason, as
	// load_loader_insns does for the loader (its data is frozen, so the second run is the
	// same run). The kernel keeps the log's tail, where the reason is.
	std::string log(1 << 20, '\0');
	LoadedObject again;
	run_loader_once(loader.get(), manifest, again, &log);
	return fail(-retval, "signed loader refused or failed", what + verifier_reason(log));
}

} // namespace

Result<UniqueFd> make_loader_map(const UnverifiedSignedObject &object, const std::string &what)
{
	return make_data_map(object.data, sha256(object.insns), what);
}

Result<UniqueFd> load_loader(const UnverifiedSignedObject &object, int loader_map,
			     std::optional<std::int32_t> keyring, const std::string &what)
{
	std::optional<LoaderSignature> sig;
	if (keyring)
		sig = LoaderSignature{object.signature, *keyring};
	return load_loader_insns(object.insns, loader_map, sig, what);
}

Result<LoadedObject> load_signed_object(const UnverifiedSignedObject &object,
					const LoaderManifest &manifest, std::int32_t keyring,
					const std::string &what)
{
	auto map = make_loader_map(object, what);
	if (!map)
		return std::unexpected(map.error());
	auto loader = load_loader(object, map->get(), keyring, what);
	if (!loader)
		return std::unexpected(loader.error());
	return run_loader(std::move(*loader), manifest, what);
}

Result<LoadedObject> load_trusted_object(const UnverifiedSignedObject &object,
					 const std::string &cert_pem, const std::string &what)
{
	// Everything the kernel would check on 6.18, here, before anything is loaded: the
	// loader's signature, and the data's hash as the signed prologue names it.
	auto manifest = check_loader_image(object.insns, object.data);
	if (!manifest)
		return fail(manifest.error().err, manifest.error().op,
			    what + ": " + manifest.error().context);
	if (auto v = verify_pkcs7_detached(object.insns, object.signature, cert_pem,
					   "loader signature of " + what);
	    !v)
		return std::unexpected(v.error());
	auto map = make_data_map(object.data, std::nullopt, what);
	if (!map)
		return std::unexpected(map.error());
	auto loader = load_loader_insns(loader_body(object.insns), map->get(), std::nullopt, what);
	if (!loader)
		return std::unexpected(loader.error());
	return run_loader(std::move(*loader), *manifest, what);
}

Result<std::array<std::uint8_t, 8>> program_tag(int prog_fd)
{
	bpf_prog_info info{};
	std::uint32_t len = sizeof(info);
	if (bpf_obj_get_info_by_fd(prog_fd, &info, &len) != 0)
		return fail(errno, "read program info", "tag");
	std::array<std::uint8_t, 8> tag{};
	static_assert(sizeof(info.tag) == tag.size());
	std::memcpy(tag.data(), info.tag, tag.size());
	return tag;
}

Result<SigningPath> probe_signing_path()
{
	// r0 = 0; exit: any program type would do, none is created.
	const bpf_insn insns[2] = {{BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0}, {BPF_JMP | BPF_EXIT, 0, 0, 0, 0}};
	const std::uint8_t garbage[1] = {0};
	ProgLoadAttr pl{};
	pl.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
	pl.insns = ptr(insns);
	pl.insn_cnt = 2;
	pl.license = ptr("GPL");
	pl.signature = ptr(garbage);
	pl.signature_size = sizeof(garbage);
	pl.keyring_id = 0;
	UniqueFd fd(static_cast<int>(sys_bpf(BPF_PROG_LOAD, &pl, sizeof(pl))));
	if (fd)
		return fail(EINVAL, "probe BPF signatures",
			    "the kernel loaded a program with a garbage signature");
	if (errno == E2BIG)
		return SigningPath::trusted_loader;
	if (errno == ENOSYS)
		return fail(errno, "probe BPF signatures", "no bpf(2)");
	return SigningPath::native;
}

const char *signing_path_name(SigningPath p)
{
	return p == SigningPath::native ? "native" : "trusted-loader";
}

namespace {

// "tracepoint/CAT/NAME" or "tp/CAT/NAME" (libbpf's spellings): CAT/NAME, or empty.
std::string tracepoint_of(const std::string &section)
{
	for (std::string_view prefix : {"tracepoint/", "tp/"})
		if (section.starts_with(prefix))
			return section.substr(prefix.size());
	return {};
}

// The id tracefs gives a tracepoint (events/CAT/NAME/id), where it is mounted.
Result<std::uint64_t> tracepoint_id(const std::string &tracepoint)
{
	for (const char *root : {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"}) {
		std::string path = fmt::format("{}/events/{}/id", root, tracepoint);
		std::FILE *f = std::fopen(path.c_str(), "re");
		if (!f)
			continue;
		unsigned long long id = 0;
		int n = std::fscanf(f, "%llu", &id);
		std::fclose(f);
		if (n != 1)
			return fail(EINVAL, "read tracepoint id", path);
		return id;
	}
	return fail(ENOENT, "find tracepoint",
		    tracepoint + " (no events/" + tracepoint +
			    "/id under /sys/kernel/tracing or /sys/kernel/debug/tracing: is "
			    "tracefs mounted?)");
}

// A tracepoint's BPF program runs on every CPU, whatever CPU its perf event names: the
// program hangs off the tracepoint, the event only carries the attachment.
Result<UniqueFd> attach_tracepoint(int prog_fd, const LoaderProgram &program,
				   const std::string &tracepoint)
{
	auto id = tracepoint_id(tracepoint);
	if (!id) {
		Error e = id.error();
		e.context = program.name + ": " + e.context;
		return std::unexpected(e);
	}
	perf_event_attr attr{};
	attr.type = PERF_TYPE_TRACEPOINT;
	attr.size = sizeof(attr);
	attr.config = *id;
	attr.sample_period = 1;
	attr.wakeup_events = 1;
	UniqueFd event(static_cast<int>(::syscall(__NR_perf_event_open, &attr, -1 /* any task */,
						  0 /* cpu */, -1 /* no group */,
						  PERF_FLAG_FD_CLOEXEC)));
	if (!event)
		return fail(errno, "open perf event", tracepoint);
	int link = bpf_link_create(prog_fd, event.get(), BPF_PERF_EVENT, nullptr);
	if (link < 0)
		return fail(-link, "attach", program.name + " to " + tracepoint);
	return UniqueFd(link);
}

} // namespace

Result<UniqueFd> attach_program(int prog_fd, const LoaderProgram &program)
{
	if (program.type == BPF_PROG_TYPE_LSM || program.type == BPF_PROG_TYPE_TRACING) {
		int fd = bpf_link_create(prog_fd, 0, static_cast<bpf_attach_type>(program.attach_type),
					 nullptr);
		if (fd < 0)
			return fail(-fd, "attach", program.name);
		return UniqueFd(fd);
	}
	std::string tracepoint = tracepoint_of(program.section);
	if (program.type == BPF_PROG_TYPE_TRACEPOINT && !tracepoint.empty())
		return attach_tracepoint(prog_fd, program, tracepoint);
	return fail(EOPNOTSUPP, "attach",
		    fmt::format("program {} (type {}, section {}): eima attaches LSM, tracing "
				"and tracepoint programs only",
				program.name, program.type, program.section));
}

Result<void> attach_programs(LoadedObject &loaded, const LoaderManifest &manifest)
{
	for (std::size_t i = 0; i < manifest.programs.size(); i++) {
		const auto &p = manifest.programs[i];
		auto link = attach_program(loaded.programs[i].second.get(), p);
		if (!link)
			return std::unexpected(link.error());
		loaded.links.emplace_back(p.name, std::move(*link));
	}
	return {};
}

Result<int> loaded_map_fd(const LoadedObject &loaded, const std::string &name,
			  const std::string &what)
{
	for (const auto &[n, fd] : loaded.maps)
		if (n == name)
			return fd.get();
	return fail(ENOENT, what, fmt::format("the object has no map {}", name));
}

Result<void> pin_loaded_object(const LoadedObject &loaded, const std::string &dir)
{
	if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
		return fail(errno, "create pin directory", dir);
	auto pin = [&](const char *prefix, const auto &list) -> Result<void> {
		for (const auto &[name, fd] : list) {
			// bpffs refuses names with a dot (EPERM; it keeps them for itself), and
			// libbpf's internal maps are named "obj.rodata": dots become '_'.
			std::string pin_name = prefix + name;
			std::replace(pin_name.begin(), pin_name.end(), '.', '_');
			std::string path = dir + "/" + pin_name;
			if (bpf_obj_pin(fd.get(), path.c_str()) != 0)
				return fail(errno, "pin", path);
		}
		return {};
	};
	if (auto r = pin("prog_", loaded.programs); !r)
		return r;
	if (auto r = pin("map_", loaded.maps); !r)
		return r;
	return pin("link_", loaded.links);
}

Result<std::int32_t> default_keyring()
{
	long serial = ::syscall(SYS_keyctl, KEYCTL_SEARCH, KEY_SPEC_USER_KEYRING, "keyring",
				"eima", 0);
	if (serial < 0)
		return fail(errno, "find keyring",
			    "\"eima\" in the user keyring (give --keyring SERIAL)");
	return static_cast<std::int32_t>(serial);
}

} // namespace eima::bpfsign
