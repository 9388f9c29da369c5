// decode_ring_record: a record is accepted only at exactly the size its head announces.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "agent/ring_record.h"

namespace eima::agent {
namespace {

// A record as bpf/lib/measure.h sends it: head, then path_buf up to the path's end.
std::vector<std::byte> record_for(const std::string &path, std::uint16_t off = 0)
{
	eima_event_head h{};
	h.kind = EIMA_EV_FILE;
	h.path_off = off;
	h.path_len = static_cast<std::uint16_t>(path.size());
	std::vector<std::byte> rec(EIMA_EVENT_RECORD_SIZE(h), std::byte{0x5a});
	std::memcpy(rec.data(), &h, sizeof(h));
	std::memcpy(rec.data() + sizeof(h) + off, path.data(), path.size());
	return rec;
}

void set_head(std::vector<std::byte> &rec, const eima_event_head &h)
{
	std::memcpy(rec.data(), &h, sizeof(h));
}

eima_event_head head_of(const std::vector<std::byte> &rec)
{
	eima_event_head h;
	std::memcpy(&h, rec.data(), sizeof(h));
	return h;
}

// The record is refused, and the error says why (`needle`) and which record.
void expect_refused(const std::vector<std::byte> &rec, const std::string &needle)
{
	auto ev = decode_ring_record(rec, 7);
	ASSERT_FALSE(ev);
	EXPECT_NE(ev.error().message().find(needle), std::string::npos) << ev.error().message();
	EXPECT_NE(ev.error().message().find("record 7"), std::string::npos)
		<< ev.error().message();
}

TEST(RingRecord, PathIsTheBytesAtItsOffset)
{
	auto rec = record_for("/usr/bin/true", 3);
	auto ev = decode_ring_record(rec, 0);
	ASSERT_TRUE(ev) << ev.error().message();
	EXPECT_EQ(ev->path, "/usr/bin/true");
	EXPECT_EQ(ev->head.kind, EIMA_EV_FILE);
}

TEST(RingRecord, PathBytesAreNotUtf8Checked)
{
	std::string path("/tmp/\xff\xfe\x80name\x01", 14);
	auto ev = decode_ring_record(record_for(path), 0);
	ASSERT_TRUE(ev) << ev.error().message();
	EXPECT_EQ(ev->path, path);
}

TEST(RingRecord, LongestPathFits)
{
	std::string path = "/" + std::string(EIMA_PATH_MAX - 1, 'a');
	auto rec = record_for(path);
	EXPECT_EQ(rec.size(), sizeof(eima_event_head) + EIMA_PATH_MAX);
	auto ev = decode_ring_record(rec, 0);
	ASSERT_TRUE(ev) << ev.error().message();
	EXPECT_EQ(ev->path, path);
}

TEST(RingRecord, ShorterThanTheHeadIsAnError)
{
	auto rec = record_for("/x");
	rec.resize(sizeof(eima_event_head) - 1);
	expect_refused(rec, "head");
	EXPECT_FALSE(decode_ring_record({}, 0));
}

TEST(RingRecord, PathPastTheRecordIsAnError)
{
	// The head claims a longer path than the record carries: not read.
	auto rec = record_for("/usr/bin/true");
	auto h = head_of(rec);
	h.path_len += 1;
	set_head(rec, h);
	expect_refused(rec, "needs a record of");
}

TEST(RingRecord, OversizedRecordIsAnError)
{
	auto rec = record_for("/usr/bin/true");
	rec.resize(rec.size() + 8);
	expect_refused(rec, "needs a record of");
}

TEST(RingRecord, PathPastTheLimitIsAnError)
{
	// Consistent with its own size, but beyond what the kernel's walk can write.
	expect_refused(record_for(std::string(EIMA_PATH_MAX, 'a'), 1), "path limit");
}

TEST(RingRecord, UnknownKindIsAnError)
{
	auto rec = record_for("/x");
	auto h = head_of(rec);
	h.kind = 99;
	set_head(rec, h);
	expect_refused(rec, "kind 99");
}

} // namespace
} // namespace eima::agent
