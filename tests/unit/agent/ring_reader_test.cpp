// RingReader's decoding of ring records, fed by hand (no kernel): what reaches the Agent is
// exactly the head and the path the BPF side wrote, and a record whose size does not match
// its head is never read past its end: it is not taken, and take_lost() counts it.
#include "agent/ring_reader.h"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstring>
#include <memory>
#include <string>

namespace eima::agent {
namespace {

// An event as the BPF side builds it: the path somewhere inside path_buf. The record on
// the ring is its first EIMA_EVENT_RECORD_SIZE bytes.
std::unique_ptr<eima_event> record(std::uint64_t mntns_id, const std::string &path,
				   std::uint16_t off = 16)
{
	auto ev = std::make_unique<eima_event>();
	std::memset(ev.get(), 0, sizeof(*ev));
	ev->head.kind = EIMA_EV_FILE;
	ev->head.mntns_id = mntns_id;
	ev->head.tgid = 42;
	ev->head.file.ino = 7;
	ev->head.path_off = off;
	ev->head.path_len = static_cast<std::uint16_t>(path.size());
	std::memcpy(ev->path_buf + off, path.data(), path.size());
	return ev;
}

TEST(RingReader, CopiesHeadAndPathInRingOrder)
{
	RingReader r;
	auto a = record(1, "/usr/bin/a");
	auto b = record(2, "/bin/b", 300);
	r.feed_for_test(a.get(), EIMA_EVENT_RECORD_SIZE(a->head));
	r.feed_for_test(b.get(), EIMA_EVENT_RECORD_SIZE(b->head));
	auto evs = r.take();
	ASSERT_EQ(evs.size(), 2u);
	EXPECT_EQ(evs[0].head.mntns_id, 1u);
	EXPECT_EQ(evs[0].head.tgid, 42u);
	EXPECT_EQ(evs[0].head.file.ino, 7u);
	EXPECT_EQ(evs[0].path, "/usr/bin/a");
	EXPECT_EQ(evs[1].path, "/bin/b");
	EXPECT_TRUE(r.take().empty()); // taken once
}

TEST(RingReader, RecordNotOfItsHeadsSizeIsCountedNotTaken)
{
	RingReader r;
	auto ev = record(3, "/usr/bin/cut-short", 100);
	// The record ends before its path does: the path is not read.
	r.feed_for_test(ev.get(), offsetof(eima_event, path_buf) + 100 + 4);
	// The path's end lies outside path_buf altogether.
	auto bad = record(4, "", 0);
	bad->head.path_off = EIMA_PATH_BUF - 2;
	bad->head.path_len = 10;
	r.feed_for_test(bad.get(), sizeof(*bad));
	// Longer than its head says.
	auto longer = record(5, "/x");
	r.feed_for_test(longer.get(), EIMA_EVENT_RECORD_SIZE(longer->head) + 8);
	EXPECT_TRUE(r.take().empty());
	EXPECT_EQ(r.take_lost().malformed, 3u);
	EXPECT_EQ(r.take_lost().malformed, 0u); // reported once
}

TEST(RingReader, RecordShorterThanAHeadIsCountedNotTaken)
{
	RingReader r;
	auto ev = record(5, "/x");
	r.feed_for_test(ev.get(), sizeof(eima_event_head) - 1);
	EXPECT_TRUE(r.take().empty());
	EXPECT_EQ(r.take_lost().malformed, 1u);
}

TEST(RingReader, WithoutARingNothingIsLostAndDataIsAssumed)
{
	RingReader r;
	EXPECT_EQ(r.epoll_fd(), -1);
	EXPECT_TRUE(r.has_data()); // positions unknown: the caller drains, as if there were
	auto lost = r.take_lost();
	EXPECT_TRUE(lost.by_mntns.empty());
	EXPECT_EQ(lost.unattributed, 0u);
	EXPECT_EQ(lost.malformed, 0u);
}

} // namespace
} // namespace eima::agent
