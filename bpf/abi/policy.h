/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The measurement policy as the BPF programs evaluate it: one array of compiled IMA
 * policy rules. Written by src/policy/policy_compiler.cpp, read by bpf/lib/policy_match.h.
 * Defined once, here; C++ static_asserts and a test against the .bpf.o BTF keep both
 * sides in step. Fixed-width fields, explicit padding, no pointers.
 */
#ifndef EIMA_ABI_POLICY_H
#define EIMA_ABI_POLICY_H

#ifdef __bpf__
/* vmlinux.h provides __u8 .. __u64 */
#else
#include <linux/types.h>
#endif

/* Rules beyond this are rejected by the compiler (`eima policy check` says so): the
 * kernel walks the array in a bounded loop. The kernel's own tcb policy has 13 rules. */
#define EIMA_MAX_RULES 64

/* Actions, as the kernel's ima_policy.c numbers them (MEASURE 0x1 ...). */
enum eima_action {
	EIMA_ACT_MEASURE = 0x0001,
	EIMA_ACT_DONT_MEASURE = 0x0002,
	EIMA_ACT_APPRAISE = 0x0004,
	EIMA_ACT_DONT_APPRAISE = 0x0008,
	EIMA_ACT_AUDIT = 0x0040,
	EIMA_ACT_HASH = 0x0100,
	EIMA_ACT_DONT_HASH = 0x0200,
};

/* Hook functions (IMA's func=). Stable numbers: they appear in events and logs. */
enum eima_func {
	EIMA_FUNC_NONE = 0,
	EIMA_FUNC_FILE_CHECK = 1,
	EIMA_FUNC_MMAP_CHECK = 2,
	EIMA_FUNC_BPRM_CHECK = 3,
	EIMA_FUNC_CREDS_CHECK = 4,
	EIMA_FUNC_POST_SETATTR = 5,
	EIMA_FUNC_MODULE_CHECK = 6,
	EIMA_FUNC_FIRMWARE_CHECK = 7,
	EIMA_FUNC_KEXEC_KERNEL_CHECK = 8,
	EIMA_FUNC_KEXEC_INITRAMFS_CHECK = 9,
	EIMA_FUNC_POLICY_CHECK = 10,
	EIMA_FUNC_KEXEC_CMDLINE = 11,
	EIMA_FUNC_KEY_CHECK = 12,
	EIMA_FUNC_CRITICAL_DATA = 13,
	EIMA_FUNC_SETXATTR_CHECK = 14,
	EIMA_FUNC_MMAP_CHECK_REQPROT = 15,
	/* The seeds' extension: BPF program loads (BPF_PROG_LOAD). Never in the measurement
	 * array: `eima bpf enforce --policy` applies it through bpf/bpf_policy*.bpf.c. */
	EIMA_FUNC_BPF_CHECK = 16,
	EIMA_FUNC_MAX = 17,
};

/* MAY_* as in include/linux/fs.h */
#define EIMA_MAY_EXEC 0x01
#define EIMA_MAY_WRITE 0x02
#define EIMA_MAY_READ 0x04
#define EIMA_MAY_APPEND 0x08

/* Which conditions a rule carries (rule.conditions). */
enum eima_cond {
	EIMA_COND_FUNC = 1u << 0,
	EIMA_COND_MASK = 1u << 1,
	EIMA_COND_INMASK = 1u << 2,   /* mask=^MAY_X: any of the bits, not all */
	EIMA_COND_FSMAGIC = 1u << 3,
	EIMA_COND_FSUUID = 1u << 4,
	EIMA_COND_FSNAME = 1u << 5,
	EIMA_COND_UID = 1u << 6,
	EIMA_COND_EUID = 1u << 7,
	EIMA_COND_GID = 1u << 8,
	EIMA_COND_EGID = 1u << 9,
	EIMA_COND_FOWNER = 1u << 10,
	EIMA_COND_FGROUP = 1u << 11,
	EIMA_COND_CONTAINER = 1u << 12,
	/* container=ID on an appraise rule (EIMA_SCOPE_NAMED): the hooks read the task's
	 * cgroup name for it (eima_access.container_hash). */
	EIMA_COND_CONTAINER_ID = 1u << 13,
};

/* Comparison for uid=/uid</uid> and friends. */
enum eima_cmp {
	EIMA_CMP_EQ = 0,
	EIMA_CMP_LT = 1,
	EIMA_CMP_GT = 2,
};

/* container= scope. On measure rules a named container is matched as "any container" in
 * the kernel and narrowed by the agent, which alone knows names (the kernel sees namespace
 * inodes): measuring more is safe. An appraise rule must never be widened, so container=ID
 * on it is EIMA_SCOPE_NAMED: the hook derives the container id from the task's cgroup name
 * as src/agent/container_identity.cpp does from its leaf ("<runtime>-<id>.scope" -> id,
 * else the whole name) and compares its 64-bit FNV-1a hash with container_hash. */
