#include "enforce/fanotify_enforcer.h"

#include "common/json_text.h"
#include "enforce/appraisal_record.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <array>
#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "agent/container_identity.h"
#include "common/file_io.h"
#include "ima/hash_algo.h"

extern "C" {
#include "bpf/abi/blessing.h"
}

namespace eima::enforce {
namespace {

// The kernel's enum hash_algo ids a blessing may carry (blessing.h).
std::optional<ima::HashAlgo> algo_of_kernel_id(std::uint8_t id)
{
	for (auto a : ima::all_hash_algos)
		if (sbom::kernel_hash_algo_id(a) == id)
			return a;
	return std::nullopt;
}

std::string fd_path(int fd)
{
	std::array<char, 4096> buf{};
	std::string link = fmt::format("/proc/self/fd/{}", fd);
	ssize_t n = ::readlink(link.c_str(), buf.data(), buf.size());
	return n > 0 ? std::string(buf.data(), static_cast<std::size_t>(n)) : std::string("?");
}

std::uint64_t mntns_of(int pid)
{
	auto ns = agent::namespaces_of(pid);
	return ns ? ns->mnt : 0;
}

} // namespace

std::string_view appraise_mode_name(AppraiseMode m)
{
	return m == AppraiseMode::enforce ? "enforce" : "audit";
}

bool is_elf(int fd)
{
	std::array<char, 4> head{};
	return ::pread(fd, head.data(), head.size(), 0) == 4 && head[0] == 0x7f && head[1] == 'E' &&
	       head[2] == 'L' && head[3] == 'F';
}

FileVerdict verify_blessed_file(int fd, const sbom::TrustedCerts &trusted,
				const std::string &blessing_xattr)
{
	// One byte more than a reader's buffer: a longer value is refused, as the BPF path
	// refuses what it cannot read whole.
	std::array<std::uint8_t, EIMA_BLESSING_VALUE_MAX + 1> value{};
	ssize_t n = ::fgetxattr(fd, blessing_xattr.c_str(), value.data(), value.size());
	if (n < 0) {
		if (errno == ENODATA)
			return {false, fmt::format("not blessed (no {})", blessing_xattr)};
		if (errno == ERANGE)
			return {false, fmt::format("{} is longer than {} bytes", blessing_xattr,
						   EIMA_BLESSING_VALUE_MAX)};
		return {false, fmt::format("read {}: {}", blessing_xattr, std::strerror(errno))};
	}
	std::span<const std::uint8_t> v(value.data(), static_cast<std::size_t>(n));
	if (v.size() < sizeof(eima_blessing_hdr))
		return {false, fmt::format("{} is not an eima blessing", blessing_xattr)};
	eima_blessing_hdr hdr{};
	std::memcpy(&hdr, v.data(), sizeof(hdr));
	auto algo = algo_of_kernel_id(hdr.hash_algo);
	if (!algo)
		return {false, fmt::format("blessing names hash algorithm {}, which eima does not "
					   "hash with",
					   hdr.hash_algo)};
	// The content is hashed from the event's descriptor: the very file being opened.
	auto digest = ima::hash_file(*algo, fd);
	if (!digest)
		return {false, digest.error().message()};
	auto ok = sbom::verify_blessing(v, *algo, *digest, trusted);
	if (!ok)
		return {false, ok.error().context};
	return {true, {}};
}

std::vector<std::string> lacking_protections(MarkScope scope)
{
	std::vector<std::string> l = {
		"no write protection: a blessed file can be written, truncated, renamed over or "
		"unlinked; the change is caught at its next exec or open (its content no longer "
		"matches), not prevented",
		"no xattr protection: security.ima and the blessing xattr can be removed or "
		"replaced; caught at the file's next exec or open, not prevented",
		"mmap and mprotect with PROT_EXEC are not seen: a library is checked when an ELF "
		"file is opened, so a non-ELF file or an anonymous or memfd mapping made "
		"executable is not checked",
		"only files on the marked file system are checked: a copy elsewhere (another "
		"file system, a memfd run with fexecve, an overlayfs whose upper layer is "
		"elsewhere) is not",
		"scripts read by an interpreter (sh FILE, python FILE) are not checked; a #! file "
		"is checked when it is executed",
		"eimad's own opens are allowed unchecked (it must never wait on its own verdict)",
		"a verdict not given within the response timeout is given by the watchdog (deny "
		"in enforce mode); a killed eimad lets everything through",
	};
	if (scope == MarkScope::mount)
		l.push_back("the mark is on one mount: the same files through another mount (a "
			    "bind mount, a new mount namespace's copy) are not checked");
	return l;
}

FanotifyEnforcer::FanotifyEnforcer(FanotifyConfig config, sbom::TrustedCerts trusted,
				   AuditLog *audit)
	: config_(std::move(config)), trusted_(std::move(trusted)), audit_(audit)
{
}

Result<std::unique_ptr<FanotifyEnforcer>> FanotifyEnforcer::start(FanotifyConfig config,
								   AuditLog *audit)
{
	if (config.trusted_certs.empty())
		return fail("fanotify enforcement", "needs at least one --trusted-cert");
	auto trusted = sbom::TrustedCerts::load(config.trusted_certs);
	if (!trusted)
		return std::unexpected(trusted.error());
	// The scope must be a file system or mount of its own: a directory inside / would
	// mark the host's root file system.
	struct stat st{}, parent{};
	std::string up = config.path + "/..";
	if (::stat(config.path.c_str(), &st) != 0)
		return fail(errno, "stat", config.path);
	if (::stat(up.c_str(), &parent) != 0)
		return fail(errno, "stat", up);
	if (!S_ISDIR(st.st_mode) || (st.st_dev == parent.st_dev && st.st_ino != parent.st_ino))
		return fail("fanotify enforcement",
			    config.path + ": not a mount point (mark a file system or mount of "
					  "its own)");

	std::unique_ptr<FanotifyEnforcer> e(
		new FanotifyEnforcer(std::move(config), std::move(*trusted), audit));
	// An unlimited queue: a permission event blocks its process until answered, so the
	// queue is bounded by the processes waiting; an overflow would be a deny for all.
	// Event descriptors are opened O_NONBLOCK: opening a FIFO on the mount must never
	// block the listener.
	e->fan_.reset(::fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC | FAN_NONBLOCK |
					      FAN_UNLIMITED_QUEUE,
				      O_RDONLY | O_LARGEFILE | O_CLOEXEC | O_NONBLOCK));
	if (!e->fan_)
		return fail(errno, "fanotify_init", "FAN_CLASS_CONTENT");
	e->stop_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
	if (!e->stop_)
		return fail(errno, "eventfd", "fanotify enforcer");
	unsigned flags = FAN_MARK_ADD |
			 (e->config_.scope == MarkScope::filesystem ? FAN_MARK_FILESYSTEM
								    : FAN_MARK_MOUNT);
	if (::fanotify_mark(e->fan_.get(), flags, FAN_OPEN_EXEC_PERM | FAN_OPEN_PERM, AT_FDCWD,
			    e->config_.path.c_str()) != 0)
		return fail(errno, "fanotify_mark", e->config_.path);
	// The host's mount namespace is init's; where /proc/1 cannot be read (a sandbox),
	// eimad's own, as the agent decides it.
	e->host_mntns_ = mntns_of(1);
	if (e->host_mntns_ == 0)
		e->host_mntns_ = mntns_of(::getpid());
	e->listener_ = std::thread([p = e.get()] { p->listen(); });
	e->watchdog_ = std::thread([p = e.get()] { p->watchdog(); });
	spdlog::info("fanotify {}: {} ({}), {} trusted certificate(s), response timeout {} ms",
		     appraise_mode_name(e->config_.mode), e->config_.path,
		     e->config_.scope == MarkScope::filesystem ? "file system" : "mount",
		     e->trusted_.size(), e->config_.response_timeout.count());
	return e;
}

