#include "agent/control_server.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "common/json_text.h"
#include "control/control_protocol.h"

namespace eima::agent {

namespace {

// The credentials of the process that connected (socketpairs in tests carry the creator's).
ControlPeer peer_of(int fd)
{
	ControlPeer peer;
	ucred cred{};
	socklen_t len = sizeof(cred);
	if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
		peer.pid = cred.pid;
		peer.uid = cred.uid;
	}
	return peer;
}

} // namespace

ControlAnswer answer_now(nlohmann::json reply)
{
	return [reply = std::move(reply)](bool) mutable { return std::optional(std::move(reply)); };
}

ControlServer::ControlServer(ControlService &service, std::function<void()> before_reply,
			     std::function<void()> before_request, ControlLimits limits)
	: service_(service), before_reply_(std::move(before_reply)),
	  before_request_(std::move(before_request)), limits_(limits),
	  epoll_fd_(::epoll_create1(EPOLL_CLOEXEC))
{
}

Result<void> ControlServer::listen(const std::string &socket_path)
{
	if (!epoll_fd_)
		return fail(errno, "epoll_create1", "control socket");
	auto sock = control::listen_control(socket_path);
	if (!sock)
		return std::unexpected(sock.error());
	listen_fd_ = std::move(*sock);
	// serve_ready() accepts until none is left: that last accept must not wait.
	int flags = ::fcntl(listen_fd_.get(), F_GETFL);
	if (flags < 0 || ::fcntl(listen_fd_.get(), F_SETFL, flags | O_NONBLOCK) != 0)
		return fail(errno, "fcntl O_NONBLOCK", socket_path);
	epoll_event e{};
	e.events = EPOLLIN;
	e.data.ptr = nullptr; // the listening socket; a client's is its Client
	if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, listen_fd_.get(), &e) != 0)
		return fail(errno, "epoll_ctl", socket_path);
	return {};
}

void ControlServer::serve_ready()
{
	epoll_event evs[32];
	int n = ::epoll_wait(epoll_fd_.get(), evs, 32, 0);
	for (int i = 0; i < n; ++i) {
		auto *c = static_cast<Client *>(evs[i].data.ptr);
		if (!c) {
			// Everyone waiting, so a flood drains in one wakeup: each beyond the
			// limit is closed at once.
			for (;;) {
				int fd = ::accept4(listen_fd_.get(), nullptr, nullptr,
						   SOCK_CLOEXEC | SOCK_NONBLOCK);
				if (fd < 0)
					break;
				add(UniqueFd(fd));
			}
		} else if (!c->fd) {
			continue; // finished with earlier in this batch
		} else if (c->answer && (evs[i].events & (EPOLLHUP | EPOLLERR))) {
			c->fd.reset(); // gone while its answer waits: nobody to send it to
		} else if (c->replied) {
			if (!send(*c))
				c->fd.reset();
		} else if (!c->answer && !read_from(*c)) {
			c->fd.reset();
		}
	}
	std::erase_if(clients_, [](const Client &c) { return !c.fd; });
}

void ControlServer::serve(UniqueFd client)
{
	add(std::move(client));
	std::erase_if(clients_, [](const Client &c) { return !c.fd; });
}

void ControlServer::add(UniqueFd fd)
{
	if (clients_.size() >= limits_.max_clients) {
		++refused_;
		return; // closed unread: the client sees the connection end
	}
	// Non-blocking: a read or write that would wait returns, and epoll says when to retry.
	int flags = ::fcntl(fd.get(), F_GETFL);
	::fcntl(fd.get(), F_SETFL, flags | O_NONBLOCK);
	auto &c = clients_.emplace_back();
	c.fd = std::move(fd);
	c.deadline = Clock::now() + limits_.read_timeout;
	epoll_event e{};
	e.events = EPOLLIN;
	e.data.ptr = &c;
	if (epoll_fd_)
		::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, c.fd.get(), &e);
	if (!read_from(c)) // what it sent already
		c.fd.reset();
}

void ControlServer::watch(Client &c, std::uint32_t events)
{
	epoll_event e{};
	e.events = events;
	e.data.ptr = &c;
	if (epoll_fd_)
		::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_MOD, c.fd.get(), &e);
}

