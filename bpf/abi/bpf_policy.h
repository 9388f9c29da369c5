/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * "Only signed BPF": the maps of bpf/bpf_policy.bpf.c, defined once, here; filled and read
 * by src/bpfsign/bpf_policy.cpp (eima bpf enforce). docs/signed-bpf.md.
 */
#ifndef EIMA_ABI_BPF_POLICY_H
#define EIMA_ABI_BPF_POLICY_H

#ifdef __bpf__
/* vmlinux.h provides __u8 .. __u64 */
#else
#include <linux/types.h>
#endif

/* Keyrings whose signatures count: a hash map of key serial -> 1. A load signed against a
 * keyring not in it is refused like an unsigned one. */
#define EIMA_BPF_POLICY_MAX_KEYRINGS 8

/* policy_config[0]. Until user space sets enabled, the program allows everything: it is
 * attached before it is configured. */
struct eima_bpf_policy_config {
	__u32 enabled;
	__u32 audit;     /* 1: count and record refusals, refuse nothing */
	__u64 cgroup_id; /* 0: every task; else only tasks of exactly this cgroup (v2 id) */
};

/* policy_stats[0]: counters, and the last load that was (or, in audit mode, would have
 * been) refused. */
struct eima_bpf_policy_stats {
	__u64 allowed_signed;   /* carried a signature the kernel verified with a trusted keyring */
	__u64 allowed_kernel;   /* issued from BPF (a signed loader's bpf_sys_bpf) */
	__u64 refused;          /* refused with -EPERM */
	__u64 audited;          /* would have been refused (audit mode) */
	__u64 out_of_scope;     /* from another cgroup than the configured one */
	__u32 last_pid;         /* tgid of the last refused (or audited) loader */
	__s32 last_keyring_id;  /* its keyring_id (0 when unsigned) */
	__u32 last_prog_type;
	__u32 last_signed;      /* 1 when it carried a signature, from an untrusted keyring */
	char last_comm[16];
};

#endif /* EIMA_ABI_BPF_POLICY_H */
