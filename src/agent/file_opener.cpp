#include "agent/file_opener.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

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
	struct stat st;
	if (::fstat(fd, &st) != 0)
		return fail(errno, "fstat", path);
	if (!S_ISREG(st.st_mode))
		return fail(EINVAL, "measure", path + ": not a regular file");
	if (st.st_ino != expected.ino || kernel_dev(st.st_dev) != expected.dev)
		return fail(ESTALE, "measure", path + ": the path now names another file");
	return file;
}

} // namespace eima::agent
