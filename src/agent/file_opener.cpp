#include "agent/file_opener.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <linux/openat2.h>
#include <sys/ioctl.h>
#include <sys/statfs.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>

#include <fmt/format.h>

namespace eima::agent {

std::uint64_t kernel_dev(std::uint64_t st_dev)
{
	return (std::uint64_t(major(st_dev)) << 20) | minor(st_dev);
}

Result<UniqueFd> open_process_root(int pid)
{
	std::string p = "/proc/" + std::to_string(pid) + "/root";
	int fd = ::open(p.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return fail(errno, "open", p);
	return UniqueFd(fd);
}

namespace {

// i_generation through FS_IOC_GETVERSION, or nullopt where the filesystem does not say
// (tmpfs, overlayfs): dev, ino, ctime and size are still compared there.
std::optional<std::uint32_t> generation_of(int fd)
{
	int gen = 0;
	if (::ioctl(fd, FS_IOC_GETVERSION, &gen) != 0)
		return std::nullopt;
	return static_cast<std::uint32_t>(gen);
}

// The version fields of an open file (no cookie: only the BPF side mixes one), and whether
// its filesystem reported a generation.
struct OpenVersion {
	eima_file_id id{};
	bool has_generation = false;
	bool regular = false;
};

Result<OpenVersion> open_version(int fd)
{
	struct stat st;
	if (::fstat(fd, &st) != 0)
		return fail(errno, "fstat");
	OpenVersion v;
	v.regular = S_ISREG(st.st_mode);
	v.id.dev = kernel_dev(st.st_dev);
	v.id.ino = st.st_ino;
	auto gen = generation_of(fd);
	v.has_generation = gen.has_value();
	v.id.generation = gen.value_or(0);
	v.id.ctime_ns = std::uint64_t(st.st_ctim.tv_sec) * 1'000'000'000u + st.st_ctim.tv_nsec;
	v.id.size = static_cast<std::uint64_t>(st.st_size);
	return v;
}

} // namespace

Result<eima_file_id> file_version(int fd)
{
	auto v = open_version(fd);
	if (!v)
		return std::unexpected(v.error());
	return v->id;
}

Result<void> check_file_version(int fd, const std::string &path, const eima_file_id &expected)
{
	auto v = open_version(fd);
	if (!v)
		return fail(v.error().err, v.error().op, path);
	const eima_file_id &have = v->id;
	if (!v->regular)
		return fail(EINVAL, "measure", path + ": not a regular file");
	if (have.ino != expected.ino || have.dev != expected.dev)
		return fail(ESTALE, "measure", path + ": the path now names another file");
	if (v->has_generation && expected.generation && have.generation != expected.generation)
		return fail(ESTALE, "measure",
			    fmt::format("{}: the inode was reused (generation {}, the kernel saw {})",
					path, have.generation, expected.generation));
	if (have.ctime_ns != expected.ctime_ns || have.size != expected.size)
		return fail(EAGAIN, "measure",
			    fmt::format("{}: changed before it was measured (ctime {} size {}, the "
					"kernel saw ctime {} size {})",
					path, have.ctime_ns, have.size, expected.ctime_ns, expected.size));
	return {};
}

std::vector<HostMount> host_mounts_of(std::uint64_t dev)
{
	// mountinfo: ID PARENT MAJOR:MINOR ROOT MOUNT_POINT ... (octal escapes in paths)
	std::vector<HostMount> out;
	std::ifstream in("/proc/self/mountinfo");
	std::string line;
	auto unescape = [](const std::string &s) {
		std::string r;
		for (std::size_t i = 0; i < s.size(); ++i) {
			auto octal = [&](std::size_t k) { return s[k] >= '0' && s[k] <= '7'; };
			if (s[i] == '\\' && i + 3 < s.size() && octal(i + 1) && octal(i + 2) && octal(i + 3)) {
				r += static_cast<char>((s[i + 1] - '0') << 6 | (s[i + 2] - '0') << 3 |
						       (s[i + 3] - '0'));
				i += 3;
			} else {
				r += s[i];
			}
		}
		return r;
	};
	while (std::getline(in, line)) {
		std::istringstream f(line);
		std::string id, parent, majmin, root, point;
		if (!(f >> id >> parent >> majmin >> root >> point))
			continue;
		unsigned maj = 0, min = 0;
		if (std::sscanf(majmin.c_str(), "%u:%u", &maj, &min) != 2)
			continue;
		if ((std::uint64_t(maj) << 20 | min) != dev)
			continue;
		out.push_back({unescape(point), root == "/"});
	}
	return out;
}

Result<UniqueFd> open_by_identity(const std::string &mount_point, const eima_file_id &expected)
{
	UniqueFd mnt(::open(mount_point.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
	if (!mnt)
		return fail(errno, "open", mount_point);
	struct statfs sfs;
	if (::fstatfs(mnt.get(), &sfs) != 0)
		return fail(errno, "statfs", mount_point);
	// The handle each filesystem encodes (its export_operations), rebuilt from the inode
	// number and generation the kernel reported.
	struct {
		std::uint32_t bytes = 0;
		int type = 0;
		std::uint32_t words[4] = {};
	} fh;
	auto ino = expected.ino;
	switch (static_cast<unsigned long>(sfs.f_type)) {
	case 0xEF53:     // ext2/3/4: FILEID_INO32_GEN {ino, generation}
	case 0x58465342: // xfs, 32-bit inode numbers alike
		if (ino > UINT32_MAX)
			return fail(EOPNOTSUPP, "open by handle", mount_point + ": 64-bit inode");
		fh.type = 1;
		fh.bytes = 8;
		fh.words[0] = static_cast<std::uint32_t>(ino);
		fh.words[1] = expected.generation;
		break;
	case 0x01021994: // tmpfs: {generation, ino low, ino high}
		fh.type = 1;
		fh.bytes = 12;
		fh.words[0] = expected.generation;
		fh.words[1] = static_cast<std::uint32_t>(ino);
		fh.words[2] = static_cast<std::uint32_t>(ino >> 32);
		break;
	default:
		return fail(EOPNOTSUPP, "open by handle",
			    fmt::format("{}: filesystem type {:#x}", mount_point,
					static_cast<unsigned long>(sfs.f_type)));
	}
	alignas(file_handle) std::uint8_t buf[sizeof(file_handle) + sizeof(fh.words)];
	auto *handle = reinterpret_cast<file_handle *>(buf);
	handle->handle_bytes = fh.bytes;
	handle->handle_type = fh.type;
	std::memcpy(handle->f_handle, fh.words, fh.bytes);
	int fd = ::open_by_handle_at(mnt.get(), handle, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return fail(errno, "open by handle",
			    fmt::format("inode {} on {}", expected.ino, mount_point));
	UniqueFd file(fd);
	std::string what = fmt::format("inode {} on {}", expected.ino, mount_point);
	if (auto r = check_file_version(fd, what, expected); !r)
		return std::unexpected(r.error());
	return file;
}

Result<UniqueFd> open_measured_file(int root_fd, const std::string &path,
				    const eima_file_id &expected)
{
	open_how how{};
	how.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW;
	how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
	std::string rel = path;
	while (!rel.empty() && rel.front() == '/')
		rel.erase(0, 1);
	if (rel.empty())
		rel = ".";
	int fd = static_cast<int>(::syscall(SYS_openat2, root_fd, rel.c_str(), &how, sizeof(how)));
	if (fd < 0)
		return fail(errno, "open", path);
	UniqueFd file(fd);
	if (auto r = check_file_version(fd, path, expected); !r)
		return std::unexpected(r.error());
	return file;
}

} // namespace eima::agent
