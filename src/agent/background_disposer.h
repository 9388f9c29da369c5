// Runs destructors that wait on a thread of its own, in the order they were handed over.
// A vTPM's destructor stops its swtpm and removes its state (tens of milliseconds); a mass
// exit of containers must not stall the event loop that hashes and logs their neighbours'
// execs for that long.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

namespace eima::agent {

class BackgroundDisposer {
public:
	BackgroundDisposer();
	// Runs whatever is still queued, then joins.
	~BackgroundDisposer();

	BackgroundDisposer(const BackgroundDisposer &) = delete;
	BackgroundDisposer &operator=(const BackgroundDisposer &) = delete;

	template <typename T>
	void dispose(std::unique_ptr<T> object)
	{
		if (object)
			enqueue([o = std::move(object)]() mutable { o.reset(); });
	}
	// Handed over and not yet destroyed.
	std::size_t pending() const;

private:
	void enqueue(std::move_only_function<void()> job);
	void loop();
	mutable std::mutex mu_;
	std::condition_variable cv_;
	std::deque<std::move_only_function<void()>> queue_;
	std::size_t running_ = 0;
	bool stopping_ = false;
	std::thread thread_;
};

} // namespace eima::agent
