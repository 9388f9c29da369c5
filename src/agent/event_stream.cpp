#include "agent/event_stream.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include <chrono>
#include <utility>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include "common/json_text.h"

namespace eima::agent {

namespace {

std::string rfc3339_now()
{
	auto now = std::chrono::system_clock::now();
	auto us = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch());
	return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:06}Z",
			   std::chrono::floor<std::chrono::seconds>(now), us.count() % 1000000);
}

} // namespace

EventStream::EventStream(LoopFds loop, bool to_syslog, std::size_t backlog)
	: loop_(std::move(loop)), syslog_(to_syslog), backlog_max_(backlog)
{
	if (syslog_)
		::openlog("eimad", LOG_PID, LOG_DAEMON);
	posted_fd_ = UniqueFd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
	if (posted_fd_)
		loop_.watch(posted_fd_.get(), EPOLLIN);
}

EventStream::~EventStream()
{
	flush_followers(); // what the last pass published (containers retired at the stop)
	if (posted_fd_)
		loop_.unwatch(posted_fd_.get());
	for (auto &r : readers_)
		if (r.fd)
			loop_.unwatch(r.fd.get());
	if (listen_fd_) {
		loop_.unwatch(listen_fd_.get());
		::unlink(path_.c_str());
	}
	if (syslog_)
		::closelog();
}

Result<void> EventStream::listen(const std::string &path)
{
	sockaddr_un addr{};
	addr.sun_family = AF_UNIX;
	if (path.size() >= sizeof(addr.sun_path))
		return fail(ENAMETOOLONG, "events socket", path);
	path.copy(addr.sun_path, path.size());
	UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
	if (!fd)
		return fail(errno, "events socket", path);
	::unlink(path.c_str()); // an earlier eimad's
	mode_t old = ::umask(077);
	int rc = ::bind(fd.get(), reinterpret_cast<sockaddr *>(&addr), sizeof addr);
	::umask(old);
	if (rc != 0)
		return fail(errno, "bind", path);
	if (::listen(fd.get(), 16) != 0)
		return fail(errno, "listen", path);
	path_ = path;
	listen_fd_ = std::move(fd);
	loop_.watch(listen_fd_.get(), EPOLLIN);
	return {};
}

bool EventStream::owns(int fd) const
{
	if ((listen_fd_ && fd == listen_fd_.get()) || (posted_fd_ && fd == posted_fd_.get()))
		return true;
	for (auto &r : readers_)
		if (r.fd.get() == fd)
			return true;
	return false;
}

std::size_t EventStream::readers() const
{
	std::size_t n = 0;
	for (auto &r : readers_)
		n += r.subscribed;
	return n;
}

std::list<EventStream::Reader>::iterator EventStream::find(int fd)
{
	for (auto it = readers_.begin(); it != readers_.end(); ++it)
		if (it->fd.get() == fd)
			return it;
	return readers_.end();
}

void EventStream::publish(nlohmann::json ev)
{
	++published_;
	ev["version"] = event_schema_version;
	ev["time"] = rfc3339_now();
	std::string line = json_dump(ev) + "\n";
	if (syslog_)
		::syslog(ev.value("type", "") == "measurement" ? LOG_INFO : LOG_NOTICE, "%.*s",
			 static_cast<int>(line.size() - 1), line.data());
	backlog_.push_back(line);
	if (backlog_.size() > backlog_max_)
		backlog_.pop_front();
	for (auto &r : readers_)
		if (r.subscribed && r.fd) {
			queue(r, line);
			unflushed_ = true;
		}
}

void EventStream::flush_followers()
{
	if (!unflushed_)
		return;
	unflushed_ = false;
	for (auto &r : readers_)
		if (r.subscribed && r.fd)
			flush(r);
	std::erase_if(readers_, [](const Reader &r) { return !r.fd; });
}

void EventStream::post(nlohmann::json ev)
{
	{
		std::lock_guard lock(posted_mu_);
		if (posted_.size() >= max_posted) {
			++posted_lost_;
			return;
		}
		posted_.push_back(std::move(ev));
	}
	std::uint64_t one = 1;
	// EAGAIN only when the counter is near 2^64: a wakeup is already due.
	(void)!::write(posted_fd_.get(), &one, sizeof one);
}