enum eima_container_scope {
	EIMA_SCOPE_ANY = 0,        /* no container= condition */
	EIMA_SCOPE_HOST = 1,       /* container=host */
	EIMA_SCOPE_CONTAINERS = 2, /* container=* or container=ID (measure family) */
	EIMA_SCOPE_NAMED = 3,      /* container=ID (appraise family): container_hash */
};

struct eima_id_cond {
	__u32 value;
	__u8 cmp;                  /* enum eima_cmp */
	__u8 pad[3];
};

struct eima_rule {
	__u32 action;              /* enum eima_action */
	__u32 conditions;          /* enum eima_cond bits */
	__u32 func;                /* enum eima_func */
	__u32 mask;                /* EIMA_MAY_* */
	__u64 fsmagic;
	__u8 fsuuid[16];
	char fsname[32];           /* NUL-padded */
	struct eima_id_cond uid, euid, gid, egid, fowner, fgroup;
	__u32 container_scope;     /* enum eima_container_scope */
	__u32 pcr;                 /* pcr= or 0 for the default */
	__u32 template_id;         /* enum eima_template or 0 for the default */
	__u32 rule_index;          /* index in the source policy, reported in events */
	__u64 container_hash;      /* EIMA_SCOPE_NAMED: FNV-1a 64 of the container id */
};

/* Templates (template=), numbered for events. */
enum eima_template {
	EIMA_TEMPLATE_DEFAULT = 0,
	EIMA_TEMPLATE_IMA = 1,
	EIMA_TEMPLATE_IMA_NG = 2,
	EIMA_TEMPLATE_IMA_SIG = 3,
	EIMA_TEMPLATE_IMA_BUF = 4,
};

/* One access as the policy judges it: the attributes of the file and the task that every
 * rule condition compares against, already read. The hooks fill func, mask, reqprot_exec
 * and is_host, and bpf/lib/policy_match.h reads the rest from the inode and the task the
 * first time a rule needs it (`known` says what is read); tests/bpf fills all of it from
 * user space to run the BPF matcher against src/policy/policy_matcher.cpp.
 * suid, sgid and the two capability flags are read only for a policy with euid= or egid=
 * (EIMA_COND_EUID, EIMA_COND_EGID): as in the kernel's ima_match_rules(), euid= also holds
 * on the real or saved uid of a task with CAP_SETUID, egid= on its real or saved gid with
 * CAP_SETGID. 104 bytes, on the stack of hooks that have none to spare (the hashing hooks,
 * eima_policy_decide() and the walk's callback together sit at the verifier's 512): func,
 * mask and known are narrower than elsewhere for that (enum eima_func < 256, EIMA_MAY_*
 * and enum eima_cond bits < 1 << 16). */
struct eima_access {
	__u16 known;               /* enum eima_cond bits whose attributes below are filled */
	__u8 func;                 /* enum eima_func of the hook */
	__u8 mask;                 /* EIMA_MAY_* */
	__u8 reqprot_exec;         /* MMAP_CHECK: the application itself asked for PROT_EXEC */
	__u8 is_host;              /* mount namespace is the host's */
	__u8 cap_setuid;           /* has_capability_noaudit(current, CAP_SETUID) */
	__u8 cap_setgid;           /* has_capability_noaudit(current, CAP_SETGID) */
	__u64 fsmagic;             /* inode->i_sb->s_magic */
	__u8 fsuuid[16];           /* inode->i_sb->s_uuid */
	char fsname[32];           /* inode->i_sb->s_type->name, NUL-terminated */
	__u32 uid, euid, suid;     /* task credentials */
	__u32 gid, egid, sgid;
	__u32 fowner, fgroup;      /* inode->i_uid, i_gid */
	__u64 container_hash;      /* EIMA_COND_CONTAINER_ID: FNV-1a 64 of the cgroup's id */
};

/* The rule that decided an access. Filled for dont_measure too, so a test can tell which
 * rule said no; the hooks read it only when `measure` is set. */
struct eima_match {
	__u32 rule_index;          /* eima_rule.rule_index */
	__u32 pcr;                 /* of a measure rule, else 0 */
	__u32 template_id;         /* of a measure rule, else 0 */
	__u8 measure;
	__u8 decided;              /* some measure/dont_measure rule held */
	__u8 pad[2];
};

/* The whole compiled policy, one element of an ARRAY map ("policy"). */
struct eima_policy {
	__u32 nr_rules;
	__u32 conditions;          /* every rule's conditions, OR'ed: what the hooks read */
	struct eima_rule rules[EIMA_MAX_RULES];
};

#endif /* EIMA_ABI_POLICY_H */
