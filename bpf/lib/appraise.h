/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Enforcement in the sleepable LSM hooks: a file an appraise rule covers runs or maps
 * executable only when its eima blessing (bpf/abi/blessing.h) is signed by a key of
 * eimad's keyring and names the digest bpf_ima_file_hash takes of it now, in the same hook
 * call that measured it (one digest: struct eima_digest_slot). The verdict is cached per
 * inode and change cookie, so a warm exec costs one lookup. Each refusal (and, in audit
 * mode, each would-be refusal) is an EIMA_EV_APPRAISAL event for eimad's audit log.
 * docs/enforcement.md has the threat model. Included by measure_lsm.bpf.c only.
 */
#ifndef EIMA_BPF_APPRAISE_H
#define EIMA_BPF_APPRAISE_H

#include "abi/appraise.h"
#include "abi/blessing.h"
#include "lib/measure.h"

#ifndef EPERM
#define EPERM 1
#endif
#ifndef ENODATA
#define ENODATA 61
#endif
#ifndef ENOKEY
#define ENOKEY 126
#endif

/* bpftool 7.1's vmlinux.h has no kfunc prototypes (../shared/DESIGN.md). */
extern int bpf_get_file_xattr(struct file *file, const char *name__str,
			      struct bpf_dynptr *value_p) __ksym __weak;
extern struct bpf_key *bpf_lookup_user_key(__u32 serial, __u64 flags) __ksym __weak;
extern void bpf_key_put(struct bpf_key *bkey) __ksym __weak;
extern int bpf_verify_pkcs7_signature(struct bpf_dynptr *data_p, struct bpf_dynptr *sig_p,
				      struct bpf_key *trusted_keyring) __ksym __weak;
extern int bpf_dynptr_clone(const struct bpf_dynptr *p, struct bpf_dynptr *clone__uninit) __ksym __weak;
extern int bpf_dynptr_adjust(const struct bpf_dynptr *p, __u32 start, __u32 end) __ksym __weak;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct eima_appraise_cfg);
} appraise_cfg SEC(".maps");

/* 64 Ki inodes; when full the LRU forgets the coldest, which is only verified again. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct eima_verdict_key);
	__type(value, struct eima_verdict);
} verdicts SEC(".maps");

/* Per task, because the hooks sleep (in the hash and the signature check): the digest
 * shared with measurement and the blessing's bytes. */
struct appraise_task {
	struct eima_digest_slot digest;
	__u8 value[EIMA_BLESSING_VALUE_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct appraise_task);
} appraise_task_storage SEC(".maps");

/* This task's slot for one hook call: its digest forgotten (a task runs one hook at a
 * time; a digest of an earlier call may be of a version since rewritten in place with the
 * same cookie, which must not be reused). NULL when the kernel has no memory for it: the
 * hook then measures without a digest and appraisal refuses (EIMA_AR_NO_DIGEST). */
static __always_inline struct appraise_task *appraise_task_get(void)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct appraise_task *t = bpf_task_storage_get(&appraise_task_storage, task, NULL,
							BPF_LOCAL_STORAGE_GET_F_CREATE);

	if (t)
		t->digest.algo = 0;
	return t;
}

static __always_inline __u32 hash_algo_size(__u32 algo)
{
	switch (algo) {
	case 2: /* HASH_ALGO_SHA1 */
		return 20;
	case 4: /* HASH_ALGO_SHA256 */
		return 32;
	case 5: /* HASH_ALGO_SHA384 */
		return 48;
	case 6: /* HASH_ALGO_SHA512 */
		return 64;
	default:
		return 0;
	}
}

/* The xattr names as constants: bpf_get_file_xattr takes only a string the verifier
 * can read. */
static const char xattr_user[] = "user.eima";
static const char xattr_security_bpf[] = "security.bpf.eima";

