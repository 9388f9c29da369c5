// Enforcement without BPF LSM: fanotify permission events on one file system (or one
// mount) named on eimad's command line. eimad is asked before a file there is executed
// (FAN_OPEN_EXEC_PERM) and before an ELF file there is opened (FAN_OPEN_PERM: ld.so opens a
// library before it maps it executable, so this is where libraries are checked), verifies
// the file in user space, and answers allow or deny (EPERM for the caller).
//
// Verified means what the BPF path checks (bpf/abi/blessing.h): the blessing xattr is a
// valid eima blessing signed by a trusted certificate, and the file's content, hashed here
// from the event's own descriptor, has the blessed digest.
//
// The cache is the kernel's: after an allow, an ignore mark on the inode makes the kernel
// stop asking for it. Ignore marks are cleared by the kernel when the file is modified (no
// FAN_MARK_IGNORED_SURV_MODIFY), so a written file is checked again at its next use. A deny
// is never cached: every attempt is decided, and audited, again. The cache is bounded
// (max_cached ignore marks; then all are flushed and the kernel asks again).
//
// A permission listener that stops answering freezes every process that touches its
// marks. So: the scope is one file system or mount, never more; a watchdog thread answers
// any event that has waited response_timeout (deny in enforce mode, allow in audit mode)
// and audits it; the destructor closes the fanotify descriptor, which lets every pending
// event through; and eimad's own opens are allowed unchecked, so its measuring never waits
// on its own verdict.
//
// What this mode does not protect is listed by lacking_protections(), and `eima status`
// prints it.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/unique_fd.h"
#include "enforce/appraisal_record.h"
#include "enforce/audit_log.h"
#include "sbom/blessing.h"

namespace eima::enforce {

enum class AppraiseMode : std::uint8_t { enforce, audit };
std::string_view appraise_mode_name(AppraiseMode m);

enum class MarkScope : std::uint8_t {
	filesystem, // FAN_MARK_FILESYSTEM: every mount of that file system, in every mount
		    // namespace (a new mount namespace or a bind mount is no way around it)
	mount,      // FAN_MARK_MOUNT: that one mount only
};

struct FanotifyConfig {
	std::string path; // a mount point; its file system (or mount) is what is marked
	MarkScope scope = MarkScope::filesystem;
	std::vector<std::string> trusted_certs; // PEM; at least one
	std::string blessing_xattr = "user.eima";
	AppraiseMode mode = AppraiseMode::enforce;
	std::chrono::milliseconds response_timeout{2000};
	std::size_t max_cached = 4096;
	std::string runc_state_dir = "/run/runc";
	// Each decision that is audited is also handed here, from the enforcer's threads
	// (eimad: its event stream's "decision" events). Must be thread-safe and quick.
	std::function<void(const AppraisalRecord &)> on_decision;
};

// The verdict on one open file. Pure user space: the unit tests call it on files they make.
struct FileVerdict {
	bool verified = false;
	std::string reason; // why not (empty when verified)
};
FileVerdict verify_blessed_file(int fd, const sbom::TrustedCerts &trusted,
				const std::string &blessing_xattr);

// True when the file starts with the ELF magic.
bool is_elf(int fd);

// What fanotify enforcement does not do that the BPF LSM path does; one sentence each.
std::vector<std::string> lacking_protections(MarkScope scope);

class FanotifyEnforcer {
public:
	// Loads the certificates, marks the path and starts the listener and the watchdog.
	// Refuses a path that is not a mount point (the scope must be what was asked for).
	static Result<std::unique_ptr<FanotifyEnforcer>> start(FanotifyConfig config,
								 AuditLog *audit);
	~FanotifyEnforcer();
	FanotifyEnforcer(const FanotifyEnforcer &) = delete;
	FanotifyEnforcer &operator=(const FanotifyEnforcer &) = delete;

	// Thread-safe: mode, scope, counters and what the mode lacks.
	nlohmann::json status() const;

private:
	FanotifyEnforcer(FanotifyConfig config, sbom::TrustedCerts trusted, AuditLog *audit);
	void listen();
	void watchdog();
	void handle(int event_fd, std::uint64_t mask, int pid);
	void respond_locked(int event_fd, bool allow);
	void cache_allow(int event_fd, std::uint64_t ignore_mask);
	void audit(int event_fd, int pid, const std::string &operation, const std::string &rule,
		   const std::string &reason);

	FanotifyConfig config_;
	sbom::TrustedCerts trusted_;
	AuditLog *audit_;
	std::mutex audit_mu_;
	void write_audit(const AppraisalRecord &ev);
	UniqueFd fan_;
	UniqueFd stop_; // eventfd: wakes the listener to stop
	std::uint64_t host_mntns_ = 0;

	// The event being decided; the watchdog answers it if the listener takes too long.
	std::mutex mu_;
	int current_fd_ = -1;
	int current_pid_ = 0;
	std::chrono::steady_clock::time_point current_since_;
	bool current_answered_ = false;

	std::atomic<bool> stopping_{false};
	std::atomic<std::uint64_t> allowed_{0}, denied_{0}, would_deny_{0}, cached_{0},
		cache_flushes_{0}, timeouts_{0}, overflows_{0}, own_opens_{0}, errors_{0};
	std::size_t cached_marks_ = 0; // listener thread only
	// The last exec allowed only because of audit mode (listener thread only).
	struct {
		int pid = 0;
		dev_t dev = 0;
		ino_t ino = 0;
	} audited_exec_;
	std::thread listener_, watchdog_;
};

} // namespace eima::enforce
