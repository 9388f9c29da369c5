#include "enforce/audit_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>

#include <fmt/format.h>

#include "common/json_text.h"

namespace eima::enforce {

namespace {

std::string rfc3339_utc(std::chrono::system_clock::time_point t)
{
	auto us = std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch())
			  .count();
	std::time_t secs = static_cast<std::time_t>(us / 1000000);
	std::tm tm{};
	::gmtime_r(&secs, &tm);
	char buf[32];
	std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	return fmt::format("{}.{:06}Z", buf, us % 1000000);
}

Result<UniqueFd> open_append(const std::string &path)
{
	UniqueFd fd(::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600));
	if (!fd)
		return fail(errno, "open audit log", path);
	return fd;
}

} // namespace

nlohmann::json audit_event_json(const AuditEvent &e)
{
	return {{"time", rfc3339_utc(e.time)}, {"container", e.container},
		{"pid", e.pid},		       {"comm", e.comm},
		{"path", e.path},	       {"inode", e.inode},
		{"dev", e.dev},		       {"operation", e.operation},
		{"rule", e.rule},	       {"reason", e.reason},
		{"decision", e.decision},      {"mechanism", e.mechanism}};
}

Result<std::unique_ptr<AuditLog>> AuditLog::open(std::string path, AuditLogLimits limits)
{
	auto fd = open_append(path);
	if (!fd)
		return std::unexpected(fd.error());
	struct stat st{};
	if (::fstat(fd->get(), &st) != 0)
		return fail(errno, "stat audit log", path);
	return std::unique_ptr<AuditLog>(new AuditLog(std::move(path), limits, std::move(*fd),
						      static_cast<std::uint64_t>(st.st_size)));
}

Result<void> AuditLog::rotate()
{
	// Oldest first, so nothing is overwritten before it has moved on; keep = 0 just starts
	// the file anew.
	for (unsigned i = limits_.keep; i > 1; --i) {
		std::string from = fmt::format("{}.{}", path_, i - 1);
		std::string to = fmt::format("{}.{}", path_, i);
		if (::rename(from.c_str(), to.c_str()) != 0 && errno != ENOENT)
			return fail(errno, "rotate audit log", from);
	}
	if (limits_.keep > 0) {
		std::string to = path_ + ".1";
		if (::rename(path_.c_str(), to.c_str()) != 0 && errno != ENOENT)
			return fail(errno, "rotate audit log", path_);
	} else if (::unlink(path_.c_str()) != 0 && errno != ENOENT) {
		return fail(errno, "rotate audit log", path_);
	}
	auto fd = open_append(path_);
	if (!fd)
		return std::unexpected(fd.error());
	fd_ = std::move(*fd);
	size_ = 0;
	return {};
}

Result<void> AuditLog::append(const AuditEvent &e)
{
	std::string line = json_dump(audit_event_json(e)) + "\n";
	std::lock_guard lock(mu_);
	if (size_ > 0 && size_ + line.size() > limits_.max_bytes) {
		if (auto r = rotate(); !r) {
			++failures_;
			return r;
		}
	}
	ssize_t n = ::write(fd_.get(), line.data(), line.size());
	if (n != static_cast<ssize_t>(line.size())) {
		++failures_;
		return fail(n < 0 ? errno : EIO, "write audit log", path_);
	}
	size_ += line.size();
	++written_;
	return {};
}

std::uint64_t AuditLog::written() const
{
	std::lock_guard lock(mu_);
	return written_;
}

std::uint64_t AuditLog::failures() const
{
	std::lock_guard lock(mu_);
	return failures_;
}

} // namespace eima::enforce