FanotifyEnforcer::~FanotifyEnforcer()
{
	stopping_ = true;
	std::uint64_t one = 1;
	if (stop_)
		(void)!::write(stop_.get(), &one, sizeof(one));
	if (listener_.joinable())
		listener_.join();
	if (watchdog_.joinable())
		watchdog_.join();
	// Closing the group lets every event still pending through: nothing waits on a
	// listener that is gone.
	fan_.reset();
}

void FanotifyEnforcer::respond_locked(int event_fd, bool allow)
{
	struct fanotify_response r{};
	r.fd = event_fd;
	r.response = allow ? FAN_ALLOW : FAN_DENY;
	// ENOENT: the watchdog (or a closed group) answered first. Any other failure leaves
	// the process waiting until the group closes: counted and logged, it is a bug.
	if (::write(fan_.get(), &r, sizeof(r)) != sizeof(r) && errno != ENOENT) {
		++errors_;
		spdlog::error("fanotify response for fd {}: {}", event_fd, std::strerror(errno));
	}
}

void FanotifyEnforcer::cache_allow(int event_fd, std::uint64_t ignore_mask)
{
	if (cached_marks_ >= config_.max_cached) {
		// Bounded: each ignore mark pins an inode. Flushing inode marks leaves the
		// file system (or mount) mark in place; the kernel simply asks again.
		if (::fanotify_mark(fan_.get(), FAN_MARK_FLUSH, 0, AT_FDCWD, nullptr) == 0) {
			cached_marks_ = 0;
			++cache_flushes_;
		}
	}
	if (::fanotify_mark(fan_.get(), FAN_MARK_ADD | FAN_MARK_IGNORED_MASK, ignore_mask,
			    event_fd, nullptr) == 0) {
		++cached_marks_;
		++cached_;
	}
}

