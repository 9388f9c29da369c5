// An EIMA_EV_APPRAISAL event: decoded from a ring record, turned into its audit line and
// read back, bytes of the path included.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "agent/ring_record.h"
#include "bpf/abi/policy.h"
#include "common/json_text.h"
#include "enforce/appraisal_record.h"

namespace eima::enforce {
namespace {

eima_event_head appraisal_head(std::uint32_t reason, bool denied)
{
	eima_event_head h{};
	h.kind = EIMA_EV_APPRAISAL;
	h.func = EIMA_FUNC_BPRM_CHECK;
	h.mask = EIMA_MAY_EXEC;
	h.rule_index = 2;
	h.pid = 41;
	h.tgid = 40;
	h.uid = 65534;
	h.flags = (denied ? EIMA_EVF_DENIED : 0) | EIMA_EVF_KERNEL_DIGEST;
	h.ktime_ns = 5'000'000'000;
	h.file.dev = (254u << 20) | 3;
	h.file.ino = 1234;
	h.digest_algo = 4; // sha256
	for (int i = 0; i < 32; ++i)
		h.digest[i] = static_cast<std::uint8_t>(i);
	std::memcpy(h.comm, "exe", 3);
	h.appraise_reason = reason;
	h.appraise_error = reason == EIMA_AR_UNKNOWN_KEY ? -126 : 0;
	return h;
}

TEST(AppraisalRecord, RingRecordOfKindAppraisalDecodes)
{
	std::string path = "/bin/\xff\xfe-new";
	eima_event_head h = appraisal_head(EIMA_AR_NO_XATTR, true);
	h.path_len = static_cast<std::uint16_t>(path.size());
	std::vector<std::byte> rec(EIMA_EVENT_RECORD_SIZE(h));
	std::memcpy(rec.data(), &h, sizeof(h));
	std::memcpy(rec.data() + sizeof(h), path.data(), path.size());
	auto ev = agent::decode_ring_record(rec, 7);
	ASSERT_TRUE(ev) << ev.error().message();
	EXPECT_EQ(ev->head.kind, static_cast<std::uint32_t>(EIMA_EV_APPRAISAL));
	EXPECT_EQ(ev->head.appraise_reason, static_cast<std::uint32_t>(EIMA_AR_NO_XATTR));
	EXPECT_EQ(ev->path, path);

	h.kind = 3; // no such kind
	std::memcpy(rec.data(), &h, sizeof(h));
	auto bad = agent::decode_ring_record(rec, 8);
	ASSERT_FALSE(bad);
	EXPECT_NE(bad.error().message().find("unknown event kind 3"), std::string::npos);
}

TEST(AppraisalRecord, JsonLineHasEveryFieldAndReadsBack)
{
	std::string path = "/bin/\xff-x"; // not UTF-8
	auto r = appraisal_record(appraisal_head(EIMA_AR_UNKNOWN_KEY, true), path, "c1", 1'000'000'000);
	EXPECT_EQ(r.time_ns, 6'000'000'000u);
	auto j = to_json(r);
	std::string line = json_dump(j);
	auto back = json_parse(line, "line");
	ASSERT_TRUE(back) << back.error().message();
	EXPECT_EQ((*back)["decision"], "denied");
	EXPECT_EQ((*back)["container"], "c1");
	EXPECT_EQ((*back)["pid"], 40);
	EXPECT_EQ((*back)["tid"], 41);
	EXPECT_EQ((*back)["comm"], "exe");
	EXPECT_EQ((*back)["path"].get<std::string>(), path);
	EXPECT_EQ((*back)["inode"]["dev"], "254:3");
	EXPECT_EQ((*back)["inode"]["ino"], 1234);
	EXPECT_EQ((*back)["operation"], "exec");
	EXPECT_EQ((*back)["rule"], 2);
	EXPECT_EQ((*back)["reason"], "unknown_key");
	EXPECT_EQ((*back)["error"], -126);
	EXPECT_EQ((*back)["digest"],
		  "sha256:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
	EXPECT_EQ((*back)["time"], "1970-01-01T00:00:06.000000Z");
	auto rec = record_from_json(*back);
	ASSERT_TRUE(rec) << rec.error().message();
	EXPECT_EQ(rec->path, path);
	EXPECT_EQ(rec->dev, r.dev);
	EXPECT_EQ(rec->reason, "unknown_key");
	EXPECT_TRUE(rec->denied);
	EXPECT_NE(to_text(*rec).find("DENIED c1 pid 40"), std::string::npos) << to_text(*rec);
}

TEST(AppraisalRecord, AuditModeAndReasonNames)
{
	auto r = appraisal_record(appraisal_head(EIMA_AR_DIGEST_MISMATCH, false), "/x", "host", 0);
	EXPECT_FALSE(r.denied);
	EXPECT_EQ(to_json(r)["decision"], "would_deny");
	EXPECT_FALSE(to_json(r).contains("error"));
	for (std::uint32_t i = 0; i < EIMA_AR_MAX; ++i)
		EXPECT_FALSE(appraise_reason_name(i).starts_with("reason-")) << i;
	EXPECT_EQ(appraise_reason_name(EIMA_AR_MAX), "reason-" + std::to_string(EIMA_AR_MAX));
	EXPECT_EQ(operation_name(EIMA_FUNC_MMAP_CHECK), "mmap_exec");
	EXPECT_EQ(operation_name(EIMA_FUNC_NONE, EIMA_OP_WRITE), "write");
	EXPECT_EQ(operation_name(EIMA_FUNC_NONE, EIMA_OP_RENAME_OVER), "rename_over");
	EXPECT_EQ(operation_name(EIMA_FUNC_NONE, EIMA_OP_REMOVEXATTR), "removexattr");
	EXPECT_EQ(operation_name(EIMA_FUNC_NONE, EIMA_OP_MAX), "op-" + std::to_string(EIMA_OP_MAX));
}

TEST(AppraisalRecord, BadLineSaysWhichField)
{
	auto j = json_parse(R"({"time_ns": 1, "decision": "denied", "container": "c",
		"pid": 1, "comm": "x", "path": "/x", "inode": {"dev": "nope", "ino": 1},
		"operation": "exec", "rule": 0, "reason": "no_xattr"})", "t");
	ASSERT_TRUE(j);
	auto r = record_from_json(*j);
	ASSERT_FALSE(r);
	EXPECT_NE(r.error().message().find("inode.dev"), std::string::npos) << r.error().message();
	j = json_parse(R"({"time_ns": 1})", "t");
	r = record_from_json(*j);
	ASSERT_FALSE(r);
	EXPECT_NE(r.error().message().find("decision"), std::string::npos) << r.error().message();
}

} // namespace
} // namespace eima::enforce