/*
 * The verdict for this file version: EIMA_AR_VERIFIED or why not; *err gets the kernel's
 * error behind it. Sleeps (hash, key lookup, signature).
 */
static __noinline __u32 appraise_verify(struct file *file, struct inode *inode,
					const struct eima_file_id *id, struct appraise_task *t,
					__s32 *err)
{
	struct bpf_dynptr value, data, sig;
	struct bpf_key *key;
	__u32 zero = 0;
	struct eima_appraise_cfg *cfg = bpf_map_lookup_elem(&appraise_cfg, &zero);
	__s32 algo;
	long len;

	*err = 0;
	if (!cfg)
		return EIMA_AR_NO_KEYRING;
	algo = slot_digest(&t->digest, file, inode, id);
	if (algo <= 0) {
		*err = algo;
		return EIMA_AR_NO_DIGEST;
	}
	bpf_dynptr_from_mem(t->value, sizeof(t->value), 0, &value);
	if (cfg->xattr == EIMA_XATTR_SECURITY_BPF)
		len = bpf_get_file_xattr(file, xattr_security_bpf, &value);
	else
		len = bpf_get_file_xattr(file, xattr_user, &value);
	if (len == -ENODATA)
		return EIMA_AR_NO_XATTR;
	if (len < 0) {
		*err = len;
		return EIMA_AR_XATTR_ERROR;
	}
	struct eima_blessing_hdr *h = (struct eima_blessing_hdr *)t->value;
	__u64 ds = h->digest_size;

	if (len <= sizeof(*h) || h->magic[0] != 'E' || h->magic[1] != 'I' || h->magic[2] != 'M' ||
	    h->magic[3] != 'A' || h->version != EIMA_BLESSING_VERSION || h->flags != 0 ||
	    ds > EIMA_BLESSING_DIGEST_MAX || ds != hash_algo_size(h->hash_algo) ||
	    sizeof(*h) + ds >= len)
		return EIMA_AR_MALFORMED;
	if (h->hash_algo != algo)
		return EIMA_AR_ALGO_MISMATCH;
	/* A byte-wise compare the verifier can bound: ds <= EIMA_BLESSING_DIGEST_MAX. */
	__u8 diff = 0;

	for (__u32 i = 0; i < EIMA_BLESSING_DIGEST_MAX; i++) {
		if (i >= ds)
			break;
		diff |= t->value[sizeof(*h) + i] ^ t->digest.digest[i];
	}
	if (diff)
		return EIMA_AR_DIGEST_MISMATCH;

	key = bpf_lookup_user_key(cfg->keyring, 0);
	if (!key)
		return EIMA_AR_NO_KEYRING;
	/* The signed message is the header and digest as they stand; the signature is the
	 * rest of the value. */
	bpf_dynptr_clone(&value, &data);
	bpf_dynptr_clone(&value, &sig);
	bpf_dynptr_adjust(&data, 0, sizeof(*h) + ds);
	bpf_dynptr_adjust(&sig, sizeof(*h) + ds, len);
	*err = bpf_verify_pkcs7_signature(&data, &sig, key);
	bpf_key_put(key);
	if (*err == -ENOKEY)
		return EIMA_AR_UNKNOWN_KEY;
	if (*err)
		return EIMA_AR_BAD_SIGNATURE;
	return EIMA_AR_VERIFIED;
}

/* One refusal (or would-be refusal) for eimad's audit log. Lost when the ring is full
 * (counted as a drop, as a file event is); the decision stands either way. */
