// The host list (RUN/host): every entry eimad makes, host processes' and containers', and
// the one rule that lets a restart trust it: an entry reaches the TPM only after it is
// written to the list's file (flush), so after any stop the TPM holds a prefix of the list.
// It reopens the list of the last run (resume) and keeps RUN/host/drained_at_ns, where a
// restart's interruption entry begins. See docs/restart.md.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "agent/measurement_list.h"
#include "agent/tpm_extender.h"
#include "common/error.h"
#include "ima/hash_algo.h"
#include "ima/template_entry.h"

namespace eima::agent {

struct Container;

class HostRecorder {
public:
	// dir: RUN/host. tpm: the host TPM's extender, or null (--tpm none); it outlives
	// the recorder. reopen: how the extender opens the TPM again after an extend failed;
	// given, the extender is backed by this list (TpmExtender::back_with_list).
	HostRecorder(std::string dir, TpmExtender *tpm, TpmExtender::Opener reopen = {});

	// Reopens the list of the last run and brings the TPM up to it, or, when there is none
	// to resume (fresh, another boot, a list the TPM holds no prefix of: set aside), starts
	// a new one with `first` (boot_aggregate). Then records boot_id. True when resumed.
	Result<bool> open(const std::vector<ima::HashAlgo> &banks, bool fresh,
			  const std::string &boot_id, const ima::TemplateEntry &first);

	// Appended to the list's buffer; extended once flush() has written it.
	void append(const ima::TemplateEntry &entry);
	// Writes what was appended, then queues it for the TPM. A failed write queues
	// nothing: the entries go out with the next flush that writes them.
	void flush();
	// Records t (every event queued before it is handled) as where a restart's
	// interruption begins, once what was appended is written: at most every 100 ms while
	// entries arrive, and every idle_save while none do (an idle eimad then rewrites
	// the file once in idle_save, not ten times a second; an older value only widens a
	// restart's interruption). steady_now: the time the limits are measured in.
	void save_drained_at(std::chrono::system_clock::time_point t,
			     std::chrono::steady_clock::time_point steady_now = std::chrono::steady_clock::now());
	static constexpr auto busy_save = std::chrono::milliseconds(100);
	static constexpr auto idle_save = std::chrono::seconds(5);

	// Where the interruption began, for a resumed list (ns since the epoch; 0 if unknown).
	std::uint64_t drained_at_ns() const { return drained_at_ns_; }
	std::size_t entries() const { return list_ ? list_->entries() : 0; }
	// Entries that could not be written (docs/failure-modes.md), and why writes fail now.
	std::uint64_t lost() const { return list_ ? list_->lost() : 0; }
	std::string write_error() const { return list_ ? list_->write_error() : std::string(); }
	// Everything appended is on disk (what a kill mid-drain would otherwise lose).
	bool all_written() const { return unwritten_.empty(); }
	// "new: why" or "resumed: ..." (eima status)
	const std::string &state() const { return state_; }

private:
	Result<bool> resume(const std::vector<ima::HashAlgo> &banks, bool fresh,
			    const std::string &boot_id);

	// Backs the extender with this list, whose first `held` entries the TPM holds.
	void back_tpm(const std::vector<ima::HashAlgo> &banks, std::uint64_t held);

	std::string dir_;
	TpmExtender *tpm_;
	TpmExtender::Opener reopen_;
	std::optional<MeasurementList> list_;
	// Entries written to the list's buffer but not yet to its file: they go to the TPM
	// only once flush() has written them, so the TPM never holds an entry the list lost
	// (what a restart relies on).
	std::vector<ExtendRecord> unwritten_;
	std::string state_;
	std::uint64_t drained_at_ns_ = 0; // wall time of the last drain whose entries are on disk
	std::chrono::steady_clock::time_point drained_saved_{};
	std::size_t entries_at_save_ = 0; // entries() when drained_at_ns was last written
};

// Appends the binding entry of the container's vTPM once it is up (failed: logged, never
// bound): an ima-buf entry on the host's container PCR whose buffer is the vTPM's identity,
// so a verifier finds it by name. Sets c.bound.
void bind_vtpm(Container &c, HostRecorder &host, ima::HashAlgo hash, std::uint32_t pcr);

} // namespace eima::agent
