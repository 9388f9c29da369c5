// BackgroundDisposer: destructors run on its thread, in order, and none is lost at exit.
#include "agent/background_disposer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

namespace eima::agent {
namespace {

struct Recorder {
	std::mutex mu;
	std::vector<int> order;
	std::vector<std::thread::id> threads;
};

struct Tracked {
	Tracked(Recorder &r, int n, std::shared_future<void> gate = {}) : r(r), n(n), gate(gate) {}
	~Tracked()
	{
		if (gate.valid())
			gate.wait(); // a slow destructor, like stopping a swtpm
		std::lock_guard lock(r.mu);
		r.order.push_back(n);
		r.threads.push_back(std::this_thread::get_id());
	}
	Recorder &r;
	int n;
	std::shared_future<void> gate;
};

TEST(BackgroundDisposer, DestroysOffTheCallersThreadInOrderWithoutBlockingIt)
{
	Recorder rec;
	std::promise<void> open;
	{
		BackgroundDisposer d;
		d.dispose(std::make_unique<Tracked>(rec, 1, open.get_future().share()));
		for (int n = 2; n <= 5; ++n)
			d.dispose(std::make_unique<Tracked>(rec, n));
		d.dispose(std::unique_ptr<Tracked>()); // nothing to do
		// The first destructor is still waiting: dispose() returned, nothing ran yet.
		EXPECT_EQ(d.pending(), 5u);
		{
			std::lock_guard lock(rec.mu);
			EXPECT_TRUE(rec.order.empty());
		}
		open.set_value();
	} // the disposer's destructor finishes the queue
	EXPECT_EQ(rec.order, (std::vector<int>{1, 2, 3, 4, 5}));
	for (auto id : rec.threads)
		EXPECT_NE(id, std::this_thread::get_id());
}

TEST(BackgroundDisposer, PendingFallsToZeroOnceDone)
{
	Recorder rec;
	BackgroundDisposer d;
	d.dispose(std::make_unique<Tracked>(rec, 1));
	for (int i = 0; i < 1000 && d.pending(); ++i)
		std::this_thread::sleep_for(std::chrono::milliseconds(1));
	EXPECT_EQ(d.pending(), 0u);
	std::lock_guard lock(rec.mu);
	EXPECT_EQ(rec.order, std::vector<int>{1});
}

TEST(BackgroundDisposer, ManyThreadsHandOverAtOnceAndEachObjectDiesOnceInItsOrder)
{
	// Several threads hand over while another asks pending() (scripts/sanitize.sh runs this
	// under TSan): every object dies exactly once, each thread's in the order handed over.
	Recorder rec;
	{
		BackgroundDisposer d;
		std::atomic<bool> done{false};
		std::thread watcher([&] {
			while (!done)
				(void)d.pending();
		});
		std::vector<std::thread> threads;
		for (int k = 0; k < 4; ++k)
			threads.emplace_back([&, k] {
				for (int n = 0; n < 50; ++n)
					d.dispose(std::make_unique<Tracked>(rec, k * 100 + n));
			});
		for (auto &t : threads)
			t.join();
		done = true;
		watcher.join();
	}
	ASSERT_EQ(rec.order.size(), 200u);
	std::vector<int> last(4, -1);
	for (int n : rec.order) {
		EXPECT_GT(n % 100, last[n / 100]) << n;
		last[n / 100] = n % 100;
	}
	EXPECT_EQ(last, std::vector<int>(4, 49));
}

} // namespace
} // namespace eima::agent
