// eimad's events (docs/events.md): one JSON object per line, with a schema version, for
// `eima events [--follow]` on RUN/events.sock and, with --events-syslog, for syslog
// (journald reads it). Measurements, violations, containers started and exited, vTPMs
// bound, quotes and enforcement decisions.
//
// Nothing waits on a reader: sockets are non-blocking on eimad's loop; a reader that falls
// more than a bounded amount behind loses events and is told how many ("lost"). The last
// `backlog` events are kept, so a reader that connects sees what just happened.
#pragma once

#include <cstdint>
#include <deque>
#include <list>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/loop_fds.h"
#include "common/error.h"
#include "common/unique_fd.h"

namespace eima::agent {

inline constexpr int event_schema_version = 1;

class EventStream {
public:
	EventStream(LoopFds loop, bool to_syslog, std::size_t backlog = 256);
	~EventStream();

	// Listens on path (mode 0600: events name files and containers).
	Result<void> listen(const std::string &path);
	bool owns(int fd) const;
	void handle(int fd, std::uint32_t events);

	// Adds "version" and "time" (RFC 3339, UTC, microseconds), sends ev to syslog and
	// queues it for every follower. On eimad's loop only.
	void publish(nlohmann::json ev);
	// Sends the followers what publish() queued: once per pass of eimad's loop, so that a
	// drain of many events costs one write (and one wakeup of the reader) per follower,
	// not one per event. Never blocks: what a follower does not take waits for EPOLLOUT.
	void flush_followers();
	// From any thread (fanotify enforcement decides on its own threads): ev is queued and
	// published on the loop's next wakeup, which an eventfd brings. At most max_posted
	// wait; beyond that they are counted in one "lost" event, never dropped silently.
	void post(nlohmann::json ev);
	static constexpr std::size_t max_posted = 4096;
	std::uint64_t published() const { return published_; }
	std::size_t readers() const;

	static constexpr std::size_t max_readers = 16;
	static constexpr std::size_t max_pending = 1 << 20; // bytes queued for one reader

private:
	struct Reader {
		UniqueFd fd;
		std::string request; // until its first line: "follow" or "recent"
		bool subscribed = false;      // a follower: gets every new event
		bool close_when_sent = false; // "recent", or a bad request
		bool writing = false;         // watched for EPOLLOUT (only while pending)
		std::string pending;
		std::uint64_t lost = 0;
	};
	void accept_readers();
	void read_request(Reader &r);
	void queue(Reader &r, const std::string &line);
	void flush(Reader &r);
	void close(Reader &r);
	std::list<Reader>::iterator find(int fd);

	LoopFds loop_;
	bool syslog_;
	std::size_t backlog_max_;
	std::deque<std::string> backlog_; // the last events, as lines
	UniqueFd listen_fd_;
	std::string path_;
	std::list<Reader> readers_;
	std::uint64_t published_ = 0;
	bool unflushed_ = false; // publish() queued lines flush_followers() has not sent

	void publish_posted();
	UniqueFd posted_fd_; // eventfd: posted_ is not empty
	std::mutex posted_mu_;
	std::vector<nlohmann::json> posted_;
	std::uint64_t posted_lost_ = 0;
};

} // namespace eima::agent
