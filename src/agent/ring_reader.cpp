#include "agent/ring_reader.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

#include <spdlog/spdlog.h>

#include "agent/measurement_probe.h"
#include "agent/ring_record.h"

namespace eima::agent {

RingPositions::RingPositions(int map_fd) : page_(static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)))
{
	void *p = ::mmap(nullptr, 2 * page_, PROT_READ, MAP_SHARED, map_fd, 0);
	if (p != MAP_FAILED)
		mapping_ = static_cast<char *>(p);
}

RingPositions::~RingPositions()
{
	if (mapping_)
		::munmap(mapping_, 2 * page_);
}

std::uint64_t RingPositions::queued() const
{
	if (!mapping_)
		return 0;
	auto *cons = reinterpret_cast<const unsigned long *>(mapping_);
	auto *prod = reinterpret_cast<const unsigned long *>(mapping_ + page_);
	return __atomic_load_n(prod, __ATOMIC_ACQUIRE) - __atomic_load_n(cons, __ATOMIC_ACQUIRE);
}

Result<std::unique_ptr<RingReader>> RingReader::open(const MeasurementProbe &probe)
{
	auto r = std::make_unique<RingReader>();
	r->probe_ = &probe;
	// An adopted set's counter counts from its load: what earlier eimads logged is not new.
	r->unattributed_drops_ = probe.unattributed_recorded();
	r->ring_ = ring_buffer__new(probe.events_fd(), &RingReader::on_ring_event, r.get(), nullptr);
	if (!r->ring_)
		return fail(errno, "create ring buffer reader", "events");
	r->positions_ = std::make_unique<RingPositions>(probe.events_fd());
	return r;
}

RingReader::~RingReader()
{
	if (ring_)
		ring_buffer__free(static_cast<ring_buffer *>(ring_));
}

int RingReader::epoll_fd() const
{
	return ring_ ? ring_buffer__epoll_fd(static_cast<ring_buffer *>(ring_)) : -1;
}

bool RingReader::has_data() const
{
	if (!positions_ || !positions_->mapped())
		return true;
	return positions_->queued() != 0;
}

std::vector<PendingEvent> RingReader::take()
{
	if (ring_)
		ring_buffer__consume(static_cast<ring_buffer *>(ring_));
	return std::exchange(pending_, {});
}

void RingReader::feed_for_test(const void *data, std::size_t size)
{
	on_ring_event(this, const_cast<void *>(data), size);
}

int RingReader::on_ring_event(void *ctx, void *data, std::size_t size)
{
	auto *self = static_cast<RingReader *>(ctx);
	auto ev = decode_ring_record({static_cast<const std::byte *>(data), size},
				     self->records_++);
	if (!ev) {
		// A kernel/eimad mismatch, never expected: the file it named is unknown, so the
		// host list gets one violation for it (take_lost).
		spdlog::error("{}", ev.error().message());
		++self->malformed_;
		return 0;
	}
	self->pending_.push_back({ev->head, std::move(ev->path)});
	return 0;
}

LostEvents RingReader::take_lost()
{
	// lookup-and-delete: a count is read once; what arrives after the read is read on the
	// next call.
	//
	// Walking the map costs a scan of all its buckets even when it is empty, so it is
	// walked only when the kernel's drop counter moved since the last walk (the program
	// updates the map before the counter), and once a second whatever it says.
	LostEvents out;
	out.malformed = std::exchange(malformed_, 0);
	if (!probe_)
		return out;
	auto dropped = probe_->counter(EIMA_CNT_DROPPED);
	auto now = std::chrono::steady_clock::now();
	if (dropped && *dropped == drops_walked_at_ && now - last_drop_walk_ < std::chrono::seconds(1))
		return out;
	drops_walked_at_ = dropped ? *dropped : 0;
	last_drop_walk_ = now;
	int fd = probe_->dropped_fd();
	std::uint64_t key;
	while (bpf_map_get_next_key(fd, nullptr, &key) == 0) {
		std::uint64_t n = 0;
		if (bpf_map_lookup_and_delete_elem(fd, &key, &n) != 0)
			break; // not on this kernel (< 5.14): the kernel counter still counts them
		out.by_mntns.emplace_back(key, n);
	}
	if (auto unattributed = probe_->counter(EIMA_CNT_DROPPED_UNATTRIBUTED))
		for (; unattributed_drops_ < *unattributed; ++unattributed_drops_)
			++out.unattributed;
	return out;
}

} // namespace eima::agent
