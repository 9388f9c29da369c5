// The structs shared by the BPF programs and eimad are defined once (bpf/abi/*.h); this
// checks that the compiled BPF objects laid them out exactly as the C++ compiler did.
#include <bpf/btf.h>
#include <gtest/gtest.h>

#include <cstddef>
#include <map>
#include <string>

#include "bpf/abi/appraise.h"
#include "bpf/abi/event.h"
#include "bpf/abi/policy.h"
#include "bpf/abi/self_protect.h"

static_assert(sizeof(eima_file_id) == 48);
static_assert(offsetof(eima_event, path_buf) == sizeof(eima_event_head));
static_assert(sizeof(eima_event_head) % 8 == 0);
// A ring record is the head and path_buf up to the path's end (bpf/lib/measure.h): never
// more than the whole event, whatever path_off and path_len the walk leaves.
static_assert(EIMA_EVENT_RECORD_SIZE(eima_event_head{}) == sizeof(eima_event_head));
static_assert(sizeof(eima_event) - sizeof(eima_event_head) >= EIMA_PATH_MAX);
static_assert(sizeof(eima_rule) % 8 == 0);
static_assert(sizeof(eima_measured_key) == 24);

namespace {

struct Layout {
	std::size_t size = 0;
	std::map<std::string, std::size_t> offsets;
};

Layout btf_layout(const btf *b, const char *name)
{
	Layout out;
	int id = btf__find_by_name_kind(b, name, BTF_KIND_STRUCT);
	if (id < 0)
		return out;
	const btf_type *t = btf__type_by_id(b, id);
	out.size = t->size;
	const btf_member *m = btf_members(t);
	for (int i = 0; i < btf_vlen(t); ++i, ++m)
		out.offsets[btf__name_by_offset(b, m->name_off)] = btf_member_bit_offset(t, i) / 8;
	return out;
}

#define EXPECT_MEMBER(layout, type, member) \
	EXPECT_EQ((layout).offsets.at(#member), offsetof(type, member)) << #type "." #member

void check_object(const std::string &obj)
{
	btf *b = btf__parse_elf(obj.c_str(), nullptr);
	ASSERT_NE(b, nullptr) << "cannot read BTF of " << obj;
	auto ev = btf_layout(b, "eima_event");
	ASSERT_EQ(ev.size, sizeof(eima_event)) << obj;
	EXPECT_MEMBER(ev, eima_event, head);
	EXPECT_MEMBER(ev, eima_event, path_buf);
	// eimad writes this whole into ".data.config", before the programs are attached.
	auto config = btf_layout(b, "eima_probe_config");
	ASSERT_EQ(config.size, sizeof(eima_probe_config)) << obj;
	EXPECT_MEMBER(config, eima_probe_config, host_mntns);
	EXPECT_MEMBER(config, eima_probe_config, wakeup_bytes);
	EXPECT_MEMBER(config, eima_probe_config, want_file_check);
	EXPECT_MEMBER(config, eima_probe_config, pad);
	EXPECT_EQ(config.offsets.size(), 4u) << "a member of eima_probe_config is not checked";
	auto head = btf_layout(b, "eima_event_head");
	ASSERT_EQ(head.size, sizeof(eima_event_head)) << obj;
	// Every member: one that is missing here fails the count below.
	EXPECT_MEMBER(head, eima_event_head, kind);
	EXPECT_MEMBER(head, eima_event_head, func);
	EXPECT_MEMBER(head, eima_event_head, mask);
	EXPECT_MEMBER(head, eima_event_head, rule_index);
	EXPECT_MEMBER(head, eima_event_head, pcr);
	EXPECT_MEMBER(head, eima_event_head, template_id);
	EXPECT_MEMBER(head, eima_event_head, pid);
	EXPECT_MEMBER(head, eima_event_head, tgid);
	EXPECT_MEMBER(head, eima_event_head, uid);
	EXPECT_MEMBER(head, eima_event_head, flags);
	EXPECT_MEMBER(head, eima_event_head, mntns);
	EXPECT_MEMBER(head, eima_event_head, pidns);
	EXPECT_MEMBER(head, eima_event_head, utsns);
	EXPECT_MEMBER(head, eima_event_head, cgroup_id);
	EXPECT_MEMBER(head, eima_event_head, ktime_ns);
	EXPECT_MEMBER(head, eima_event_head, mntns_id);
	EXPECT_MEMBER(head, eima_event_head, file);
	EXPECT_MEMBER(head, eima_event_head, path_off);
	EXPECT_MEMBER(head, eima_event_head, path_len);
	EXPECT_MEMBER(head, eima_event_head, digest_algo);
	EXPECT_MEMBER(head, eima_event_head, comm);
	EXPECT_MEMBER(head, eima_event_head, digest);
	EXPECT_MEMBER(head, eima_event_head, appraise_reason);
	EXPECT_MEMBER(head, eima_event_head, appraise_error);
	EXPECT_MEMBER(head, eima_event_head, appraise_op);
	EXPECT_MEMBER(head, eima_event_head, pad2);
	EXPECT_EQ(head.offsets.size(), 26u) << "a member of eima_event_head is not checked";
	auto fid = btf_layout(b, "eima_file_id");
	ASSERT_EQ(fid.size, sizeof(eima_file_id)) << obj;
	EXPECT_MEMBER(fid, eima_file_id, dev);
	EXPECT_MEMBER(fid, eima_file_id, ino);
	EXPECT_MEMBER(fid, eima_file_id, cookie);
	EXPECT_MEMBER(fid, eima_file_id, generation);
	EXPECT_MEMBER(fid, eima_file_id, pad);
	EXPECT_MEMBER(fid, eima_file_id, ctime_ns);
	EXPECT_MEMBER(fid, eima_file_id, size);
	EXPECT_EQ(fid.offsets.size(), 7u) << "a member of eima_file_id is not checked";
	auto rule = btf_layout(b, "eima_rule");
	ASSERT_EQ(rule.size, sizeof(eima_rule)) << obj;
	EXPECT_MEMBER(rule, eima_rule, fsmagic);
	EXPECT_MEMBER(rule, eima_rule, fsname);
	EXPECT_MEMBER(rule, eima_rule, fgroup);
	EXPECT_MEMBER(rule, eima_rule, container_scope);
	EXPECT_MEMBER(rule, eima_rule, rule_index);
	EXPECT_MEMBER(rule, eima_rule, container_hash);
	EXPECT_EQ(btf_layout(b, "eima_policy").size, sizeof(eima_policy)) << obj;
	auto key = btf_layout(b, "eima_measured_key");
	EXPECT_EQ(key.size, sizeof(eima_measured_key)) << obj;
	btf__free(b);
}

// The appraisal maps' values exist only in the lsm object (bpf/lib/appraise.h).
void check_appraisal(const char *obj)
{
	btf *b = btf__parse_elf(obj, nullptr);
	ASSERT_NE(b, nullptr) << "cannot read BTF of " << obj;
	auto cfg = btf_layout(b, "eima_appraise_cfg");
	ASSERT_EQ(cfg.size, sizeof(eima_appraise_cfg)) << obj;
	EXPECT_MEMBER(cfg, eima_appraise_cfg, mode);
	EXPECT_MEMBER(cfg, eima_appraise_cfg, keyring);
	EXPECT_MEMBER(cfg, eima_appraise_cfg, xattr);
	EXPECT_MEMBER(cfg, eima_appraise_cfg, pad);
	EXPECT_EQ(cfg.offsets.size(), 4u) << "a member of eima_appraise_cfg is not checked";
	auto key = btf_layout(b, "eima_verdict_key");
	ASSERT_EQ(key.size, sizeof(eima_verdict_key)) << obj;
	EXPECT_MEMBER(key, eima_verdict_key, dev);
	EXPECT_MEMBER(key, eima_verdict_key, ino);
	EXPECT_EQ(key.offsets.size(), 2u);
	auto v = btf_layout(b, "eima_verdict");
	ASSERT_EQ(v.size, sizeof(eima_verdict)) << obj;
	EXPECT_MEMBER(v, eima_verdict, cookie);
	EXPECT_MEMBER(v, eima_verdict, reason);
	EXPECT_MEMBER(v, eima_verdict, error);
	EXPECT_EQ(v.offsets.size(), 3u);
	btf__free(b);
}

} // namespace

TEST(AbiLayout, LsmAppraisalMatchesCxx) { check_appraisal(BPF_OBJ_DIR "/measure_lsm.bpf.o"); }

TEST(AbiLayout, LsmObjectMatchesCxx) { check_object(BPF_OBJ_DIR "/measure_lsm.bpf.o"); }
TEST(AbiLayout, TraceObjectMatchesCxx) { check_object(BPF_OBJ_DIR "/measure_trace.bpf.o"); }

// Self-protection's map keys and configuration (bpf/self_protect.bpf.c).
TEST(AbiLayout, SelfProtectMatchesCxx)
{
	const char *obj = BPF_OBJ_DIR "/self_protect.bpf.o";
	btf *b = btf__parse_elf(obj, nullptr);
	ASSERT_NE(b, nullptr) << "cannot read BTF of " << obj;
	auto cfg = btf_layout(b, "eima_protect_cfg");
	ASSERT_EQ(cfg.size, sizeof(eima_protect_cfg)) << obj;
	EXPECT_MEMBER(cfg, eima_protect_cfg, enabled);
	EXPECT_MEMBER(cfg, eima_protect_cfg, owner_tgid);
	EXPECT_MEMBER(cfg, eima_protect_cfg, exe_dev);
	EXPECT_MEMBER(cfg, eima_protect_cfg, exe_ino);
	EXPECT_MEMBER(cfg, eima_protect_cfg, pins_dev);
	EXPECT_MEMBER(cfg, eima_protect_cfg, test_kill_cgroup);
	EXPECT_EQ(cfg.offsets.size(), 6u) << "a member of eima_protect_cfg is not checked";
	auto obj_key = btf_layout(b, "eima_protected_obj");
	ASSERT_EQ(obj_key.size, sizeof(eima_protected_obj)) << obj;
	EXPECT_MEMBER(obj_key, eima_protected_obj, kind);
	EXPECT_MEMBER(obj_key, eima_protected_obj, id);
	EXPECT_EQ(obj_key.offsets.size(), 2u);
	auto dir = btf_layout(b, "eima_protected_dir");
	ASSERT_EQ(dir.size, sizeof(eima_protected_dir)) << obj;
	EXPECT_MEMBER(dir, eima_protected_dir, dev);
	EXPECT_MEMBER(dir, eima_protected_dir, ino);
	EXPECT_EQ(dir.offsets.size(), 2u);
	auto ev = btf_layout(b, "eima_protect_event");
	ASSERT_EQ(ev.size, sizeof(eima_protect_event)) << obj;
	EXPECT_MEMBER(ev, eima_protect_event, ktime_ns);
	EXPECT_MEMBER(ev, eima_protect_event, kind);
	EXPECT_MEMBER(ev, eima_protect_event, pid);
	EXPECT_MEMBER(ev, eima_protect_event, tid);
	EXPECT_MEMBER(ev, eima_protect_event, uid);
	EXPECT_MEMBER(ev, eima_protect_event, target);
	EXPECT_MEMBER(ev, eima_protect_event, comm);
	EXPECT_EQ(ev.offsets.size(), 7u) << "a member of eima_protect_event is not checked";
	btf__free(b);
}
