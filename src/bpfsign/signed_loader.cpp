#include "bpfsign/signed_loader.h"

#include <bpf/bpf.h>
#include <bpf/skel_internal.h>
#include <linux/keyctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "bpfsign/bpf_attr618.h"

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

Result<UniqueFd> make_loader_map(const UnverifiedSignedObject &object, const std::string &what)
{
	Sha256 loader_digest = sha256(object.insns);
	// The blob, in a map only the signed loader may use, frozen so no syscall changes it.
	MapCreateAttr mc{};
	mc.map_type = BPF_MAP_TYPE_ARRAY;
	mc.key_size = 4;
	mc.value_size = static_cast<std::uint32_t>(object.data.size());
	mc.max_entries = 1;
	std::strncpy(mc.map_name, "eima_loader", sizeof(mc.map_name) - 1);
	mc.excl_prog_hash = ptr(loader_digest.data());
	mc.excl_prog_hash_size = loader_digest.size();
	UniqueFd map(static_cast<int>(sys_bpf(BPF_MAP_CREATE, &mc, sizeof(mc))));
	if (!map)
		return fail(errno, "create the loader's exclusive map", what);
	std::uint32_t key = 0;
	if (bpf_map_update_elem(map.get(), &key, object.data.data(), BPF_ANY) != 0)
		return fail(errno, "fill the loader's map", what);
	if (bpf_map_freeze(map.get()) != 0)
		return fail(errno, "freeze the loader's map", what);
	// The kernel hashes the frozen value into bpf_map->sha, which the loader checks.
	MapInfoWithHash info{};
	Sha256 map_hash{};
	info.hash = ptr(map_hash.data());
	info.hash_size = map_hash.size();
	std::uint32_t info_len = sizeof(info);
	if (bpf_obj_get_info_by_fd(map.get(), &info, &info_len) != 0)
		return fail(errno, "hash the loader's map", what);
	return map;
}

Result<UniqueFd> load_loader(const UnverifiedSignedObject &object, int loader_map,
			     std::optional<std::int32_t> keyring, const std::string &what)
{
	int fd_array[1] = {loader_map};
	std::string log;
	ProgLoadAttr pl{};
	pl.prog_type = BPF_PROG_TYPE_SYSCALL;
	pl.insns = ptr(object.insns.data());
	pl.insn_cnt = static_cast<std::uint32_t>(object.insns.size() / sizeof(bpf_insn));
	pl.license = ptr("Dual BSD/GPL");
	pl.prog_flags = BPF_F_SLEEPABLE;
	std::strncpy(pl.prog_name, "eima_loader", sizeof(pl.prog_name) - 1);
	// fd_array without fd_array_cnt: the verifier binds the map when the prologue's
	// ld_imm64 names it, after the program's digest exists for the exclusivity check.
	pl.fd_array = ptr(fd_array);
	if (keyring) {
		pl.signature = ptr(object.signature.data());
		pl.signature_size = static_cast<std::uint32_t>(object.signature.size());
		pl.keyring_id = *keyring;
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
		return fail(err, keyring ? "load the signed loader" : "load the loader unsigned",
			    fmt::format("{} (keyring {}){}", what, keyring.value_or(0),
					verifier_reason(log)));
	return loader;
}

Result<LoadedObject> load_signed_object(const UnverifiedSignedObject &object,
					const LoaderManifest &manifest, std::int32_t keyring,
					const std::string &what)
{
	auto map = make_loader_map(object, what);
	if (!map)
		return std::unexpected(map.error());
	auto loaded_loader = load_loader(object, map->get(), keyring, what);
	if (!loaded_loader)
		return std::unexpected(loaded_loader.error());
	UniqueFd loader = std::move(*loaded_loader);
	LoadedObject out;
	bpf_prog_info pinfo{};
	std::uint32_t plen = sizeof(pinfo);
	if (bpf_obj_get_info_by_fd(loader.get(), &pinfo, &plen) == 0)
		out.loader_tag = to_hex({pinfo.tag, sizeof(pinfo.tag)});

	// 4. Run it once: its context receives every map's and program's fd.
	std::vector<std::uint8_t> ctx(loader_ctx_size(manifest), 0);
	bpf_loader_ctx header{};
	header.sz = static_cast<std::uint32_t>(ctx.size());
	std::memcpy(ctx.data(), &header, sizeof(header));
	LIBBPF_OPTS(bpf_test_run_opts, run, .ctx_in = ctx.data(),
		    .ctx_size_in = static_cast<std::uint32_t>(ctx.size()));
	if (bpf_prog_test_run_opts(loader.get(), &run) != 0)
		return fail(errno, "run the signed loader", what);
	// Fds the loader made are ours from here, whatever happens next: take them first.
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
	auto retval = static_cast<std::int32_t>(run.retval);
	if (retval != 0)
		return fail(-retval, "signed loader refused or failed",
			    what + (retval == -EBADMSG ? ": its data is not the signed data" : ""));
	for (auto &[name, fd] : out.programs)
		if (!fd)
			return fail("signed loader left no program fd", what + ": " + name);
	return out;
}

Result<void> attach_programs(LoadedObject &loaded, const LoaderManifest &manifest)
{
	for (std::size_t i = 0; i < manifest.programs.size(); i++) {
		const auto &p = manifest.programs[i];
		if (p.type != BPF_PROG_TYPE_LSM && p.type != BPF_PROG_TYPE_TRACING)
			return fail("attach", fmt::format("program {} (type {}): eima attaches LSM and "
							  "tracing programs only",
							  p.name, p.type));
		int fd = bpf_link_create(loaded.programs[i].second.get(), 0,
					 static_cast<bpf_attach_type>(p.attach_type), nullptr);
		if (fd < 0)
			return fail(-fd, "attach", p.name);
		loaded.links.emplace_back(p.name, UniqueFd(fd));
	}
	return {};
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
