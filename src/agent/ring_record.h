// One record of the "events" ring buffer (bpf/abi/event.h) turned into an event eimad can
// keep once the ring slot is released. A record is the event head and path_buf up to the
// end of the path (EIMA_EVENT_RECORD_SIZE); its size is checked against the head before
// any of the path is read, so a short, oversized or inconsistent record is an error that
// says what was wrong and where, never a read past the record.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "bpf/abi/event.h"
#include "common/error.h"

namespace eima::agent {

struct RingEvent {
	eima_event_head head;
	std::string path; // bytes as the kernel gave them, not necessarily UTF-8
};

// `index` numbers the record in the ring's order since eimad started (only for the error).
Result<RingEvent> decode_ring_record(std::span<const std::byte> record, std::uint64_t index);

} // namespace eima::agent
