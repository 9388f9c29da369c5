/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Enforcement in lsm mode: what eimad tells the hooks (the "appraise_cfg" map), the
 * verdict cache ("verdicts") and why an access was refused. Defined once, here; read by
 * bpf/lib/appraise.h, written and decoded by src/enforce/. Reasons are stable numbers
 * (they appear in RUN/audit.jsonl by name, and in events): never renumber, only append.
 */
#ifndef EIMA_ABI_APPRAISE_H
#define EIMA_ABI_APPRAISE_H

#ifdef __bpf__
/* vmlinux.h provides __u8 .. __u64 */
#else
#include <linux/types.h>
#endif

enum eima_appraise_mode {
	EIMA_APPRAISE_OFF = 0,     /* appraise rules are ignored */
	EIMA_APPRAISE_AUDIT = 1,   /* decided and reported, never refused */
	EIMA_APPRAISE_ENFORCE = 2, /* refused with -EPERM, and reported */
};

/* Which xattr holds the blessing (docs/blessing.md). BPF may read user.* on 6.8+, and
 * security.bpf.* only from 6.13. */
enum eima_blessing_xattr {
	EIMA_XATTR_USER = 0,         /* user.eima */
	EIMA_XATTR_SECURITY_BPF = 1, /* security.bpf.eima */
};

/* The one value of the "appraise_cfg" array map. Written by eimad before it relies on the
 * hooks; a zeroed value (a freshly loaded object) means EIMA_APPRAISE_OFF. */
struct eima_appraise_cfg {
	__u32 mode;            /* enum eima_appraise_mode */
	__s32 keyring;         /* serial of eimad's locked keyring (bpf_lookup_user_key) */
	__u32 xattr;           /* enum eima_blessing_xattr */
	__u32 pad;
};

enum eima_appraise_reason {
	EIMA_AR_VERIFIED = 0,        /* not a refusal: signature and content match */
	EIMA_AR_NO_XATTR = 1,        /* the file has no blessing */
	EIMA_AR_XATTR_ERROR = 2,     /* the blessing could not be read (error: -errno) */
	EIMA_AR_MALFORMED = 3,       /* wrong magic, version, flags or sizes */
	EIMA_AR_NO_DIGEST = 4,       /* bpf_ima_file_hash failed or the file changed */
	EIMA_AR_ALGO_MISMATCH = 5,   /* the blessing's algorithm is not IMA's */
	EIMA_AR_DIGEST_MISMATCH = 6, /* content differs from the blessed digest */
	EIMA_AR_NO_KEYRING = 7,      /* eimad's keyring is gone (bpf_lookup_user_key) */
	EIMA_AR_BAD_SIGNATURE = 8,   /* bpf_verify_pkcs7_signature refused (error: -errno) */
	EIMA_AR_UNKNOWN_KEY = 9,     /* signed by a key the keyring does not hold (-ENOKEY) */
	/* file_mprotect cannot sleep, so it cannot hash or verify: a file the verdict cache
	 * does not know as verified (this version) is refused. */
	EIMA_AR_NOT_VERIFIED = 10,
	/* A change to a blessed file (one that carries the blessing xattr): refused whatever
	 * the blessing's validity, unless made by an eima bless that eimad authorized. */
	EIMA_AR_BLESSED = 11,
	EIMA_AR_MAX = 12,
};

/* What was refused (eima_event_head.appraise_op): the access func names, or a change to a
 * blessed file, by the LSM hook that saw it (bpf/lib/tamper.h). Stable numbers. */
enum eima_appraise_op {
	EIMA_OP_ACCESS = 0,      /* exec or mmap, as head.func says */
	EIMA_OP_WRITE = 1,       /* open for write (file_open with FMODE_WRITE) */
	EIMA_OP_TRUNCATE = 2,    /* truncate(2), ftruncate(2), O_TRUNC */
	EIMA_OP_RENAME = 3,      /* rename of the blessed file */
	EIMA_OP_RENAME_OVER = 4, /* rename of another file over it */
	EIMA_OP_UNLINK = 5,
	EIMA_OP_LINK = 6,        /* a hard link to it */
	EIMA_OP_SETXATTR = 7,    /* security.ima, security.evm, security.bpf.*, user.eima* */
	EIMA_OP_REMOVEXATTR = 8, /* the same names */
	EIMA_OP_MAX = 9,
};

/* The "bless_writers" hash map: the processes (tgid) that may change blessed files, an
 * eima bless that eimad authorized over its control socket (docs/enforcement.md). eimad
 * adds the entry when the request is accepted and removes it when that connection
 * closes. */
struct eima_bless_writer {
	__u64 since_ns;        /* CLOCK_MONOTONIC when eimad authorized it */
};

/* Verdict cache: one entry per inode, valid while cookie (eima_file_id.cookie, ctime and
 * size) is unchanged, so any write or xattr change (both move ctime) reverifies. LRU: an
 * evicted entry is only verified again. */
struct eima_verdict_key {
	__u64 dev;
	__u64 ino;
};

struct eima_verdict {
	__u64 cookie;
	__u32 reason;          /* enum eima_appraise_reason */
	__s32 error;
};

#endif /* EIMA_ABI_APPRAISE_H */