void EventStream::publish_posted()
{
	std::uint64_t count;
	(void)!::read(posted_fd_.get(), &count, sizeof count);
	std::vector<nlohmann::json> batch;
	std::uint64_t lost;
	{
		std::lock_guard lock(posted_mu_);
		batch.swap(posted_);
		lost = std::exchange(posted_lost_, 0);
	}
	for (auto &ev : batch)
		publish(std::move(ev));
	if (lost)
		publish({{"type", "lost"}, {"count", lost}, {"reason", "posted events over the limit"}});
}

void EventStream::handle(int fd, std::uint32_t events)
{
	if (posted_fd_ && fd == posted_fd_.get()) {
		publish_posted();
		return;
	}
	if (fd == listen_fd_.get()) {
		accept_readers();
		return;
	}
	auto it = find(fd);
	if (it == readers_.end())
		return;
	if (events & (EPOLLERR | EPOLLHUP)) {
		close(*it);
	} else if (!it->subscribed && !it->close_when_sent) {
		read_request(*it);
	} else if (events & EPOLLIN) { // a reader sends nothing more; EOF means it left
		char c;
		if (::recv(fd, &c, 1, MSG_DONTWAIT) == 0)
			close(*it);
	}
	if (it->fd && (events & EPOLLOUT))
		flush(*it);
	if (!it->fd)
		readers_.erase(it);
}

void EventStream::accept_readers()
{
	for (;;) {
		int c = ::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (c < 0)
			return;
		if (readers_.size() >= max_readers) { // the oldest goes; it sees EOF
			loop_.unwatch(readers_.front().fd.get());
			readers_.pop_front();
		}
		readers_.push_back({UniqueFd(c)});
		loop_.watch(c, EPOLLIN);
		read_request(readers_.back());
		if (!readers_.back().fd)
			readers_.pop_back();
	}
}

void EventStream::close(Reader &r)
{
	loop_.unwatch(r.fd.get());
	r.fd.reset();
}

void EventStream::read_request(Reader &r)
{
	char buf[64];
	ssize_t n = ::recv(r.fd.get(), buf, sizeof buf, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n <= 0)
		return close(r);
	r.request.append(buf, static_cast<std::size_t>(n));
	auto nl = r.request.find('\n');
	if (nl == std::string::npos && r.request.size() <= 32)
		return; // the rest of the line later
	std::string word = r.request.substr(0, std::min(nl, r.request.size()));
	if (word == "follow" || word == "recent") {
		r.subscribed = word == "follow";
		r.close_when_sent = !r.subscribed;
		for (auto &line : backlog_)
			queue(r, line);
	} else {
		r.close_when_sent = true;
		queue(r, json_dump({{"error", "expected 'follow' or 'recent', got '" + word + "'"}}) +
				 "\n");
	}
	flush(r);
}

void EventStream::queue(Reader &r, const std::string &line)
{
	if (r.pending.size() + line.size() > max_pending) {
		++r.lost;
		return;
	}
	if (r.lost) { // it caught up: say what it missed first
		r.pending += json_dump({{"version", event_schema_version},
					{"type", "lost"},
					{"time", rfc3339_now()},
					{"count", r.lost}}) + "\n";
		r.lost = 0;
	}
	r.pending += line;
}

void EventStream::flush(Reader &r)
{
	while (!r.pending.empty()) {
		ssize_t n = ::send(r.fd.get(), r.pending.data(), r.pending.size(),
				   MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0)
			return close(r);
		r.pending.erase(0, static_cast<std::size_t>(n));
	}
	if (r.pending.empty() && r.close_when_sent)
		return close(r);
	// EPOLLOUT only while something waits to be sent: a writable socket would wake the
	// loop on every pass.
	bool want = !r.pending.empty();
	if (want != r.writing) {
		loop_.unwatch(r.fd.get());
		loop_.watch(r.fd.get(), want ? EPOLLIN | EPOLLOUT : EPOLLIN);
		r.writing = want;
	}
}

} // namespace eima::agent
