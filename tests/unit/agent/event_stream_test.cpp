// The event stream's cross-thread door: events posted from other threads (fanotify
// enforcement's) are published on the loop's next wakeup, in order, and an overflow is one
// "lost" event with the count, not silence. Followers get what a pass published at its end.
#include <gtest/gtest.h>

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "agent/event_stream.h"
#include "../tpm/tpm_test_support.h"

namespace eima::agent {
namespace {

class EventStreamPostTest : public ::testing::Test {
protected:
	EventStreamPostTest()
		: ep_(::epoll_create1(EPOLL_CLOEXEC)),
		  stream_(LoopFds{.watch =
					  [this](int fd, std::uint32_t events) {
						  epoll_event e{.events = events, .data = {.fd = fd}};
						  ::epoll_ctl(ep_.get(), EPOLL_CTL_ADD, fd, &e);
					  },
				  .unwatch =
					  [this](int fd) {
						  ::epoll_ctl(ep_.get(), EPOLL_CTL_DEL, fd, nullptr);
					  }},
			  false)
	{
	}

	// One turn of a loop: every ready fd to the stream.
	int turn(int timeout_ms)
	{
		epoll_event evs[8];
		int n = ::epoll_wait(ep_.get(), evs, 8, timeout_ms);
		for (int i = 0; i < n; ++i)
			if (stream_.owns(evs[i].data.fd))
				stream_.handle(evs[i].data.fd, evs[i].events);
		return n;
	}

	// What `eima events` (no --follow) would get: the kept events.
	std::vector<nlohmann::json> recent()
	{
		UniqueFd c(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
		sockaddr_un addr{.sun_family = AF_UNIX};
		sock_.copy(addr.sun_path, sizeof addr.sun_path - 1);
		EXPECT_EQ(::connect(c.get(), reinterpret_cast<sockaddr *>(&addr), sizeof addr), 0);
		EXPECT_EQ(::write(c.get(), "recent\n", 7), 7);
		std::string got;
		char buf[4096];
		for (int i = 0; i < 50; ++i) {
			turn(10);
			ssize_t n;
			while ((n = ::recv(c.get(), buf, sizeof buf, MSG_DONTWAIT)) > 0)
				got.append(buf, static_cast<std::size_t>(n));
			if (n == 0)
				break;
		}
		std::vector<nlohmann::json> out;
		for (std::size_t at = 0, nl; (nl = got.find('\n', at)) != std::string::npos; at = nl + 1)
			out.push_back(nlohmann::json::parse(got.substr(at, nl - at)));
		return out;
	}

	tpm::testing::TempDir dir_;
	std::string sock_ = dir_.path() + "/events.sock";
	UniqueFd ep_;
	EventStream stream_;
};

TEST_F(EventStreamPostTest, PostedEventsArePublishedOnTheLoopInOrder)
{
	ASSERT_TRUE(stream_.listen(sock_));
	std::thread poster([this] {
		for (int i = 0; i < 20; ++i)
			stream_.post({{"type", "decision"}, {"n", i}});
	});
	poster.join();
	EXPECT_EQ(stream_.published(), 0u); // nothing is published off the loop
	ASSERT_GT(turn(1000), 0);           // the eventfd woke the loop
	EXPECT_EQ(stream_.published(), 20u);
	auto got = recent();
	ASSERT_EQ(got.size(), 20u);
	for (int i = 0; i < 20; ++i) {
		EXPECT_EQ(got[i]["n"], i);
		EXPECT_EQ(got[i]["version"], event_schema_version);
		EXPECT_TRUE(got[i].contains("time"));
	}
}

TEST_F(EventStreamPostTest, AnOverflowIsOneLostEventWithTheCount)
{
	ASSERT_TRUE(stream_.listen(sock_));
	for (std::size_t i = 0; i < EventStream::max_posted + 7; ++i)
		stream_.post({{"type", "decision"}});
	turn(1000);
	EXPECT_EQ(stream_.published(), EventStream::max_posted + 1);
	auto got = recent();
	ASSERT_FALSE(got.empty());
	EXPECT_EQ(got.back()["type"], "lost");
	EXPECT_EQ(got.back()["count"], 7);
}

TEST_F(EventStreamPostTest, AFollowerGetsAPassOfEventsInOneWriteWhenFlushed)
{
	ASSERT_TRUE(stream_.listen(sock_));
	UniqueFd c(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
	sockaddr_un addr{.sun_family = AF_UNIX};
	sock_.copy(addr.sun_path, sizeof addr.sun_path - 1);
	ASSERT_EQ(::connect(c.get(), reinterpret_cast<sockaddr *>(&addr), sizeof addr), 0);
	ASSERT_EQ(::write(c.get(), "follow\n", 7), 7);
	for (int i = 0; i < 50 && stream_.readers() == 0; ++i)
		turn(10);
	for (int i = 0; i < 2; ++i) // the request is read on the reader's own wakeup
		turn(10);
	ASSERT_EQ(stream_.readers(), 1u);
	for (int i = 0; i < 3; ++i)
		stream_.publish({{"type", "measurement"}, {"n", i}});
	char buf[4096];
	EXPECT_LT(::recv(c.get(), buf, sizeof buf, MSG_DONTWAIT), 0); // queued, not sent yet
	stream_.flush_followers();
	ssize_t n = ::recv(c.get(), buf, sizeof buf, MSG_DONTWAIT);
	ASSERT_GT(n, 0);
	std::string got(buf, static_cast<std::size_t>(n));
	EXPECT_EQ(std::count(got.begin(), got.end(), '\n'), 3); // all three in that one read
	EXPECT_NE(got.find("\"n\":2"), std::string::npos);
}

} // namespace
} // namespace eima::agent
