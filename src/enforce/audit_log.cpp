#include "enforce/audit_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

namespace eima::enforce {

Result<AuditLog> AuditLog::open(std::string path, AuditLogLimits limits)
{
	AuditLog log;
	log.path_ = std::move(path);
	log.limits_ = limits;
	int fd = ::open(log.path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return fail(errno, "open audit log", log.path_);
	log.fd_.reset(fd);
	struct stat st;
	if (::fstat(fd, &st) != 0)
		return fail(errno, "stat audit log", log.path_);
	log.size_ = static_cast<std::uint64_t>(st.st_size);
	return log;
}

Result<void> AuditLog::rotate()
{
	// .keep-1 -> .keep, ..., .1 -> .2, the live file -> .1; rename replaces the oldest.
	for (unsigned i = limits_.keep; i > 1; --i) {
		std::string from = path_ + "." + std::to_string(i - 1);
		std::string to = path_ + "." + std::to_string(i);
		if (::rename(from.c_str(), to.c_str()) != 0 && errno != ENOENT)
			return fail(errno, "rotate audit log", from);
	}
	if (limits_.keep == 0) {
		if (::unlink(path_.c_str()) != 0 && errno != ENOENT)
			return fail(errno, "rotate audit log", path_);
	} else if (::rename(path_.c_str(), (path_ + ".1").c_str()) != 0) {
		return fail(errno, "rotate audit log", path_);
	}
	int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return fail(errno, "open audit log", path_);
	fd_.reset(fd);
	size_ = 0;
	++rotations_;
	return {};
}

Result<void> AuditLog::append(const std::string &line)
{
	std::string whole = line + "\n";
	if (size_ > 0 && size_ + whole.size() > limits_.max_bytes)
		if (auto r = rotate(); !r)
			return r;
	ssize_t n = ::write(fd_.get(), whole.data(), whole.size());
	if (n < 0)
		return fail(errno, "write audit log", path_);
	if (static_cast<std::size_t>(n) != whole.size())
		return fail(EIO, "write audit log", path_ + ": short write");
	size_ += whole.size();
	++lines_;
	return {};
}

std::vector<std::string> audit_log_files(const std::string &path, unsigned keep)
{
	std::vector<std::string> out;
	for (unsigned i = keep; i >= 1; --i) {
		std::string p = path + "." + std::to_string(i);
		if (::access(p.c_str(), F_OK) == 0)
			out.push_back(p);
	}
	if (::access(path.c_str(), F_OK) == 0)
		out.push_back(path);
	return out;
}

} // namespace eima::enforce
