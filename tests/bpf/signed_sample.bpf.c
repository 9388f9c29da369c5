// SPDX-License-Identifier: GPL-2.0
// A small object for the signed-BPF tests (tests/unit/bpfsign, tests/kernel/
// signed_bpf_test.sh): a map, a read-only configuration value the signed loader must
// deliver unchanged, and an LSM program that counts bpf() calls once attached.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

// Set at signing time: the loader creates .rodata from the signed blob, so the tests read
// this value back from the loaded map to show the blob arrived intact.
const volatile __u32 sample_magic = 0x5eed1234;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} sample_counts SEC(".maps");

SEC("lsm/bpf")
int BPF_PROG(sample_bpf_calls, int cmd, union bpf_attr *attr, unsigned int size)
{
	__u32 key = 0;
	__u64 *n = bpf_map_lookup_elem(&sample_counts, &key);

	if (n && sample_magic == 0x5eed1234)
		__sync_fetch_and_add(n, 1);
	return 0;
}
