#include "agent/metrics_endpoint.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <charconv>
#include <cstring>

#include <fmt/format.h>

namespace eima::agent {

Result<MetricsAddress> parse_metrics_address(const std::string &text)
{
	if (text.starts_with("unix:")) {
		std::string path = text.substr(5);
		if (path.empty() || path[0] != '/' || path.size() >= sizeof(sockaddr_un{}.sun_path))
			return fail(EINVAL, "--metrics", text + ": unix: needs an absolute path");
		return MetricsAddress{MetricsAddress::Kind::unix_socket, path, 0};
	}
	auto colon = text.rfind(':');
	if (colon == std::string::npos)
		return fail(EINVAL, "--metrics", text + ": expected unix:PATH or ADDR:PORT");
	std::string host = text.substr(0, colon);
	if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
		host = host.substr(1, host.size() - 2);
	unsigned port = 0;
	auto port_text = std::string_view(text).substr(colon + 1);
	auto [end, ec] = std::from_chars(port_text.begin(), port_text.end(), port);
	if (ec != std::errc() || end != port_text.end() || port > 65535)
		return fail(EINVAL, "--metrics", text + ": bad port");
	return MetricsAddress{MetricsAddress::Kind::tcp, host, static_cast<std::uint16_t>(port)};
}

MetricsEndpoint::MetricsEndpoint(LoopFds loop, std::function<std::string()> render)
	: loop_(std::move(loop)), render_(std::move(render))
{
}

MetricsEndpoint::~MetricsEndpoint()
{
	while (!clients_.empty())
		drop(clients_.begin());
	if (listen_fd_)
		loop_.unwatch(listen_fd_.get());
	if (!unlink_path_.empty())
		::unlink(unlink_path_.c_str());
}

Result<void> MetricsEndpoint::listen(const MetricsAddress &a)
{
	sockaddr_storage ss{};
	socklen_t len = 0;
	int family = AF_UNIX;
	if (a.kind == MetricsAddress::Kind::unix_socket) {
		auto *un = reinterpret_cast<sockaddr_un *>(&ss);
		un->sun_family = AF_UNIX;
		a.path_or_host.copy(un->sun_path, a.path_or_host.size());
		len = sizeof(sockaddr_un);
		::unlink(a.path_or_host.c_str()); // a stale socket of an earlier eimad
	} else if (in6_addr a6; a.path_or_host.find(':') != std::string::npos) {
		if (::inet_pton(AF_INET6, a.path_or_host.c_str(), &a6) != 1)
			return fail(EINVAL, "--metrics", a.path_or_host + ": not an IPv6 address");
		auto *s6 = reinterpret_cast<sockaddr_in6 *>(&ss);
		s6->sin6_family = family = AF_INET6;
		s6->sin6_addr = a6;
		s6->sin6_port = htons(a.port);
		len = sizeof(sockaddr_in6);
	} else {
		auto *s4 = reinterpret_cast<sockaddr_in *>(&ss);
		s4->sin_family = family = AF_INET;
		s4->sin_port = htons(a.port);
		if (a.path_or_host.empty())
			s4->sin_addr.s_addr = htonl(INADDR_ANY);
		else if (::inet_pton(AF_INET, a.path_or_host.c_str(), &s4->sin_addr) != 1)
			return fail(EINVAL, "--metrics", a.path_or_host + ": not an IPv4 address");
		len = sizeof(sockaddr_in);
	}
	UniqueFd fd(::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
	if (!fd)
		return fail(errno, "metrics socket");
	int one = 1;
	if (family != AF_UNIX)
		::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	std::string shown = a.kind == MetricsAddress::Kind::unix_socket
				    ? "unix:" + a.path_or_host
				    : fmt::format("{}:{}", a.path_or_host, a.port);
	if (::bind(fd.get(), reinterpret_cast<sockaddr *>(&ss), len) != 0)
		return fail(errno, "bind metrics", shown);
	if (a.kind == MetricsAddress::Kind::unix_socket) {
		unlink_path_ = a.path_or_host;
		::chmod(a.path_or_host.c_str(), 0660); // root and its group scrape; not everyone
	}
	if (::listen(fd.get(), 16) != 0)
		return fail(errno, "listen metrics", shown);
	if (a.kind == MetricsAddress::Kind::tcp) {
		sockaddr_storage bound{};
		socklen_t blen = sizeof bound;
		::getsockname(fd.get(), reinterpret_cast<sockaddr *>(&bound), &blen);
		std::uint16_t port = family == AF_INET6
					     ? ntohs(reinterpret_cast<sockaddr_in6 *>(&bound)->sin6_port)
					     : ntohs(reinterpret_cast<sockaddr_in *>(&bound)->sin_port);
		shown = family == AF_INET6 ? fmt::format("[{}]:{}", a.path_or_host, port)
					   : fmt::format("{}:{}", a.path_or_host, port);
	}
	where_ = shown;
	listen_fd_ = std::move(fd);
	loop_.watch(listen_fd_.get(), EPOLLIN);
	return {};
}

bool MetricsEndpoint::owns(int fd) const
{
	if (listen_fd_ && fd == listen_fd_.get())
		return true;
	for (auto &c : clients_)
		if (c.fd.get() == fd)
			return true;
	return false;
}

std::list<MetricsEndpoint::Client>::iterator MetricsEndpoint::find(int fd)
{
	for (auto it = clients_.begin(); it != clients_.end(); ++it)
		if (it->fd.get() == fd)
			return it;
	return clients_.end();
}

void MetricsEndpoint::drop(std::list<Client>::iterator it)
{
	loop_.unwatch(it->fd.get());
	clients_.erase(it);
}

void MetricsEndpoint::handle(int fd, std::uint32_t events)
{
	if (fd == listen_fd_.get()) {
		accept_clients();
		return;
	}
	auto it = find(fd);
	if (it == clients_.end())
		return;
	if (events & (EPOLLERR | EPOLLHUP)) {
		drop(it);
		return;
	}
	if (it->out.empty())
		read_request(*it);
	else
		write_answer(*it);
	if (!it->fd) // finished or failed
		clients_.erase(it);
}

void MetricsEndpoint::accept_clients()
{
	for (;;) {
		int c = ::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (c < 0)
			return; // EAGAIN: none left (or a transient error: the next one will come)
		if (clients_.size() >= max_clients) // the oldest is the likeliest to be stuck
			drop(clients_.begin());
		clients_.push_back({UniqueFd(c), {}, {}, 0, std::chrono::steady_clock::now()});
		loop_.watch(c, EPOLLIN);
		read_request(clients_.back()); // the request is often there already
		if (!clients_.back().fd)
			clients_.pop_back();
	}
}

namespace {

std::string http_answer(int status, std::string_view reason, std::string_view type,
			const std::string &body)
{
	return fmt::format("HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n"
			   "Connection: close\r\n\r\n{}",
			   status, reason, type, body.size(), body);
}

} // namespace

void MetricsEndpoint::read_request(Client &c)
{
	char buf[2048];
	for (;;) {
		ssize_t n = ::read(c.fd.get(), buf, sizeof buf);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return; // the rest later
		if (n <= 0) { // closed before a whole request, or an error
			loop_.unwatch(c.fd.get());
			c.fd.reset();
			return;
		}
		c.in.append(buf, static_cast<std::size_t>(n));
		auto end = c.in.find("\r\n\r\n");
		if (end == std::string::npos)
			end = c.in.find("\n\n");
		if ((end == std::string::npos ? c.in.size() : end) > max_request) {
			c.out = http_answer(431, "Request Header Fields Too Large", "text/plain",
					    "request too large\n");
			break;
		}
		if (end != std::string::npos)
			break;
	}
	if (c.out.empty()) {
		// Only the request line matters: GET (or HEAD) of /metrics, any query string.
		std::string_view line(c.in);
		line = line.substr(0, line.find_first_of("\r\n"));
		bool get = line.starts_with("GET "), head = line.starts_with("HEAD ");
		auto target = line.substr(line.find(' ') + 1);
		target = target.substr(0, target.find(' '));
		bool metrics = target == "/metrics" || target.starts_with("/metrics?");
		if (!get && !head)
			c.out = http_answer(405, "Method Not Allowed", "text/plain", "GET /metrics\n");
		else if (!metrics)
			c.out = http_answer(404, "Not Found", "text/plain", "GET /metrics\n");
		else {
			++scrapes_;
			c.out = http_answer(200, "OK", "text/plain; version=0.0.4; charset=utf-8",
					    render_());
			if (head)
				c.out.resize(c.out.find("\r\n\r\n") + 4);
		}
	}
	c.in.clear();
	loop_.unwatch(c.fd.get());
	loop_.watch(c.fd.get(), EPOLLOUT);
	write_answer(c);
}

void MetricsEndpoint::write_answer(Client &c)
{
	while (c.sent < c.out.size()) {
		ssize_t n = ::send(c.fd.get(), c.out.data() + c.sent, c.out.size() - c.sent,
				   MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return; // EPOLLOUT brings us back
		if (n <= 0)
			break;
		c.sent += static_cast<std::size_t>(n);
	}
	loop_.unwatch(c.fd.get());
	c.fd.reset();
}

} // namespace eima::agent
