#include "agent/ring_record.h"

#include <cstring>

#include <fmt/format.h>

namespace eima::agent {

Result<RingEvent> decode_ring_record(std::span<const std::byte> record, std::uint64_t index)
{
	auto where = [&](std::string what) {
		return fmt::format("record {} ({} bytes): {}", index, record.size(), what);
	};
	if (record.size() < sizeof(eima_event_head))
		return fail(EPROTO, "decode ring record",
			    where(fmt::format("shorter than the {}-byte event head",
					      sizeof(eima_event_head))));
	RingEvent ev;
	std::memcpy(&ev.head, record.data(), sizeof(ev.head));
	const auto &h = ev.head;
	if (h.kind != EIMA_EV_FILE && h.kind != EIMA_EV_APPRAISAL)
		return fail(EPROTO, "decode ring record",
			    where(fmt::format("unknown event kind {}", h.kind)));
	// The walk in bpf/lib/file_path.h never writes past EIMA_PATH_MAX, and the program
	// sends exactly the head and the bytes up to the path's end.
	std::size_t end = std::size_t{h.path_off} + h.path_len;
	if (end > EIMA_PATH_MAX)
		return fail(EPROTO, "decode ring record",
			    where(fmt::format("path at {}+{} ends past the {}-byte path limit",
					      h.path_off, h.path_len, EIMA_PATH_MAX)));
	if (record.size() != EIMA_EVENT_RECORD_SIZE(h))
		return fail(EPROTO, "decode ring record",
			    where(fmt::format("path at {}+{} needs a record of {} bytes", h.path_off,
					      h.path_len, EIMA_EVENT_RECORD_SIZE(h))));
	const auto *path = reinterpret_cast<const char *>(record.data()) + sizeof(eima_event_head);
	ev.path.assign(path + h.path_off, h.path_len);
	return ev;
}

} // namespace eima::agent