namespace {

std::uint64_t wall_ns()
{
	return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
						  std::chrono::system_clock::now().time_since_epoch())
						  .count());
}

// st_dev as the kernel writes dev_t in its events (MAJOR << 20 | MINOR), as audit records
// carry it whatever the mechanism.
std::uint64_t kernel_dev(dev_t d)
{
	return (std::uint64_t{major(d)} << 20) | minor(d);
}

} // namespace

void FanotifyEnforcer::write_audit(const AppraisalRecord &ev)
{
	if (config_.on_decision)
		config_.on_decision(ev);
	if (!audit_)
		return;
	std::lock_guard lock(audit_mu_); // the worker and the watchdog both decide
	if (auto r = audit_->append(json_dump(to_json(ev))); !r)
		spdlog::warn("{}", r.error().message());
}

void FanotifyEnforcer::audit(int event_fd, int pid, const std::string &operation,
			     const std::string &rule, const std::string &reason)
{
	AppraisalRecord ev;
	ev.time_ns = wall_ns();
	ev.pid = static_cast<std::uint32_t>(pid);
	ev.tid = ev.pid;
	if (auto comm = read_file_prefix(fmt::format("/proc/{}/comm", pid), 64); comm) {
		ev.comm = *comm;
		if (!ev.comm.empty() && ev.comm.back() == '\n')
			ev.comm.pop_back();
	}
	std::uint64_t mntns = mntns_of(pid);
	if (mntns == 0 || mntns == host_mntns_) {
		ev.container = "host";
	} else {
		auto cg = read_file_prefix(fmt::format("/proc/{}/cgroup", pid), 64 * 1024);
		ev.container = agent::container_name(
			cg ? agent::container_id_from_cgroup(*cg, config_.runc_state_dir)
			   : std::nullopt,
			mntns);
	}
	ev.path = fd_path(event_fd);
	struct stat st{};
	if (::fstat(event_fd, &st) == 0) {
		ev.ino = st.st_ino;
		ev.dev = kernel_dev(st.st_dev);
	}
	ev.operation = operation;
	ev.detail = rule;
	ev.reason = reason;
	ev.denied = config_.mode == AppraiseMode::enforce;
	ev.mechanism = "fanotify";
	spdlog::info("{} {} of {} by pid {} ({}): {}", ev.denied ? "deny" : "would deny",
		     operation, ev.path, pid, ev.comm, reason);
	write_audit(ev);
}

void FanotifyEnforcer::handle(int event_fd, std::uint64_t mask, int pid)
{
	bool exec = mask & FAN_OPEN_EXEC_PERM;
	bool allow = true;
	std::uint64_t ignore = 0;
	struct stat st{};
	bool have_st = ::fstat(event_fd, &st) == 0;
	// The kernel asks twice for one exec: FAN_OPEN_EXEC_PERM, then (if allowed)
	// FAN_OPEN_PERM for the same open. An exec allowed only because of audit mode is
	// one decision, audited once. (Other processes' events may come in between: the
	// record stays until its open comes. A stale one can only spare one audit line of
	// that process and file, in audit mode, where nothing is denied.)
	bool same_exec = !exec && have_st && pid == audited_exec_.pid &&
			 st.st_dev == audited_exec_.dev && st.st_ino == audited_exec_.ino;
	if (same_exec)
		audited_exec_ = {};
	if (pid == ::getpid()) {
		++own_opens_;
	} else if (same_exec) {
		// allowed: the exec's would-deny is in the log already
	} else if (!exec && !is_elf(event_fd)) {
		// Data, text, a script read as a file: nothing to verify on open. Cached for
		// opens only, so an exec of it is still decided.
		ignore = FAN_OPEN_PERM;
	} else {
		FileVerdict v = verify_blessed_file(event_fd, trusted_, config_.blessing_xattr);
		if (v.verified) {
			ignore = FAN_OPEN_PERM | FAN_OPEN_EXEC_PERM;
		} else {
			allow = config_.mode == AppraiseMode::audit;
			audit(event_fd, pid, exec ? "exec" : "open",
			      exec ? "fanotify:FAN_OPEN_EXEC_PERM" : "fanotify:FAN_OPEN_PERM elf",
			      v.reason);
			++(allow ? would_deny_ : denied_);
			if (allow && exec && have_st)
				audited_exec_ = {pid, st.st_dev, st.st_ino};
		}
	}
	if (allow)
		++allowed_;
	// The ignore mark goes on before the answer, so the next open of this inode is not
	// asked about even if it races with this one's return.
	if (ignore)
		cache_allow(event_fd, ignore);
	std::lock_guard lock(mu_);
	if (!current_answered_)
		respond_locked(event_fd, allow);
	current_fd_ = -1;
	::close(event_fd);
}

