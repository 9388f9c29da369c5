#include "agent/background_disposer.h"

namespace eima::agent {

BackgroundDisposer::BackgroundDisposer() : thread_([this] { loop(); }) {}

BackgroundDisposer::~BackgroundDisposer()
{
	{
		std::lock_guard lock(mu_);
		stopping_ = true;
	}
	cv_.notify_all();
	thread_.join();
}

void BackgroundDisposer::enqueue(std::move_only_function<void()> job)
{
	{
		std::lock_guard lock(mu_);
		queue_.push_back(std::move(job));
	}
	cv_.notify_one();
}

std::size_t BackgroundDisposer::pending() const
{
	std::lock_guard lock(mu_);
	return queue_.size() + running_;
}

void BackgroundDisposer::loop()
{
	std::unique_lock lock(mu_);
	for (;;) {
		cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
		if (queue_.empty())
			return; // stopping, and nothing left
		auto job = std::move(queue_.front());
		queue_.pop_front();
		running_ = 1;
		lock.unlock();
		job(); // the object dies here, outside the lock
		job = nullptr;
		lock.lock();
		running_ = 0;
	}
}

} // namespace eima::agent
