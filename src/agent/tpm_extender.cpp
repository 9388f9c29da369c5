#include "agent/tpm_extender.h"

#include <algorithm>

#include <fmt/format.h>

#include "agent/agent_log.h"
#include "agent/list_recovery.h"

namespace eima::agent {

namespace {

using Clock = std::chrono::steady_clock;

// An extend that fails this many times in a row at the same entry, with the TPM reopened
// in between and still holding the list up to it, is refused by the TPM itself (not a lost
// connection): trying on would never end.
constexpr int max_same_failure = 3;

} // namespace

TpmExtender::TpmExtender(std::unique_ptr<tpm::Tpm> tpm) : tpm_(std::move(tpm)), state_(State::open)
{
	thread_ = std::thread([this] { loop(); });
}

TpmExtender::TpmExtender(Opener open) : open_(std::move(open))
{
	thread_ = std::thread([this] { loop(); });
}

TpmExtender::State TpmExtender::state() const
{
	std::lock_guard lock(mu_);
	return state_;
}

TpmExtender::~TpmExtender()
{
	{
		std::lock_guard lock(mu_);
		stopping_ = true;
	}
	work_cv_.notify_all();
	thread_.join();
}

void TpmExtender::back_with_list(ListBacking backing, std::uint64_t held)
{
	std::lock_guard lock(mu_);
	backing_ = std::move(backing);
	submitted_ = done_ = held;
	records_.clear();
}

void TpmExtender::submit(ExtendRecord rec)
{
	{
		std::lock_guard lock(mu_);
		// Backed, a record is kept only while those before it are too and there is room:
		// otherwise it is read back from the list when its turn comes.
		if (!backing_ || (records_.size() < backing_->max_queued &&
				  done_ + records_.size() == submitted_))
			records_.push_back(std::move(rec));
		++submitted_;
	}
	work_cv_.notify_one();
}

std::optional<ExtendRecord> TpmExtender::next_record(std::unique_lock<std::mutex> &lock)
{
	if (records_.empty()) {
		std::uint64_t from = done_;
		std::size_t max = static_cast<std::size_t>(
			std::min<std::uint64_t>(backing_->max_queued, submitted_ - done_));
		lock.unlock();
		auto read = backing_->read(from, max);
		lock.lock();
		if (!read || read->empty()) {
			state_ = State::failed;
			last_error_ = "read the list to extend it: " +
				      (read ? std::string("entry ") + std::to_string(from) + " is missing"
					    : read.error().message());
			return std::nullopt;
		}
		for (auto &r : *read)
			records_.push_back(std::move(r));
	}
	auto rec = std::move(records_.front());
	records_.pop_front();
	return rec;
}

void TpmExtender::recover(std::unique_lock<std::mutex> &lock)
{
	same_failures_ = failed_at_ == done_ ? same_failures_ + 1 : 1;
	failed_at_ = done_;
	tpm_.reset();
	records_.clear(); // read back from the list from wherever the TPM turns out to be
	auto delay = std::chrono::milliseconds(100);
	while (!stopping_) {
		// The TPM may hold the entry whose extend failed (the command went through, the
		// answer was lost), or less (a restarted swtpm holds nothing, or what it saved).
		std::uint64_t upto = std::min(done_ + 1, submitted_);
		busy_since_ = Clock::now();
		lock.unlock();
		auto t = backing_->reopen();
		Result<PcrBanks> pcrs = t ? read_all_pcrs(**t, backing_->banks)
					  : std::unexpected(t.error());
		Result<std::vector<ExtendRecord>> recs =
			pcrs ? backing_->read(0, static_cast<std::size_t>(upto))
			     : std::unexpected(pcrs.error());
		lock.lock();
		busy_since_ = Clock::time_point::max();
		if (!recs) {
			last_error_ = recs.error().message();
			work_cv_.wait_for(lock, delay, [&] { return stopping_; });
			delay = std::min<std::chrono::milliseconds>(delay * 2, std::chrono::seconds(5));
			continue;
		}
		auto held = extended_prefix(*recs, *pcrs);
		if (!held) {
			state_ = State::failed;
			last_error_ = fmt::format(
				"the TPM came back holding no prefix of the list's first {} entries "
				"(reset or extended by someone else): the list can no longer be "
				"verified against it",
				upto);
			spdlog::error("{}: {}", backing_->name, last_error_);
			return;
		}
		if (*held == done_ && same_failures_ >= max_same_failure) {
			state_ = State::failed;
			last_error_ = fmt::format("the TPM refuses entry {}: {}", done_, last_error_);
			spdlog::error("{}: {}", backing_->name, last_error_);
			return;
		}
		tpm_ = std::move(*t);
		done_ = *held;
		state_ = State::open;
		++recoveries_;
		spdlog::warn("{}: back, holding {} entries; extending the {} after them",
			     backing_->name, *held, submitted_ - *held);
		return;
	}
}

void TpmExtender::loop()
{
	std::unique_lock lock(mu_);
	if (open_) {
		lock.unlock();
		auto t = open_();
		lock.lock();
		if (t) {
			tpm_ = std::move(*t);
			state_ = State::open;
		} else {
			state_ = State::failed;
			last_error_ = t.error().message();
		}
	}
	for (;;) {
		work_cv_.wait(lock, [&] { return stopping_ || !tasks_.empty() || done_ < submitted_; });
		// A task runs once every record submitted before it is extended (or never will be).
		if (!tasks_.empty() && (tasks_.front().after <= done_ || state_ == State::failed)) {
			auto task = std::move(tasks_.front().task);
			tasks_.pop_front();
			std::string open_error = last_error_;
			tpm::Tpm *tpm = state_ == State::failed ? nullptr : tpm_.get();
			busy_since_ = Clock::now();
			lock.unlock();
			task(tpm, open_error);
			lock.lock();
			busy_since_ = Clock::time_point::max();
			continue;
		}
		if (done_ >= submitted_) {
			if (stopping_)
				return;
			continue;
		}
		// Stopping while the TPM is away: what is left is on disk, and the next start
		// extends it (docs/restart.md).
		if (stopping_ && backing_ && state_ != State::open)
			return;
		if (!tpm_ || state_ == State::failed) {
			// Never opened, or failed for good: these records can never be extended.
			failures_ += submitted_ - done_;
			done_ = submitted_;
			records_.clear();
			continue;
		}
		std::optional<ExtendRecord> rec;
		if (backing_) {
			rec = next_record(lock);
			if (!rec)
				continue; // failed: the list could not be read
		} else {
			rec = std::move(records_.front());
			records_.pop_front();
		}
		busy_since_ = Clock::now();
		lock.unlock();
		auto r = tpm_->extend(rec->pcr, rec->digests);
		lock.lock();
		busy_since_ = Clock::time_point::max();
		if (r) {
			++extended_;
			++done_;
			continue;
		}
		last_error_ = r.error().message();
		if (!backing_) {
			// The list now replays to values the TPM does not hold: a verifier will
			// reject it, which is the honest outcome. Counted and shown by eima status.
			++failures_;
			++done_;
			continue;
		}
		spdlog::error("{}: extend of entry {} failed: {}; reopening it", backing_->name,
			      done_, last_error_);
		state_ = State::lost;
		recover(lock);
	}
}

std::future<Result<tpm::Quote>> TpmExtender::quote_later(ima::HashAlgo bank,
							std::vector<std::uint32_t> pcrs, Bytes nonce)
{
	return later<tpm::Quote>([=, pcrs = std::move(pcrs), nonce = std::move(nonce)](
					 tpm::Tpm &tpm) { return tpm.quote(bank, pcrs, nonce); });
}

void TpmExtender::enqueue(Task task)
{
	{
		std::lock_guard lock(mu_);
		tasks_.push_back({submitted_, std::move(task)});
	}
	work_cv_.notify_one();
}

std::size_t TpmExtender::queued() const
{
	std::lock_guard lock(mu_);
	// Records not yet done (in memory or on disk) and reads waiting.
	return static_cast<std::size_t>(submitted_ - done_) + tasks_.size();
}

std::uint64_t TpmExtender::extended() const
{
	std::lock_guard lock(mu_);
	return extended_;
}

std::uint64_t TpmExtender::failures() const
{
	std::lock_guard lock(mu_);
	return failures_;
}

std::string TpmExtender::last_error() const
{
	std::lock_guard lock(mu_);
	return last_error_;
}

std::uint64_t TpmExtender::pending() const
{
	std::lock_guard lock(mu_);
	return submitted_ - done_;
}

std::uint64_t TpmExtender::recoveries() const
{
	std::lock_guard lock(mu_);
	return recoveries_;
}

std::string TpmExtender::describe() const
{
	std::lock_guard lock(mu_);
	auto busy = Clock::now() - busy_since_;
	if (busy_since_ != Clock::time_point::max() && busy >= stall_after)
		return fmt::format("stalled: no answer from the TPM for {} s",
				   std::chrono::duration_cast<std::chrono::seconds>(busy).count());
	switch (state_) {
	case State::opening: return "opening";
	case State::open: return "open";
	case State::lost: return "lost: " + last_error_ + "; reopening it";
	case State::failed: return "failed: " + last_error_;
	}
	return "unknown";
}

TpmExtender::Opener tpm_reopener(tpm::Swtpm *sw, std::string tcti)
{
	return [sw, tcti = std::move(tcti)]() -> Result<std::unique_ptr<tpm::Tpm>> {
		if (sw)
			if (auto r = sw->restart_if_dead(); !r)
				return std::unexpected(r.error());
		auto t = tpm::Tpm::open(tcti);
		if (!t)
			return std::unexpected(t.error());
		return std::make_unique<tpm::Tpm>(std::move(*t));
	};
}

} // namespace eima::agent
