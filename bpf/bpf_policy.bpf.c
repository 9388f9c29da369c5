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
 * kernels, where bpf_policy_tl.bpf.c (the trusted-loader path) takes its place.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "lib/bpf_policy.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, EIMA_BPF_POLICY_MAX_KEYRINGS);
	__type(key, __s32);
	__type(value, __u8);
} trusted_keyrings SEC(".maps");

SEC("lsm/bpf_prog_load")
int BPF_PROG(eima_bpf_prog_load, struct bpf_prog *prog, union bpf_attr *attr,
	     struct bpf_token *token, bool kernel)
{
	struct eima_bpf_policy_stats *st = 0;
	struct eima_bpf_policy_config *cfg = policy_in_scope(&st);
	__u64 signature;
	__s32 keyring;

	if (!cfg || !st)
		return 0;
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
	return refuse(cfg, st, signature ? EIMA_BPF_UNTRUSTED_KEYRING : EIMA_BPF_UNSIGNED,
		      BPF_CORE_READ(attr, prog_type), signature ? keyring : 0, 0,
		      attr->prog_name);
}
