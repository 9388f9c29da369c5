// bpf/abi/bpf_policy.h is defined once for bpf_policy.bpf.c and src/bpfsign/bpf_policy.cpp:
// this checks every member against the compiled object's BTF.
#include <bpf/btf.h>
#include <gtest/gtest.h>

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

extern "C" {
#include "bpf/abi/bpf_policy.h"
}

namespace {

using Members = std::vector<std::pair<std::string, std::size_t>>;

// The BPF object's members of struct `name`, in order, with byte offsets; and its size.
std::pair<std::size_t, Members> btf_struct(const char *name)
{
	btf *b = btf__parse_elf(BPF_POLICY_OBJ, nullptr);
	EXPECT_NE(b, nullptr) << BPF_POLICY_OBJ;
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
				    MEMBER(eima_bpf_policy_config, cgroup_id)}));
}

TEST(BpfPolicyAbi, StatsMatchTheObject)
{
	auto [size, members] = btf_struct("eima_bpf_policy_stats");
	EXPECT_EQ(size, sizeof(eima_bpf_policy_stats));
	EXPECT_EQ(members, (Members{MEMBER(eima_bpf_policy_stats, allowed_signed),
				    MEMBER(eima_bpf_policy_stats, allowed_kernel),
				    MEMBER(eima_bpf_policy_stats, refused),
				    MEMBER(eima_bpf_policy_stats, audited),
				    MEMBER(eima_bpf_policy_stats, out_of_scope),
				    MEMBER(eima_bpf_policy_stats, last_pid),
				    MEMBER(eima_bpf_policy_stats, last_keyring_id),
				    MEMBER(eima_bpf_policy_stats, last_prog_type),
				    MEMBER(eima_bpf_policy_stats, last_signed),
				    MEMBER(eima_bpf_policy_stats, last_comm)}));
}

} // namespace
