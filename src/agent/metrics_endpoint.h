// eimad --metrics unix:PATH | ADDR:PORT: Prometheus scrapes GET /metrics over HTTP/1.x.
// It runs on eimad's event loop, never blocking it: sockets are non-blocking, a request is
// read as it arrives, the answer written as the client takes it. A client that sends
// nothing, or never reads, holds one of a few slots until a newer client needs it; memory
// stays bounded (a request of at most 8 KiB, one answer per client).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <string>

#include "common/error.h"
#include "agent/loop_fds.h"
#include "common/unique_fd.h"

namespace eima::agent {

// Where to listen: "unix:/path", "127.0.0.1:9464", "[::1]:9464", ":9464" (all addresses).
struct MetricsAddress {
	enum class Kind { unix_socket, tcp } kind;
	std::string path_or_host; // the socket path, or the host ("" for any)
	std::uint16_t port = 0;
};
Result<MetricsAddress> parse_metrics_address(const std::string &text);

class MetricsEndpoint {
public:
	// render gives the exposition text (prometheus_text) when a scrape comes in.
	MetricsEndpoint(LoopFds loop, std::function<std::string()> render);
	~MetricsEndpoint();

	Result<void> listen(const MetricsAddress &address);
	// The bound address as text (the port the kernel chose for port 0).
	std::string where() const { return where_; }
	// Whether fd is the endpoint's (its listener or a client); handle() then serves it.
	bool owns(int fd) const;
	void handle(int fd, std::uint32_t events);
	std::uint64_t scrapes() const { return scrapes_; }

	static constexpr std::size_t max_clients = 8;
	static constexpr std::size_t max_request = 8192;

private:
	struct Client {
		UniqueFd fd;
		std::string in, out;
		std::size_t sent = 0;
		std::chrono::steady_clock::time_point since;
	};
	void accept_clients();
	void read_request(Client &c);
	void write_answer(Client &c);
	void drop(std::list<Client>::iterator it);
	std::list<Client>::iterator find(int fd);

	LoopFds loop_;
	std::function<std::string()> render_;
	UniqueFd listen_fd_;
	std::string where_, unlink_path_;
	std::list<Client> clients_; // oldest first
	std::uint64_t scrapes_ = 0;
};

} // namespace eima::agent
