// RUN/audit.jsonl: one JSON line per enforcement decision that denies, or would deny in
// audit mode. Every enforcing unit (the fanotify enforcer here; the BPF LSM path) writes
// through one AuditLog, so `eima audit` reads a single file whatever the mechanism.
//
// Bounded: when a line would take the file past max_bytes it is rotated (audit.jsonl ->
// audit.jsonl.1 -> ... -> audit.jsonl.<keep>, the oldest dropped), so the log never holds
// more than (keep + 1) * max_bytes. A line is written whole with one write(2) on an
// O_APPEND descriptor, so a reader never sees half a line while the writer lives.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/unique_fd.h"

namespace eima::enforce {

// One decision. Strings are bytes (paths, comm): written with json_dump's encoding.
struct AuditEvent {
	std::chrono::system_clock::time_point time;
	std::string container; // eima's container id; "host" for host processes
	std::int64_t pid = 0;
	std::string comm;
	std::string path;
	std::uint64_t inode = 0;
	std::uint64_t dev = 0;   // st_dev as user space sees it
	std::string operation;   // "exec", "open" (a library or other ELF file), "mmap", ...
	std::string rule;        // what asked for the check, e.g. "fanotify:exec"
	std::string reason;      // why the file is not verified
	std::string decision;    // "deny" | "would-deny" (audit mode)
	std::string mechanism;   // "fanotify" | "lsm"
};

// The line's object: time (RFC 3339 UTC, microseconds), container, pid, comm, path, inode,
// dev, operation, rule, reason, decision, mechanism.
nlohmann::json audit_event_json(const AuditEvent &e);

struct AuditLogLimits {
	std::uint64_t max_bytes = 8u << 20; // per file
	unsigned keep = 3;                  // rotated files kept
};

class AuditLog {
public:
	// Opens (creates, mode 0600) path for appending; rotation renames within its directory.
	static Result<std::unique_ptr<AuditLog>> open(std::string path, AuditLogLimits limits = {});

	// Thread-safe. A failure (disk full) is returned and counted, never thrown.
	Result<void> append(const AuditEvent &e);

	std::uint64_t written() const;
	std::uint64_t failures() const;
	const std::string &path() const { return path_; }

private:
	AuditLog(std::string path, AuditLogLimits limits, UniqueFd fd, std::uint64_t size)
		: path_(std::move(path)), limits_(limits), fd_(std::move(fd)), size_(size)
	{
	}
	Result<void> rotate();

	std::string path_;
	AuditLogLimits limits_;
	mutable std::mutex mu_;
	UniqueFd fd_;
	std::uint64_t size_ = 0;
	std::uint64_t written_ = 0, failures_ = 0;
};

} // namespace eima::enforce
