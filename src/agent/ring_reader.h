// The events ring buffer, read from user space: libbpf's consumer, the records it copies
// out (PendingEvent), a peek at whether records are queued that costs no system call, and
// the kernel's counts of events it had no room for.
//
// It owns no policy: what an event or a lost event means is the Agent's business. A
// reader made with the default constructor has no ring; records fed to it by hand
// (feed_for_test) are decoded exactly as the ring's own are.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bpf/abi/event.h"
#include "common/error.h"

namespace eima::agent {

class MeasurementProbe;

// An event copied out of the ring buffer: the ring slot is released before we hash.
struct PendingEvent {
	eima_event_head head;
	std::string path;
};

// Events the kernel could not queue since the last look.
struct LostEvents {
	std::vector<std::pair<std::uint64_t, std::uint64_t>> by_mntns; // namespace inode, count
	std::uint64_t unattributed = 0;                                // new since the last look
	std::uint64_t malformed = 0; // records that could not be decoded (ring_record.h), logged
};

// A ring buffer's consumer and producer positions, from a read-only mapping of its first
// two pages: how much is queued costs no system call and consumes nothing.
class RingPositions {
public:
	RingPositions() = default;
	explicit RingPositions(int map_fd);
	~RingPositions();
	RingPositions(const RingPositions &) = delete;
	RingPositions &operator=(const RingPositions &) = delete;

	bool mapped() const { return mapping_ != nullptr; }
	// Bytes queued (records and their headers); 0 when not mapped.
	std::uint64_t queued() const;

private:
	std::size_t page_ = 0;
	char *mapping_ = nullptr;
};

class RingReader {
public:
	// Reads the probe's events map; the probe outlives the reader.
	static Result<std::unique_ptr<RingReader>> open(const MeasurementProbe &probe);
	RingReader() = default;
	~RingReader();
	RingReader(const RingReader &) = delete;
	RingReader &operator=(const RingReader &) = delete;

	// Readable when the BPF side forces a wakeup (an event from a namespace eimad does not
	// know yet, or wakeup_bytes queued); smaller batches only show in has_data().
	int epoll_fd() const;
	// True when records are queued, or when the positions cannot be read (then the caller
	// drains, as if there were).
	bool has_data() const;
	// Every record queued now, copied out in ring order; their slots are free again.
	std::vector<PendingEvent> take();
	// What the kernel lost since the last call. The map of per-namespace counts is walked
	// only when the kernel's drop counter moved, and once a second whatever it says.
	LostEvents take_lost();
	// Unattributed drops handed out by take_lost() so far, those of the probe's earlier
	// owners included (what a pinned set records for the next eimad).
	std::uint64_t unattributed_taken() const { return unattributed_drops_; }

	// Decodes one record as the ring's callback does (tests).
	void feed_for_test(const void *data, std::size_t size);

private:
	static int on_ring_event(void *ctx, void *data, std::size_t size);

	const MeasurementProbe *probe_ = nullptr;
	void *ring_ = nullptr; // struct ring_buffer*
	std::unique_ptr<RingPositions> positions_; // whether records are queued, for has_data()
	std::vector<PendingEvent> pending_;
	std::uint64_t unattributed_drops_ = 0;
	std::uint64_t records_ = 0;   // records read, for a decode error's context
	std::uint64_t malformed_ = 0; // not decoded, not yet returned by take_lost()
	std::uint64_t drops_walked_at_ = 0; // the kernel's drop counter at the last map walk
	std::chrono::steady_clock::time_point last_drop_walk_{};
};

} // namespace eima::agent
