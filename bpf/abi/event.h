/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Events from the BPF programs to eimad, over the "events" ring buffer, and the counters
 * the programs keep. Defined once, here; consumed by src/agent/ring_record.cpp (a record,
 * for ring_reader.cpp), src/agent/agent.cpp and src/agent/file_measurer.cpp (the digest).
 * Event kinds and counter indexes are stable: never renumber, only append.
 */
#ifndef EIMA_ABI_EVENT_H
#define EIMA_ABI_EVENT_H

#ifdef __bpf__
/* vmlinux.h provides __u8 .. __u64 */
#else
#include <linux/types.h>
#endif

/* Bytes reserved for a path: PATH_MAX plus room for one more component, so the BPF
 * verifier can prove every write in bounds with a mask (see bpf/lib/file_path.h). Paths
 * are at most EIMA_PATH_MAX bytes; a longer one keeps its tail, is flagged
 * EIMA_EVF_PATH_TRUNCATED, and eimad records a violation. */
#define EIMA_PATH_MAX 4096
#define EIMA_PATH_BUF (EIMA_PATH_MAX + 256)
#define EIMA_COMM_LEN 16

enum eima_event_kind {
	EIMA_EV_FILE = 1,      /* a file to measure (exec, mmap/mprotect PROT_EXEC, open) */
	/* An access an appraise rule refused (EIMA_EVF_DENIED) or, in audit mode, would have
	 * refused: appraise_reason says why, rule_index names the appraise rule. digest[]
	 * holds the kernel's digest when one was taken. bpf/lib/appraise.h */
	EIMA_EV_APPRAISAL = 2,
};

enum eima_event_flags {
	EIMA_EVF_PATH_TRUNCATED = 1u << 0, /* deeper than the walker's bound or > PATH_BUF */
	EIMA_EVF_NO_PATH = 1u << 1,        /* the file had no name we could read */
	EIMA_EVF_INTERPRETER = 1u << 2,    /* found as the exec's ELF interpreter (ld.so) */
	EIMA_EVF_KERNEL_DIGEST = 1u << 3,  /* digest[] holds the file's digest, taken in the hook */
	EIMA_EVF_DENIED = 1u << 4,         /* EIMA_EV_APPRAISAL: -EPERM was returned (enforce) */
};

/* Room for the largest digest the kernel's IMA hashes with (SHA-512). */
#define EIMA_DIGEST_MAX 64

/*
 * What eimad sets in a measuring object (measure_lsm, measure_trace) after loading it and
 * before attaching it: the object's ".data.config" map, one element of this struct. Not
 * `const volatile` .rodata, because a signed object's .rodata is fixed when it is signed
 * (docs/signed-bpf.md), while these are known only on the host that runs it.
 */
/* Unless the ring is so small that a quarter of it is less. */
#define EIMA_WAKEUP_BYTES (256 * 1024)

struct eima_probe_config {
	__u64 host_mntns;      /* init's mount namespace: "the host" */
	__u32 wakeup_bytes;    /* wake eimad once this much is queued in the ring */
	__u8 want_file_check;  /* measure_lsm: the policy has FILE_CHECK rules */
	__u8 pad[3];
};

/* Identity of one version of a file. cookie changes whenever content may have: it mixes
 * ctime and size, so a rewrite is measured again. eimad compares dev, ino, generation,
 * ctime_ns and size with fstat() of the file it opens, before and after hashing it. */
struct eima_file_id {
	__u64 dev;             /* kernel dev_t: MAJOR << 20 | MINOR */
	__u64 ino;
	__u64 cookie;
	__u32 generation;      /* i_generation, for open_by_handle_at */
	__u32 pad;
	__u64 ctime_ns;
	__u64 size;
};