bool ControlServer::read_from(Client &c)
{
	char chunk[4096];
	for (;;) {
		ssize_t n = ::read(c.fd.get(), chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true; // the rest later (or never: the deadline ends it)
		if (n < 0)
			return false;
		if (n == 0) {
			// Ended without a newline: what came is the request (as a client that
			// shuts down its side after writing sends it), nothing is no request.
			if (c.in.empty())
				return false;
			ask(c, c.in);
			return c.fd.get() >= 0;
		}
		std::string_view got(chunk, static_cast<std::size_t>(n));
		if (auto nl = got.find('\n'); nl != got.npos) {
			c.in.append(got.substr(0, nl));
			if (c.in.size() <= limits_.max_request) {
				ask(c, c.in);
				return c.fd.get() >= 0;
			}
		} else {
			c.in.append(got);
		}
		if (c.in.size() > limits_.max_request) {
			++cut_off_;
			reply(c, {{"error", fmt::format("request over {} bytes", limits_.max_request)}});
			return c.fd.get() >= 0;
		}
	}
}

void ControlServer::ask(Client &c, std::string_view line)
{
	// One request per connection: whatever the client sends after it is never read.
	watch(c, 0);
	auto req = control::parse_request(line);
	c.in.clear();
	c.in.shrink_to_fit();
	if (!req) {
		c.answer = answer_now({{"error", req.error().message()}});
	} else {
		if (before_request_)
			before_request_();
		std::string cmd = req->value("cmd", "");
		if (cmd == "status")
			c.answer = answer_now(service_.status());
		else if (cmd == "ps")
			c.answer = answer_now(service_.ps());
		else if (cmd == "pcrs")
			c.answer = service_.pcrs(*req);
		else if (cmd == "quote")
			c.answer = service_.quote(*req);
		else if (cmd == "identity")
			c.answer = service_.identity(*req);
		else if (cmd == "activate")
			c.answer = service_.activate(*req);
		else if (cmd == "stop")
			c.answer = answer_now(service_.stop(peer_of(c.fd.get())));
		else if (cmd == "bless-authorize")
			c.answer = answer_now(authorize_bless(c));
		else
			c.answer = answer_now({{"error", "unknown command: " + cmd}});
	}
	// Answered by answer() later in this same wakeup, or, while a TPM is busy, in a later
	// one: the client waits, the event loop goes on.
	c.deadline = Clock::now() + limits_.answer_timeout;
}

nlohmann::json ControlServer::authorize_bless(const Client &c)
{
	// The socket is root's (0600), and the kernel says who connected: the pid and uid
	// of the process that called connect(), not what the request claims.
	ucred cred{};
	socklen_t len = sizeof(cred);
	if (::getsockopt(c.fd.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
		return {{"error", fmt::format("SO_PEERCRED: {}", std::strerror(errno))}};
	if (cred.uid != 0)
		return {{"error", fmt::format("uid {} may not authorize eima bless: root only", cred.uid)}};
	int fd = c.fd.get();
	// Still connected: the peer has not closed its end (POLLHUP). A client that only shut
	// down its writing side still waits for the reply.
	auto peer_waiting = [fd] {
		pollfd p{fd, POLLIN, 0};
		return ::poll(&p, 1, 0) >= 0 && !(p.revents & (POLLHUP | POLLERR));
	};
	return service_.authorize_bless(cred.pid, peer_waiting);
}

void ControlServer::reply(Client &c, const nlohmann::json &msg)
{
	if (before_reply_)
		before_reply_(); // the lists on disk hold what the answer covers
	c.answer.reset();
	c.out = json_dump(msg) + "\n";
	c.replied = true;
	c.deadline = Clock::now() + limits_.write_timeout;
	if (!send(c))
		c.fd.reset();
}

bool ControlServer::send(Client &c)
{
	while (!c.out.empty()) {
		// MSG_NOSIGNAL: a client that hung up is an EPIPE here, not a SIGPIPE for eimad.
		ssize_t n = ::send(c.fd.get(), c.out.data(), c.out.size(), MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			watch(c, EPOLLOUT); // the rest when it reads
			return true;
		}
		if (n < 0)
			return false;
		c.out.erase(0, static_cast<std::size_t>(n));
	}
	return false; // all sent: one request per connection, so done
}

void ControlServer::answer(bool wait)
{
	auto now = Clock::now();
	for (auto &c : clients_) {
		if (c.answer) {
			if (auto r = (*c.answer)(wait)) {
				reply(c, *r);
			} else if (now >= c.deadline) {
				++cut_off_;
				std::string why = service_.why_late();
				reply(c, {{"error", fmt::format("no answer in {:g} s{}{}",
							       limits_.answer_timeout.count() / 1000.0,
							       why.empty() ? "" : ": ", why)}});
			}
		} else if (now >= c.deadline || wait) {
			// A request that never came (wait: eimad stops) or a reply never read.
			if (!wait || !c.replied)
				++cut_off_;
			c.fd.reset();
		}
	}
	std::erase_if(clients_, [](const Client &c) { return !c.fd; });
}

std::size_t ControlServer::waiting() const
{
	return static_cast<std::size_t>(
		std::ranges::count_if(clients_, [](const Client &c) { return c.answer.has_value(); }));
}

} // namespace eima::agent
