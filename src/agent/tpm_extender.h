// Extends the host list's entries into the TPM, in list order, on a thread of its own:
// never on the exec path, and never blocking the event loop on a slow TPM. Reads of PCRs
// go through here too, after everything queued before them has been extended, so a
// `eima pcrs` answer always matches a prefix of the list that ends where the queue ended.
//
// The TPM may also be opened on that thread (a container's vTPM: starting swtpm takes tens
// of milliseconds): records and reads submitted meanwhile wait in the queue.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <variant>

#include "agent/measurement_list.h"
#include "tpm/tpm.h"

namespace eima::agent {

class TpmExtender {
public:
	using Opener = std::function<Result<std::unique_ptr<tpm::Tpm>>()>;
	enum class State { opening, open, failed };

	explicit TpmExtender(std::unique_ptr<tpm::Tpm> tpm);
	// Runs open() on the extender's thread first. If it fails, the state is failed: queued
	// and later records count as failures and every read returns open()'s error.
	explicit TpmExtender(Opener open);
	~TpmExtender(); // drains the queue, then stops
	State state() const;

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

private:
	// Work queued in order with the records: runs with the TPM, or with nullptr and the
	// reason when it never opened.
	using Task = std::move_only_function<void(tpm::Tpm *, const std::string &open_error)>;
	void enqueue(Task task);
	void loop();
	Opener open_;
	std::unique_ptr<tpm::Tpm> tpm_;
	State state_ = State::opening;
	mutable std::mutex mu_;
	std::condition_variable work_cv_;
	std::deque<std::variant<ExtendRecord, Task>> queue_;
	bool stopping_ = false;
	std::uint64_t extended_ = 0, failures_ = 0;
	std::string last_error_;
	std::thread thread_;
};

} // namespace eima::agent
