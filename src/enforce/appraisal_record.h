// One refused (or, in audit mode, would-be refused) access as eima reports it: from the
// EIMA_EV_APPRAISAL event of bpf/lib/appraise.h to the JSON line of RUN/audit.jsonl and
// back (`eima audit`). The path is bytes, written in eima's JSON byte encoding
// (docs/json-bytes.md).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "bpf/abi/appraise.h"
#include "bpf/abi/event.h"
#include "common/error.h"

namespace eima::enforce {

// "no_xattr", "digest_mismatch", ... (enum eima_appraise_reason); "reason-N" when unknown.
std::string appraise_reason_name(std::uint32_t reason);
// What the reason means, for a person.
std::string_view appraise_reason_text(std::uint32_t reason);
// "exec" (BPRM_CHECK), "mmap_exec" (MMAP_CHECK), else "func-N"; or, for a change to a
// blessed file (op, enum eima_appraise_op, not EIMA_OP_ACCESS): "write", "truncate",
// "rename", "rename_over", "unlink", "link", "setxattr", "removexattr".
std::string operation_name(std::uint32_t func, std::uint32_t op = EIMA_OP_ACCESS);

struct AppraisalRecord {
	std::uint64_t time_ns = 0; // wall clock (CLOCK_REALTIME), from the event's ktime
	std::string container;     // "host", or the container's id as `eima ps` shows it
	std::uint32_t pid = 0;     // process (tgid)
	std::uint32_t tid = 0;
	std::uint32_t uid = 0;
	std::string comm;
	std::string path; // bytes
	std::uint64_t dev = 0, ino = 0;
	std::string operation;
	std::uint32_t rule = 0; // index of the appraise rule in the policy
	std::string reason;     // appraise_reason_name
	std::int32_t error = 0; // the kernel's -errno behind the reason, 0 for none
	bool denied = false;    // false: audit mode, allowed
	std::string digest;     // "sha256:HEX" when the kernel took one, else ""
	std::string mechanism = "lsm"; // who decided: "lsm" (BPF, in the kernel) or "fanotify"
	std::string detail;            // the mechanism's own words (fanotify: which event)
};

// The record of an EIMA_EV_APPRAISAL event. `boot_to_wall_ns` turns the event's
// CLOCK_MONOTONIC ktime into wall time (realtime - monotonic, taken by the caller).
AppraisalRecord appraisal_record(const eima_event_head &head, std::string_view path,
				 std::string container, std::int64_t boot_to_wall_ns);

nlohmann::json to_json(const AppraisalRecord &r);
// A line of RUN/audit.jsonl back; an error says which field was wrong.
Result<AppraisalRecord> record_from_json(const nlohmann::json &j);
// The "decision" event of eimad's event stream (docs/events.md): the record's fields under
// the stream's names (verdict "denied" or "would_deny").
nlohmann::json decision_event(const AppraisalRecord &r);
// One line for people: time, decision, container, pid/comm, operation, path, reason.
std::string to_text(const AppraisalRecord &r);

} // namespace eima::enforce
