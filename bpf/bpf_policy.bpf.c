// SPDX-License-Identifier: GPL-2.0
/*
 * "Only signed BPF" on 6.18+: refuses every BPF_PROG_LOAD that does not carry a signature
 * the kernel verified against a trusted keyring (docs/signed-bpf.md).
 *
 * The kernel checks attr->signature against attr->keyring_id in bpf_prog_load() before it
 * calls security_bpf_prog_load(), and fails the load on a bad one: a load that reaches this
 * hook with a signature was verified, but against a keyring its caller chose. So the rule
 * is: signature present AND keyring_id in trusted_keyrings. Loads issued from BPF (kernel
 * == true: a signed loader's bpf_sys_bpf creating the programs it carries) are allowed —
 * their instructions come from the loader's hash-checked, signed data; the loader itself
 * had to pass this hook.
 *
 * Needs 6.18's hook (4 arguments, `kernel`) and attr->signature: it does not load on older
 * kernels (the trusted-loader path there is docs/signed-bpf.md's "6.12").
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "abi/bpf_policy.h"

char LICENSE[] SEC("license") = "GPL";

#define EPERM 1

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct eima_bpf_policy_config);
} policy_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, EIMA_BPF_POLICY_MAX_KEYRINGS);
	__type(key, __s32);
	__type(value, __u8);
} trusted_keyrings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct eima_bpf_policy_stats);
} policy_stats SEC(".maps");

SEC("lsm/bpf_prog_load")
int BPF_PROG(eima_bpf_prog_load, struct bpf_prog *prog, union bpf_attr *attr,
	     struct bpf_token *token, bool kernel)
{
	__u32 zero = 0;
	struct eima_bpf_policy_config *cfg = bpf_map_lookup_elem(&policy_config, &zero);
	struct eima_bpf_policy_stats *st = bpf_map_lookup_elem(&policy_stats, &zero);
	__u64 signature;
	__s32 keyring;

	if (!cfg || !st || !cfg->enabled)
		return 0;
	if (cfg->cgroup_id && bpf_get_current_cgroup_id() != cfg->cgroup_id) {
		__sync_fetch_and_add(&st->out_of_scope, 1);
		return 0;
	}
	if (kernel) {
		__sync_fetch_and_add(&st->allowed_kernel, 1);
		return 0;
	}
	signature = BPF_CORE_READ(attr, signature);
	keyring = BPF_CORE_READ(attr, keyring_id);
	if (signature && bpf_map_lookup_elem(&trusted_keyrings, &keyring)) {
		__sync_fetch_and_add(&st->allowed_signed, 1);
		return 0;
	}
	/* The last refusal: racy between CPUs, which is fine for a diagnostic. */
	st->last_pid = bpf_get_current_pid_tgid() >> 32;
	st->last_keyring_id = signature ? keyring : 0;
	st->last_prog_type = BPF_CORE_READ(attr, prog_type);
	st->last_signed = signature != 0;
	bpf_get_current_comm(st->last_comm, sizeof(st->last_comm));
	if (cfg->audit) {
		__sync_fetch_and_add(&st->audited, 1);
		return 0;
	}
	__sync_fetch_and_add(&st->refused, 1);
	return -EPERM;
}
