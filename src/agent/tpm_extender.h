// Extends a list's entries into its TPM (the host's, or a container's vTPM), in list order,
// on a thread of its own: never on the exec path, and never blocking the event loop on a
// slow TPM. Reads of PCRs
// go through here too, after everything queued before them has been extended, so a
// `eima pcrs` answer always matches a prefix of the list that ends where the queue ended.
//
// The TPM may also be opened on that thread (a container's vTPM: starting swtpm takes tens
// of milliseconds): records and reads submitted meanwhile wait in the queue.
//
// Backed by its list on disk (back_with_list): the list is the queue. At most
// max_queued records wait in memory; later ones are read back from the list when their
// turn comes, so a TPM that stalls (SIGSTOP, a hung device) or is gone costs no more
// memory however long it lasts. When an extend fails the TPM is reopened (its swtpm
// started again if it died), its PCRs are read, the prefix of the list they hold is found
// as at a restart (list_recovery.h), and extending goes on from there, in list order. If
// they hold no prefix of the list, no verifier can ever match the list again: the state
// is failed, for good, and eima status says why. See docs/failure-modes.md.
#pragma once

#include <chrono>
#include <condition_variable>
#include <optional>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <variant>

#include "agent/measurement_list.h"
#include "tpm/swtpm.h"
#include "tpm/tpm.h"

namespace eima::agent {

class TpmExtender {
public:
	using Opener = std::function<Result<std::unique_ptr<tpm::Tpm>>()>;
	// lost: an extend failed, the TPM is being reopened (records wait on disk).
	enum class State { opening, open, lost, failed };
	// Records of the list's entries [from, from + max) (fewer at its end), from the list
	// on disk: only entries already written are asked for.
	using RecordSource =
		std::function<Result<std::vector<ExtendRecord>>(std::uint64_t from, std::size_t max)>;
	struct ListBacking {
		Opener reopen;      // on the extender's thread, after an extend failed
		RecordSource read;  // the list's records, by index
		std::vector<ima::HashAlgo> banks; // read to find the prefix the TPM holds
		std::size_t max_queued = 4096;    // records in memory; the rest are on disk
		std::string name = "TPM";         // in what is logged: "host TPM", "vTPM of ..."
	};

	explicit TpmExtender(std::unique_ptr<tpm::Tpm> tpm);
	// Runs open() on the extender's thread first. If it fails, the state is failed: queued
	// and later records count as failures and every read returns open()'s error.
	explicit TpmExtender(Opener open);
	~TpmExtender(); // drains the queue, then stops
	State state() const;

	// The records submitted from now on are the list's entries from index held on (the
	// TPM holds those before it), in order; see the top of this file. Call before the
	// first submit.
	void back_with_list(ListBacking backing, std::uint64_t held);

	void submit(ExtendRecord rec);
	// Runs fn with the TPM on the extender's thread, queued behind the records submitted
	// so far: what it reads covers exactly those records (and none submitted after this
	// call) however long the caller goes on meanwhile. The caller never waits.
	template <typename T>
	std::future<Result<T>> later(std::move_only_function<Result<T>(tpm::Tpm &)> fn)
	{
		std::promise<Result<T>> done;
		auto result = done.get_future();
		enqueue([fn = std::move(fn), done = std::move(done)](
				tpm::Tpm *tpm, const std::string &open_error) mutable {
			if (tpm)
				done.set_value(fn(*tpm));
			else
				done.set_value(fail(ENODEV, "TPM did not open", open_error));
		});
		return result;
	}
	// A quote of those PCRs, the same way.
	std::future<Result<tpm::Quote>> quote_later(ima::HashAlgo bank,
						   std::vector<std::uint32_t> pcrs, Bytes nonce);
	std::uint64_t extended() const;
	std::uint64_t failures() const;
	// Records and reads submitted and not yet done (the extend queue's depth).
	std::size_t queued() const;
	std::string last_error() const;
	// Backed by a list: entries written that the TPM does not hold yet.
	std::uint64_t pending() const;
	// Times the TPM was lost and found again holding a prefix of the list.
	std::uint64_t recoveries() const;
	// "open", "stalled: ...", "lost: ...", "failed: ...": what eima status shows. A call
	// into the TPM that has not returned for stall_after makes it stalled.
	std::string describe() const;
	static constexpr auto stall_after = std::chrono::seconds(5);

private:
	// Work queued in order with the records: runs with the TPM, or with nullptr and the
	// reason when it never opened.
	using Task = std::move_only_function<void(tpm::Tpm *, const std::string &open_error)>;
	void enqueue(Task task);
	void loop();
	// Backed: the next record to extend, from memory or else from the list; nullopt (and
	// the state failed) when the list cannot be read.
	std::optional<ExtendRecord> next_record(std::unique_lock<std::mutex> &lock);
	// Backed: reopens the TPM until it answers (or stopping), then finds the prefix of the
	// list it holds. Called with the lock held, returns with it held.
	void recover(std::unique_lock<std::mutex> &lock);
	Opener open_;
	std::unique_ptr<tpm::Tpm> tpm_;
	State state_ = State::opening;
	mutable std::mutex mu_;
	std::condition_variable work_cv_;
	// Tasks wait for every record submitted before them: `after` counts records.
	struct QueuedTask {
		std::uint64_t after;
		Task task;
	};
	std::deque<QueuedTask> tasks_;
	std::deque<ExtendRecord> records_; // [done_, done_ + records_.size()) of submitted_
	std::uint64_t submitted_ = 0, done_ = 0; // records, counted from the list's held
	std::optional<ListBacking> backing_;
	std::uint64_t base_ = 0; // backed: list index of record 0 (what the TPM held)
	bool stopping_ = false;
	std::uint64_t extended_ = 0, failures_ = 0, recoveries_ = 0;
	// The entry whose extend failed last, and how many times in a row.
	std::uint64_t failed_at_ = ~0ull;
	int same_failures_ = 0;
	std::string last_error_;
	// When the call into the TPM now running began (none: max()).
	std::chrono::steady_clock::time_point busy_since_ = std::chrono::steady_clock::time_point::max();
	std::thread thread_;
};

// The host TPM's Opener for ListBacking::reopen: first starts sw again if it died (null for
// a device TPM), then opens tcti.
TpmExtender::Opener tpm_reopener(tpm::Swtpm *sw, std::string tcti);

} // namespace eima::agent