/* Everything but the path: what eimad keeps of an event once the ring slot is released. */
struct eima_event_head {
	__u32 kind;            /* enum eima_event_kind */
	__u32 func;            /* enum eima_func: the hook that saw the file */
	__u32 mask;            /* EIMA_MAY_* as the hook saw it */
	__u32 rule_index;      /* the policy rule that said "measure" */
	__u32 pcr;             /* pcr= of that rule, 0 for the agent's default */
	__u32 template_id;     /* template= of that rule, 0 for the agent's default */
	__u32 pid;             /* thread id */
	__u32 tgid;            /* process id */
	__u32 uid;
	__u32 flags;           /* enum eima_event_flags */
	__u64 mntns;           /* mount namespace inode, as /proc/PID/ns/mnt shows it */
	__u64 pidns;
	__u64 utsns;
	__u64 cgroup_id;
	__u64 ktime_ns;
	/* The mount namespace's id for this boot, never reused (mnt_namespace.seq before
	 * 6.18, ns_common.ns_id after; its inode number is reused as soon as it is free);
	 * the inode where neither exists. The container key. */
	__u64 mntns_id;
	struct eima_file_id file;
	__u16 path_off;        /* path = path_buf + path_off, path_len bytes, no NUL */
	__u16 path_len;
	/* With EIMA_EVF_KERNEL_DIGEST: the kernel's enum hash_algo of digest[] (IMA's
	 * ima_hash, 4 = SHA-256), from bpf_ima_file_hash in a sleepable LSM hook, of the same
	 * file version as `file` (checked after hashing). Without it: 0 when the hook does not
	 * hash (trace mode, or non-sleepable LSM hooks), else the helper's -errno, or -ESTALE
	 * when the file changed while it was hashed. eimad then opens the file itself. */
	__s32 digest_algo;
	char comm[EIMA_COMM_LEN];
	__u8 digest[EIMA_DIGEST_MAX];
	/* EIMA_EV_APPRAISAL only (0 in file events): enum eima_appraise_reason
	 * (bpf/abi/appraise.h) and the kernel's error behind it (xattr read, key lookup or
	 * signature check), 0 when there was none. */
	__u32 appraise_reason;
	__s32 appraise_error;
	/* EIMA_EV_APPRAISAL only: enum eima_appraise_op, the access refused. EIMA_OP_ACCESS
	 * (0) is func's own access (exec, mmap); the others are changes to a blessed file. */
	__u32 appraise_op;
	__u32 pad2;
};

/* The whole event as the programs build it (in a per-CPU scratch slot, bpf/lib/measure.h).
 * A ring record is shorter: the head and path_buf up to the end of the path, so its size
 * is EIMA_EVENT_RECORD_SIZE(head), from sizeof(head) + 1 to sizeof(struct eima_event).
 * eimad checks the record's size against its head before it reads the path. */
struct eima_event {
	struct eima_event_head head;
	char path_buf[EIMA_PATH_BUF];
};

#define EIMA_EVENT_RECORD_SIZE(h) \
	(sizeof(struct eima_event_head) + (__u32)(h).path_off + (__u32)(h).path_len)

/* The cgroup (v2) of the first events of a mount namespace eimad does not know yet, as the
 * hook saw it: value of the "cgroup_of_mntns" map (LRU hash), keyed by
 * eima_event_head.mntns_id. The innermost EIMA_CGROUP_DEPTH components, leaf first, each
 * NUL-terminated (longer names are cut); "" past the root. eimad names a container from
 * it when the cgroup is gone by the time it reads the event: a runtime removes the cgroup
 * of a container that exited at once, and cgroup_id then leads nowhere. Not part of the
 * event: only a new namespace's first events need it, and every event would pay. */
#define EIMA_CGROUP_DEPTH 4
#define EIMA_CGROUP_NAME 128
struct eima_cgroup_path {
	char names[EIMA_CGROUP_DEPTH][EIMA_CGROUP_NAME];
};

/* Key and value of the kernel's "measured" cache (LRU hash): a file version already
 * reported for a mount namespace is not reported again. When the LRU evicts an entry the
 * file is reported again and the agent's own cache absorbs it: never a lost measurement. */
struct eima_measured_key {
	__u64 mntns;           /* eima_event_head.mntns_id: a new namespace starts empty */
	__u64 dev;
	__u64 ino;
};

struct eima_measured_val {
	__u64 cookie;
};

/* Per-CPU counters ("counters" map), exported by `eima status`. */
enum eima_counter {
	EIMA_CNT_HOOK_CALLS = 0,   /* hook invocations that looked at a file */
	EIMA_CNT_POLICY_SKIP = 1,  /* excluded by policy */
	EIMA_CNT_CACHE_HIT = 2,    /* already measured in this namespace */
	EIMA_CNT_EVENTS = 3,       /* events submitted */
	EIMA_CNT_DROPPED = 4,      /* ring buffer full: the agent logs one violation each */
	EIMA_CNT_PATH_ERRORS = 5,  /* a path could not be read whole (the agent logs a violation) */
	EIMA_CNT_DROPPED_UNATTRIBUTED = 6, /* drops dropped_by_mntns had no room for */
	EIMA_CNT_KERNEL_DIGESTS = 7,       /* files hashed in the hook (bpf_ima_file_hash) */
	EIMA_CNT_KERNEL_DIGEST_ERRORS = 8, /* ... that failed or changed: eimad hashed them */
	EIMA_CNT_APPRAISALS = 9,           /* files verified in a hook (cache misses) */
	EIMA_CNT_APPRAISAL_CACHE_HIT = 10, /* verdicts found in the verdict cache */
	EIMA_CNT_DENIED = 11,              /* accesses refused (enforce) or reported (audit) */
	EIMA_CNT_MAX = 16,
};

#endif /* EIMA_ABI_EVENT_H */