void FanotifyEnforcer::listen()
{
	alignas(struct fanotify_event_metadata) std::array<char, 64 * 1024> buf{};
	while (!stopping_) {
		std::array<pollfd, 2> p{{{fan_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}}};
		if (::poll(p.data(), p.size(), -1) < 0) {
			if (errno == EINTR)
				continue;
			spdlog::error("fanotify poll: {}", std::strerror(errno));
			return;
		}
		if (p[1].revents)
			return;
		ssize_t len = ::read(fan_.get(), buf.data(), buf.size());
		if (len < 0) {
			if (errno != EAGAIN && errno != EINTR) {
				++errors_;
				spdlog::error("fanotify read: {}", std::strerror(errno));
			}
			continue;
		}
		auto *m = reinterpret_cast<const struct fanotify_event_metadata *>(buf.data());
		for (; FAN_EVENT_OK(m, len); m = FAN_EVENT_NEXT(m, len)) {
			if (m->vers != FANOTIFY_METADATA_VERSION) {
				spdlog::critical("fanotify metadata version {} (built for {})",
						 m->vers, FANOTIFY_METADATA_VERSION);
				return; // the destructor closes the group: nothing stays blocked
			}
			if (m->mask & FAN_Q_OVERFLOW || m->fd < 0) {
				++overflows_;
				continue;
			}
			{
				std::lock_guard lock(mu_);
				current_fd_ = m->fd;
				current_pid_ = m->pid;
				current_since_ = std::chrono::steady_clock::now();
				current_answered_ = false;
			}
			handle(m->fd, m->mask, m->pid);
		}
	}
}

void FanotifyEnforcer::watchdog()
{
	// Polls ten times per timeout (at least every 10 ms): the answer comes at most 10 %
	// late. Sleeps on the stop eventfd so a stop is not delayed.
	auto tick = std::max(config_.response_timeout / 10, std::chrono::milliseconds(10));
	while (!stopping_) {
		pollfd p{stop_.get(), POLLIN, 0};
		::poll(&p, 1, static_cast<int>(tick.count()));
		std::lock_guard lock(mu_);
		if (current_fd_ < 0 || current_answered_ ||
		    std::chrono::steady_clock::now() - current_since_ < config_.response_timeout)
			continue;
		bool allow = config_.mode == AppraiseMode::audit;
		respond_locked(current_fd_, allow);
		current_answered_ = true;
		++timeouts_;
		++(allow ? would_deny_ : denied_);
		spdlog::warn("fanotify: no verdict for pid {} within {} ms: {}", current_pid_,
			     config_.response_timeout.count(), allow ? "allowed" : "denied");
		if (audit_) {
			AppraisalRecord ev;
			ev.time_ns = wall_ns();
			ev.pid = ev.tid = static_cast<std::uint32_t>(current_pid_);
			ev.container = "?";
			ev.path = fd_path(current_fd_);
			ev.operation = "open";
			ev.detail = "fanotify:watchdog";
			ev.reason = fmt::format("no verdict within {} ms",
						config_.response_timeout.count());
			ev.denied = !allow;
			ev.mechanism = "fanotify";
			write_audit(ev);
		}
	}
}

nlohmann::json FanotifyEnforcer::status() const
{
	return {{"mechanism", "fanotify"},
		{"mode", appraise_mode_name(config_.mode)},
		{"path", config_.path},
		{"scope", config_.scope == MarkScope::filesystem ? "filesystem" : "mount"},
		{"blessing_xattr", config_.blessing_xattr},
		{"trusted_certs", trusted_.size()},
		{"response_timeout_ms", config_.response_timeout.count()},
		{"allowed", allowed_.load()},
		{"denied", denied_.load()},
		{"would_deny", would_deny_.load()},
		{"cached", cached_.load()},
		{"cache_flushes", cache_flushes_.load()},
		{"timeouts", timeouts_.load()},
		{"overflows", overflows_.load()},
		{"own_opens", own_opens_.load()},
		{"errors", errors_.load()},
		{"audit_log", audit_ ? audit_->path() : std::string()},
		{"lacks", lacking_protections(config_.scope)}};
}

} // namespace eima::enforce
