// RUN/audit.jsonl: one JSON line per refused (or would-be refused) access, appended by
// eimad, read by `eima audit`. Bounded: when the file would pass max_bytes it becomes
// audit.jsonl.1 (the older ones shift up to .keep; the oldest is deleted), so the log holds
// at most about (keep + 1) * max_bytes. Lines are written whole with one write(2) each on
// an O_APPEND file, so a reader (--follow) never sees half a line of a finished write.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/unique_fd.h"

namespace eima::enforce {

struct AuditLogLimits {
	std::uint64_t max_bytes = 8u << 20; // per file
	unsigned keep = 3;                  // rotated files kept
};

class AuditLog {
public:
	static Result<AuditLog> open(std::string path, AuditLogLimits limits = {});
	// One line (a newline is added). Rotates first when it would not fit.
	Result<void> append(const std::string &line);
	std::uint64_t lines_written() const { return lines_; }
	std::uint64_t rotations() const { return rotations_; }
	const std::string &path() const { return path_; }

private:
	Result<void> rotate();
	std::string path_;
	AuditLogLimits limits_;
	UniqueFd fd_;
	std::uint64_t size_ = 0;
	std::uint64_t lines_ = 0, rotations_ = 0;
};

// The log's files, oldest first (audit.jsonl.KEEP ... audit.jsonl.1, audit.jsonl), those
// that exist.
std::vector<std::string> audit_log_files(const std::string &path, unsigned keep = AuditLogLimits{}.keep);

} // namespace eima::enforce
