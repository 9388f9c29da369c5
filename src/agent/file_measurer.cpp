#include "agent/file_measurer.h"

#include <fcntl.h>
#include <sys/xattr.h>

#include <cstring>

#include "agent/file_opener.h"

namespace eima::agent {

std::optional<ima::HashAlgo> from_kernel_hash_algo(std::int32_t kernel_algo)
{
	// HASH_ALGO_* of include/uapi/linux/hash_info.h: stable kernel ABI.
	switch (kernel_algo) {
	case 2: return ima::HashAlgo::sha1;
	case 4: return ima::HashAlgo::sha256;
	case 5: return ima::HashAlgo::sha384;
	case 6: return ima::HashAlgo::sha512;
	case 17: return ima::HashAlgo::sm3_256;
	default: return std::nullopt;
	}
}

// IMA signatures are at most a few hundred bytes; a larger value is not one, and the entry
// then carries none.
Bytes read_ima_signature(int fd)
{
	std::uint8_t buf[8192];
	ssize_t n = ::fgetxattr(fd, "security.ima", buf, sizeof(buf));
	return n > 0 ? Bytes(buf, buf + n) : Bytes{};
}

Result<ima::TemplateEntry> make_file_entry(TemplateKind tmpl, ima::HashAlgo algo,
					   const Result<Bytes> &digest, const Bytes &sig,
					   const std::string &name, std::uint32_t pcr)
{
	if (!digest)
		return ima::make_violation(template_name(tmpl), algo, name, pcr);
	switch (tmpl) {
	case TemplateKind::ima: return ima::make_ima(*digest, name, pcr);
	case TemplateKind::ima_sig: return ima::make_ima_sig(algo, *digest, name, sig, pcr);
	case TemplateKind::ima_ng: break;
	}
	return ima::make_ima_ng(algo, *digest, name, pcr);
}

bool FileMeasurer::kernel_digest_usable(const eima_event_head &h, ima::HashAlgo algo)
{
	return (h.flags & EIMA_EVF_KERNEL_DIGEST) && from_kernel_hash_algo(h.digest_algo) == algo;
}

bool FileMeasurer::needs_file(const eima_event_head &h, ima::HashAlgo algo,
			      bool want_signature) const
{
	if (h.flags & (EIMA_EVF_PATH_TRUNCATED | EIMA_EVF_NO_PATH))
		return false;
	if (cache_.find(h.file, algo))
		return false;
	return want_signature || !kernel_digest_usable(h, algo);
}

Result<UniqueFd> FileMeasurer::open_file(const std::string &path, const eima_file_id &file,
					 std::span<const int> roots) const
{
	Result<UniqueFd> opened = fail(ESRCH, "open", path + ": no root to resolve it beneath");
	for (int root : roots) {
		if (root < 0)
			continue;
		opened = open_measured_file(root, path, file);
		// Another root may show another file under the same name; a changed file is
		// changed whichever root reaches it.
		if (opened || opened.error().err == EAGAIN)
			return opened;
	}
	// Every root is gone or shows another file: reach the file from the host (an engine's
	// rootfs mount, or the inode itself), checked the same way.
	auto mounts = host_mounts_of(file.dev);
	for (auto &mount : mounts) {
		if (!mount.fs_root)
			continue;
		UniqueFd root(::open(mount.point.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
		if (!root)
			continue;
		if (auto r = open_measured_file(root.get(), path, file); r || r.error().err == EAGAIN)
			return r;
	}
	for (auto &mount : mounts)
		if (auto r = open_by_identity(mount.point, file); r || r.error().err == EAGAIN)
			return r;
	return opened;
}

Measurement FileMeasurer::measure(const eima_event_head &h, const std::string &path,
				  ima::HashAlgo algo, bool want_signature,
				  std::span<const int> roots)
{
	Measurement m{fail("measure", path), {}, Measurement::Source::none};
	if (h.flags & (EIMA_EVF_PATH_TRUNCATED | EIMA_EVF_NO_PATH)) {
		m.digest = fail(ENAMETOOLONG, "measure", "path could not be read whole");
		return m;
	}
	if (auto hit = cache_.find(h.file, algo)) {
		m.digest = Bytes(hit->digest.begin(), hit->digest.end());
		m.signature.assign(hit->signature.begin(), hit->signature.end());
		m.source = Measurement::Source::cache;
		return m;
	}
	if (h.flags & EIMA_EVF_KERNEL_DIGEST) {
		if (kernel_digest_usable(h, algo)) {
			++kernel_used_;
			m.digest = Bytes(h.digest, h.digest + ima::digest_size(algo));
			m.source = Measurement::Source::kernel;
			if (want_signature)
				if (auto file = open_file(path, h.file, roots))
					m.signature = read_ima_signature(file->get());
			cache_.store(h.file, algo, *m.digest, m.signature);
			return m;
		}
		++kernel_unusable_;
	}
	auto file = open_file(path, h.file, roots);
	if (!file) {
		m.digest = std::unexpected(file.error());
		return m;
	}
	m.digest = ima::hash_file(algo, file->get(), path);
	if (!m.digest)
		return m;
	// A write while we hashed leaves a digest of no version the kernel saw.
	if (auto same = check_file_version(file->get(), path, h.file); !same) {
		m.digest = std::unexpected(same.error());
		return m;
	}
	if (want_signature)
		m.signature = read_ima_signature(file->get());
	m.source = Measurement::Source::file;
	cache_.store(h.file, algo, *m.digest, m.signature);
	return m;
}

} // namespace eima::agent
