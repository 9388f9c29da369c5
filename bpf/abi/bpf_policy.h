/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * "Only signed BPF": the maps of bpf/bpf_policy.bpf.c (6.18+, the kernel checks signatures)
 * and bpf/bpf_policy_tl.bpf.c (6.12-6.17, eima's trusted loader checks them), defined
 * once, here; filled and read by src/bpfsign/bpf_policy.cpp (eima bpf enforce).
 * docs/signed-bpf.md.
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
/* Cgroups a policy exempts (eima_bpf_policy_config.exempt_cgroup_ids). */
#define EIMA_BPF_POLICY_MAX_EXEMPT 4
/* Trusted-loader path: loaders (executables) and recorded program tags. */
#define EIMA_BPF_POLICY_MAX_LOADERS 8
#define EIMA_BPF_POLICY_MAX_TAGS 4096
/* Loads between their verifier and their first fd, refused ones until freed. */
#define EIMA_BPF_POLICY_MAX_PENDING 4096
#define EIMA_BPF_POLICY_EVENTS_SIZE (64 * 1024)
#define EIMA_BPF_TAG_SIZE 8

/* policy_config[0]. Until user space sets enabled, the program allows everything: it is
 * attached before it is configured. */
struct eima_bpf_policy_config {
	__u32 enabled;
	__u32 audit;     /* 1: count and record refusals, refuse nothing */
	__u64 cgroup_id; /* 0: every task; else only tasks of exactly this cgroup (v2 id) */
	/* A policy's exceptions (`dont_appraise func=BPF_CHECK cgroup=DIR`): the tasks of
	 * exactly these cgroups (v2 ids; 0 = unused slot) are not judged. */
	__u64 exempt_cgroup_ids[EIMA_BPF_POLICY_MAX_EXEMPT];
};

/* trusted_loaders key: the executable of a trusted loader, as the kernel names it
 * (inode->i_sb->s_dev, the kernel's MAJOR << 20 | MINOR, and inode->i_ino). */
struct eima_bpf_loader_id {
	__u64 dev;
	__u64 ino;
};

/* trusted_tags key: a program's tag (prog->tag, bpf_prog_info.tag). */
struct eima_bpf_tag {
	__u8 tag[EIMA_BPF_TAG_SIZE];
};

/* policy_stats[0]: counters, and the last load that was (or, in audit mode, would have
 * been) refused. */
struct eima_bpf_policy_stats {
	__u64 allowed_signed;   /* carried a signature the kernel verified with a trusted keyring */
	__u64 allowed_kernel;   /* issued from BPF (a signed loader's bpf_sys_bpf) */
	__u64 refused;          /* refused with -EPERM */
	__u64 audited;          /* would have been refused (audit mode) */
	__u64 out_of_scope;     /* from another cgroup than the configured one, or an exempted one */
	__u32 last_pid;         /* tgid of the last refused (or audited) loader */
	__s32 last_keyring_id;  /* its keyring_id (0 when unsigned) */
	__u32 last_prog_type;
	__u32 last_signed;      /* 1 when it carried a signature, from an untrusted keyring */
	char last_comm[16];
	/* trusted-loader path */
	__u64 allowed_loader;   /* loaded by a trusted loader (its executable) */
	__u64 allowed_tag;      /* its tag was recorded by a trusted loader */
	__u64 events_lost;      /* refusals the events ring had no room for */
};

/* Why a load was (or would have been) refused. */
enum eima_bpf_refusal {
	EIMA_BPF_UNSIGNED = 1,          /* no signature (6.18+) */
	EIMA_BPF_UNTRUSTED_KEYRING = 2, /* a signature checked against an untrusted keyring */
	EIMA_BPF_UNKNOWN_TAG = 3,       /* not a trusted loader, and a tag none recorded */
	EIMA_BPF_PENDING_FULL = 4,      /* too many loads in flight to track (fail closed) */
	EIMA_BPF_EXE_CHANGE = 5,        /* prctl(PR_SET_MM) to change the executable */
};

/* policy_events (ring buffer): one per refused (or audited) load; eima bpf enforce
 * --audit-log writes them to the audit log. */
struct eima_bpf_policy_event {
	__u64 ktime_ns; /* bpf_ktime_get_ns: CLOCK_MONOTONIC */
	__u32 pid;
	__u32 tid;
	__u32 uid;
	__u32 prog_type;
	__u32 reason; /* enum eima_bpf_refusal */
	__s32 keyring_id;
	__u32 denied; /* 0: audit mode, allowed */
	__u32 has_tag;
	__u8 tag[EIMA_BPF_TAG_SIZE];
	char comm[16];
	char prog_name[16];
	__u64 exe_dev; /* the loader's executable, as trusted_loaders keys it */
	__u64 exe_ino;
};
/* Not in the objects' BTF (a ring has no value type), so pinned here for both compilers. */
#ifdef __cplusplus
static_assert(sizeof(struct eima_bpf_policy_event) == 96, "eima_bpf_policy_event layout");
#else
_Static_assert(sizeof(struct eima_bpf_policy_event) == 96, "eima_bpf_policy_event layout");
#endif

#endif /* EIMA_ABI_BPF_POLICY_H */
