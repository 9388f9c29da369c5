// How a unit that serves sockets on eimad's event loop (metrics, events) adds its fds to
// the loop's epoll and takes them off again, without knowing the loop.
#pragma once

#include <cstdint>
#include <functional>

namespace eima::agent {

struct LoopFds {
	std::function<void(int fd, std::uint32_t events)> watch; // EPOLLIN, EPOLLOUT
	std::function<void(int fd)> unwatch;
};

} // namespace eima::agent