static __always_inline void report_appraisal(struct file *file, const struct eima_file_id *id,
					     __u32 func, __u32 mask, __u32 rule_index,
					     __u32 reason, __s32 err, bool denied,
					     const struct eima_digest_slot *ds)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	__u64 mntns_ino = current_mntns_ino(task);
	struct event_scratch *s = scratch_claim();
	struct eima_event *ev;

	count(EIMA_CNT_DENIED);
	if (!s) {
		count_drop(mntns_ino);
		return;
	}
	ev = &s->ev;
	ev->head.kind = EIMA_EV_APPRAISAL;
	ev->head.func = func;
	ev->head.mask = mask;
	ev->head.rule_index = rule_index;
	ev->head.pcr = 0;
	ev->head.template_id = 0;
	ev->head.digest_algo = ds ? ds->algo : 0;
	fill_event(ev, file, task, id, mntns_ino, mntns_unique_id(task, mntns_ino),
		   denied ? EIMA_EVF_DENIED : 0);
	ev->head.appraise_reason = reason;
	ev->head.appraise_error = err;
	if (ds && ds->algo > 0 && ds->cookie == id->cookie) {
		ev->head.flags |= EIMA_EVF_KERNEL_DIGEST;
		__builtin_memcpy(ev->head.digest, ds->digest, EIMA_DIGEST_MAX);
	} else {
		__builtin_memset(ev->head.digest, 0, EIMA_DIGEST_MAX);
	}
	if (submit_event(ev))
		count_drop(mntns_ino);
	scratch_release(s);
}

/*
 * The appraisal of one access: 0 to allow, -EPERM to refuse. `t` is the hook call's task
 * slot, or NULL in a hook that cannot sleep (file_mprotect): then only a cached
 * "verified" for this very version allows, anything else is refused as EIMA_AR_NOT_VERIFIED.
 */
static __always_inline int appraise_file(struct file *file, __u32 func, __u32 mask,
					 bool reqprot_exec, struct appraise_task *t)
{
	__u32 zero = 0;
	struct eima_appraise_cfg *cfg = bpf_map_lookup_elem(&appraise_cfg, &zero);
	struct eima_policy *pol;
	struct eima_file_id id = {};
	struct eima_verdict_key vkey = {};
	struct eima_verdict *cached, verdict = {};
	struct eima_match m = {};
	struct inode *inode;

	if (!cfg || cfg->mode == EIMA_APPRAISE_OFF || !file)
		return 0;
	pol = bpf_map_lookup_elem(&policy, &zero);
	inode = BPF_CORE_READ(file, f_inode);
	if (!pol || !inode)
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	struct eima_access acc = {
		.func = func,
		.mask = mask,
		.reqprot_exec = reqprot_exec,
		.is_host = current_mntns_ino(task) == probe_config.host_mntns,
	};
	if (!appraise_match(pol, &acc, inode, &m))
		return 0;

	file_identity(inode, &id);
	vkey.dev = id.dev;
	vkey.ino = id.ino;
	cached = bpf_map_lookup_elem(&verdicts, &vkey);
	if (cached && cached->cookie == id.cookie) {
		count(EIMA_CNT_APPRAISAL_CACHE_HIT);
		verdict = *cached;
	} else if (t) {
		count(EIMA_CNT_APPRAISALS);
		verdict.cookie = id.cookie;
		verdict.reason = appraise_verify(file, inode, &id, t, &verdict.error);
		/* Only what the file and its xattr decide is cached: a missing digest, keyring
		 * or unreadable xattr may be gone at the next access. */
		if (verdict.reason != EIMA_AR_NO_DIGEST && verdict.reason != EIMA_AR_NO_KEYRING &&
		    verdict.reason != EIMA_AR_XATTR_ERROR)
			bpf_map_update_elem(&verdicts, &vkey, &verdict, BPF_ANY);
	} else {
		verdict.reason = EIMA_AR_NOT_VERIFIED;
	}
	if (verdict.reason == EIMA_AR_VERIFIED)
		return 0;
	bool deny = cfg->mode == EIMA_APPRAISE_ENFORCE;

	report_appraisal(file, &id, func, mask, m.rule_index, verdict.reason, verdict.error, deny,
			 t ? &t->digest : NULL);
	return deny ? -EPERM : 0;
}

#endif /* EIMA_BPF_APPRAISE_H */
