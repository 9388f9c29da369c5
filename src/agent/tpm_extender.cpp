#include "agent/tpm_extender.h"

namespace eima::agent {

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

void TpmExtender::submit(ExtendRecord rec)
{
	{
		std::lock_guard lock(mu_);
		queue_.push_back(std::move(rec));
	}
	work_cv_.notify_one();
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
		work_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
		if (queue_.empty() && stopping_)
			return;
		auto item = std::move(queue_.front());
		queue_.pop_front();
		if (auto *task = std::get_if<Task>(&item)) {
			std::string open_error = last_error_;
			lock.unlock();
			(*task)(tpm_.get(), open_error);
			lock.lock();
		} else if (!tpm_) { // failed to open: the record can never be extended
			++failures_;
		} else {
			auto &rec = std::get<ExtendRecord>(item);
			lock.unlock();
			auto r = tpm_->extend(rec.pcr, rec.digests);
			lock.lock();
			if (r) {
				++extended_;
			} else if (state_ == State::open) {
				// The list now replays to values the TPM does not hold: a verifier
				// will reject it, which is the honest outcome. Counted and shown by
				// eima status.
				++failures_;
				last_error_ = r.error().message();
			}
		}
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
		queue_.emplace_back(std::move(task));
	}
	work_cv_.notify_one();
}

std::size_t TpmExtender::queued() const
{
	std::lock_guard lock(mu_);
	return queue_.size();
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

} // namespace eima::agent
