// bpf/abi/bpf_policy.h is defined once for bpf_policy.bpf.c, bpf_policy_tl.bpf.c and
// src/bpfsign/bpf_policy.cpp: this checks every member against the compiled objects' BTF.
#include <bpf/btf.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "bpfsign/bpf_policy.h"

extern "C" {
#include "bpf/abi/bpf_policy.h"
}

namespace {

using Members = std::vector<std::pair<std::string, std::size_t>>;

// The BPF object's members of struct `name`, in order, with byte offsets; and its size.
std::pair<std::size_t, Members> btf_struct(const char *name, const char *object = BPF_POLICY_OBJ)
{
	btf *b = btf__parse_elf(object, nullptr);
	EXPECT_NE(b, nullptr) << object;
	if (!b)
		return {};
	Members out;
	std::size_t size = 0;
	int id = btf__find_by_name_kind(b, name, BTF_KIND_STRUCT);
	if (id > 0) {
		const btf_type *t = btf__type_by_id(b, id);
		size = t->size;
		const btf_member *m = btf_members(t);
		for (int i = 0; i < btf_vlen(t); ++i, ++m)
			out.emplace_back(btf__name_by_offset(b, m->name_off),
					 btf_member_bit_offset(t, i) / 8);
	}
	btf__free(b);
	return {size, out};
}

#define MEMBER(type, m) std::pair<std::string, std::size_t>(#m, offsetof(type, m))

TEST(BpfPolicyAbi, ConfigMatchesTheObject)
{
	auto [size, members] = btf_struct("eima_bpf_policy_config");
	EXPECT_EQ(size, sizeof(eima_bpf_policy_config));
	EXPECT_EQ(members, (Members{MEMBER(eima_bpf_policy_config, enabled),
				    MEMBER(eima_bpf_policy_config, audit),
				    MEMBER(eima_bpf_policy_config, cgroup_id),
				    MEMBER(eima_bpf_policy_config, exempt_cgroup_ids)}));
}

const Members stats_members{MEMBER(eima_bpf_policy_stats, allowed_signed),
				    MEMBER(eima_bpf_policy_stats, allowed_kernel),
				    MEMBER(eima_bpf_policy_stats, refused),
				    MEMBER(eima_bpf_policy_stats, audited),
				    MEMBER(eima_bpf_policy_stats, out_of_scope),
				    MEMBER(eima_bpf_policy_stats, last_pid),
				    MEMBER(eima_bpf_policy_stats, last_keyring_id),
				    MEMBER(eima_bpf_policy_stats, last_prog_type),
				    MEMBER(eima_bpf_policy_stats, last_signed),
				    MEMBER(eima_bpf_policy_stats, last_comm),
				    MEMBER(eima_bpf_policy_stats, allowed_loader),
				    MEMBER(eima_bpf_policy_stats, allowed_tag),
				    MEMBER(eima_bpf_policy_stats, events_lost)};

// The ring's event type is not in the objects' BTF (a ring buffer map has no value type):
// its size is asserted on both sides instead (bpf/lib/bpf_policy.h, bpf_policy.cpp).
TEST(BpfPolicyAbi, StatsMatchBothObjects)
{
	for (const char *object : {BPF_POLICY_OBJ, BPF_POLICY_TL_OBJ}) {
		SCOPED_TRACE(object);
		auto [size, members] = btf_struct("eima_bpf_policy_stats", object);
		EXPECT_EQ(size, sizeof(eima_bpf_policy_stats));
		EXPECT_EQ(members, stats_members);
	}
}

TEST(BpfPolicyAbi, TrustedLoaderKeysMatchTheObject)
{
	auto [size, members] = btf_struct("eima_bpf_loader_id", BPF_POLICY_TL_OBJ);
	EXPECT_EQ(size, sizeof(eima_bpf_loader_id));
	EXPECT_EQ(members, (Members{MEMBER(eima_bpf_loader_id, dev), MEMBER(eima_bpf_loader_id, ino)}));
	auto [tsize, tmembers] = btf_struct("eima_bpf_tag", BPF_POLICY_TL_OBJ);
	EXPECT_EQ(tsize, sizeof(eima_bpf_tag));
	EXPECT_EQ(tmembers, (Members{MEMBER(eima_bpf_tag, tag)}));
}

// A refusal of the policy is an audit record in enforcement's JSON form, which `eima audit`
// reads back (record_from_json) unchanged.
TEST(BpfPolicyRecord, RefusalIsAnAuditRecordThatReadsBack)
{
	eima_bpf_policy_event ev{};
	ev.ktime_ns = 5'000'000'000;
	ev.pid = 812;
	ev.tid = 813;
	ev.uid = 0;
	ev.prog_type = 1;
	ev.reason = EIMA_BPF_UNKNOWN_TAG;
	ev.denied = 1;
	ev.has_tag = 1;
	for (int i = 0; i < EIMA_BPF_TAG_SIZE; i++)
		ev.tag[i] = static_cast<__u8>(0xa0 + i);
	std::memcpy(ev.comm, "bpftool", 8);
	std::memcpy(ev.prog_name, "0123456789abcdef", 16); // no NUL: all 16 bytes are the name
	ev.exe_dev = (8ull << 20) | 1;
	ev.exe_ino = 4242;
	auto r = eima::bpfsign::bpf_policy_record(ev, 1'000'000'000);
	EXPECT_EQ(r.time_ns, 6'000'000'000u);
	EXPECT_EQ(r.operation, "bpf_prog_load");
	EXPECT_EQ(r.reason, "unknown_tag");
	EXPECT_EQ(r.mechanism, "bpf_policy");
	EXPECT_EQ(r.digest, "tag:a0a1a2a3a4a5a6a7");
	EXPECT_EQ(r.error, -EPERM);
	EXPECT_TRUE(r.denied);
	EXPECT_EQ(r.comm, "bpftool");
	EXPECT_EQ(r.detail, "program \"0123456789abcdef\" type 1");
	auto j = eima::enforce::to_json(r);
	EXPECT_EQ(j["inode"]["dev"], "8:1");
	auto back = eima::enforce::record_from_json(j);
	ASSERT_TRUE(back) << back.error().message();
	EXPECT_EQ(eima::enforce::to_json(*back), j);

	ev.reason = EIMA_BPF_UNSIGNED;
	ev.denied = 0;
	ev.has_tag = 0;
	r = eima::bpfsign::bpf_policy_record(ev, 0);
	EXPECT_EQ(r.reason, "unsigned_bpf");
	EXPECT_FALSE(r.denied);
	EXPECT_EQ(r.error, 0);
	EXPECT_EQ(r.digest, "");
	ev.reason = 99;
	EXPECT_EQ(eima::bpfsign::bpf_policy_record(ev, 0).reason, "reason-99");
}

} // namespace
