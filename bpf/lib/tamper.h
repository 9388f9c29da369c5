/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Changes to a blessed file are refused (enforce) or reported (audit), where an appraise
 * rule covers the task that makes them: open for write, truncate, rename of it or over it,
 * unlink, a hard link to it, and set or remove of the xattrs appraisal relies on
 * (security.ima, security.evm, security.bpf.*, user.eima*). "Blessed" means the file
 * carries the blessing xattr, valid or not: a change is refused before the content or the
 * signature are looked at. The one exception is a process in "bless_writers", an eima bless
 * that eimad authorized (docs/enforcement.md).
 *
 * How a hook knows a file is blessed: reading an xattr from BPF sleeps
 * (bpf_get_file_xattr, bpf_get_dentry_xattr), and several hooks cannot sleep
 * (inode_link, file_truncate; inode_removexattr on 6.12). So the sleepable file_open, which
 * every exec, mmap and read of the file goes through first, reads the xattr and keeps the
 * answer in the inode's storage ("blessed_marks"), and the hooks that cannot sleep read
 * only that mark. Setting the blessing xattr (eima bless) marks the file at once, removing
 * it unmarks it.
 *
 * Where the kernel has bpf_get_dentry_xattr (Linux 6.12+, Debian's 6.12 included), eimad
 * loads sleepable variants of the unlink, link, rename and setxattr hooks (the *_read
 * programs), which read the xattr of an unmarked file themselves, and one on inode_setattr
 * for truncate(2): a blessed file is protected from those changes, opened or not. Without
 * it, a blessed file no task in scope opened since eimad started has no mark and is not
 * protected from the dentry and path hooks (it still cannot be opened for write, and is
 * refused at exec by its content); docs/enforcement.md says so. Removing the blessing
 * xattr itself needs no mark on any kernel (where it exists, the file is blessed);
 * removing security.ima or security.evm from a file never opened in scope is the one
 * change left to the mark (inode_removexattr cannot sleep on 6.12, where this object loads
 * too).
 *
 * Included by measure_lsm.bpf.c only, after lib/appraise.h.
 */
#ifndef EIMA_BPF_TAMPER_H
#define EIMA_BPF_TAMPER_H

#include "lib/appraise.h"

#ifndef ERANGE
#define ERANGE 34
#endif
#define EIMA_ATTR_SIZE (1 << 3) /* include/linux/fs.h: ATTR_SIZE */
#define EIMA_FMODE_WRITE 0x2    /* FMODE_WRITE */

/* Whether a file carries the blessing, as the last xattr read saw it. `cookie` is the file
 * version (ctime, size) of that read: an xattr change moves ctime, so file_open reads again.
 * The other hooks trust `blessed` whatever the cookie: a blessed file only stops being
 * blessed through a removexattr, which updates the mark. Freed with the inode. */
struct blessed_mark {
	__u64 cookie;
	__u32 blessed;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_INODE_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct blessed_mark);
} blessed_marks SEC(".maps");

/* Written by eimad only (struct eima_bless_writer). 64 bless processes at once; eimad
 * refuses the 65th authorization, which then cannot change blessed files. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, struct eima_bless_writer);
} bless_writers SEC(".maps");

/* The appraisal configuration when it enforces or audits, else NULL. */
static __always_inline struct eima_appraise_cfg *tamper_cfg(void)
{
	__u32 zero = 0;
	struct eima_appraise_cfg *cfg = bpf_map_lookup_elem(&appraise_cfg, &zero);

	if (!cfg || cfg->mode == EIMA_APPRAISE_OFF)
		return NULL;
	return cfg;
}

static __always_inline bool bless_writer(void)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	return bpf_map_lookup_elem(&bless_writers, &tgid) != NULL;
}

/*
 * True when an appraise rule covers an exec or an executable mmap of this inode by the
 * current task: the scope in which its changes are refused (m names the rule). Its own
 * frame: struct eima_access is large. The inode as read with BPF_CORE_READ (a scalar):
 * eima_policy_decide, a global function, takes no BTF pointer.
 */
static __always_inline bool tamper_in_scope(struct inode *inode, struct eima_match *m)
{
	__u32 zero = 0;
	struct eima_policy *pol = bpf_map_lookup_elem(&policy, &zero);
	struct task_struct *task = bpf_get_current_task_btf();
	bool is_host = current_mntns_ino(task) == probe_config.host_mntns;

	if (!pol || !inode)
		return false;
	struct eima_access exec = {
		.func = EIMA_FUNC_BPRM_CHECK, .mask = EIMA_MAY_EXEC, .is_host = is_host};
	if (appraise_match(pol, &exec, inode, m))
		return true;
	struct eima_access mmap = {
		.func = EIMA_FUNC_MMAP_CHECK, .mask = EIMA_MAY_EXEC, .is_host = is_host};
	return appraise_match(pol, &mmap, inode, m);
}

static __always_inline bool marked_blessed(struct inode *inode)
{
	struct blessed_mark *mark;

	if (!inode)
		return false;
	mark = bpf_inode_storage_get(&blessed_marks, inode, NULL, 0);
	return mark && mark->blessed;
}

/* One refusal (or would-be refusal) of a change, for eimad's audit log. vfsmnt may be NULL
 * (xattr hooks): the path is then the one inside the file's filesystem. */
static __noinline void report_tamper(struct dentry *dentry, struct vfsmount *vfsmnt,
				     __u32 op, __u32 rule_index, bool denied)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	__u64 mntns_ino = current_mntns_ino(task);
	struct inode *inode = BPF_CORE_READ(dentry, d_inode);
	struct path at = {.mnt = vfsmnt, .dentry = dentry};
	struct eima_file_id id = {};
	struct event_scratch *s = scratch_claim();
	struct eima_event *ev;

	count(EIMA_CNT_DENIED);
	if (!s) {
		count_drop(mntns_ino);
		return;
	}
	if (inode)
		file_identity(inode, &id);
	ev = &s->ev;
	ev->head.kind = EIMA_EV_APPRAISAL;
	ev->head.func = EIMA_FUNC_NONE;
	ev->head.mask = 0;
	ev->head.rule_index = rule_index;
	ev->head.pcr = 0;
	ev->head.template_id = 0;
	ev->head.digest_algo = 0;
	fill_event_at(ev, &at, task, &id, mntns_ino, mntns_unique_id(task, mntns_ino),
		      denied ? EIMA_EVF_DENIED : 0);
	ev->head.appraise_reason = EIMA_AR_BLESSED;
	ev->head.appraise_op = op;
	__builtin_memset(ev->head.digest, 0, EIMA_DIGEST_MAX);
	if (submit_event(ev))
		count_drop(mntns_ino);
	scratch_release(s);
}

/*
 * The decision on a change `op` to the file at dentry (mounted at vfsmnt, or NULL), known
 * to be blessed: 0 to allow, -EPERM to refuse. Out of scope, or by an authorized bless:
 * allowed, unreported.
 */
static __always_inline int tamper_decide(struct eima_appraise_cfg *cfg, struct dentry *dentry,
					 struct vfsmount *vfsmnt, __u32 op)
{
	struct eima_match m = {};

	if (bless_writer() || !tamper_in_scope(BPF_CORE_READ(dentry, d_inode), &m))
		return 0;
	bool deny = cfg->mode == EIMA_APPRAISE_ENFORCE;

	report_tamper(dentry, vfsmnt, op, m.rule_index, deny);
	return deny ? -EPERM : 0;
}

/* A change by a dentry or path hook: decided when the inode's mark says blessed. `inode`
 * is the dentry's, read by the hook from its arguments as a BTF pointer the verifier
 * trusts (inode storage wants one; 6.18 refuses one reached through file->f_path). */
static __always_inline int tamper_inode(struct dentry *dentry, struct vfsmount *vfsmnt,
					struct inode *inode, __u32 op)
{
	struct eima_appraise_cfg *cfg = tamper_cfg();

	if (!cfg || !dentry || !marked_blessed(inode))
		return 0;
	return tamper_decide(cfg, dentry, vfsmnt, op);
}

/*
 * file_open (sleepable): reads the blessing once per file version, for the tasks in scope,
 * into the inode's mark, and refuses an open for write of a blessed file. The value itself
 * is not needed: a buffer too small for it (-ERANGE) says it is there. Runs after
 * measurement in the same hook, which is done with the task's buffer by then.
 */
static __always_inline int tamper_file_open(struct file *file)
{
	struct eima_appraise_cfg *cfg = tamper_cfg();
	struct inode *inode;
	struct eima_file_id id = {};
	struct eima_match m = {};
	struct blessed_mark *mark;
	struct appraise_task *t;
	struct bpf_dynptr value;
	long len;

	if (!cfg || !file)
		return 0;
	inode = file->f_inode; /* a BTF pointer, for inode storage */
	if (!inode || !tamper_in_scope(BPF_CORE_READ(file, f_inode), &m))
		return 0;
	file_identity(inode, &id);
	mark = bpf_inode_storage_get(&blessed_marks, inode, NULL, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!mark || mark->cookie != id.cookie) {
		/* The task's blessing buffer, not the stack (bpf_dynptr_from_mem takes map
		 * memory only on 6.12); 8 bytes of it, so a blessing reads as -ERANGE. No
		 * buffer (no memory): decided as unblessed, unmarked, read again next time. */
		t = bpf_task_storage_get(&appraise_task_storage, bpf_get_current_task_btf(), NULL,
					 BPF_LOCAL_STORAGE_GET_F_CREATE);
		if (!t)
			return 0;
		bpf_dynptr_from_mem(t->value, 8, 0, &value);
		if (cfg->xattr == EIMA_XATTR_SECURITY_BPF)
			len = bpf_get_file_xattr(file, xattr_security_bpf, &value);
		else
			len = bpf_get_file_xattr(file, xattr_user, &value);
		bool blessed = len > 0 || len == -ERANGE;

		/* No memory for a mark: decided on this read alone. An error other than "no such
		 * xattr" is not kept: the next open reads again. */
		if (mark && (blessed || len >= 0 || len == -ENODATA)) {
			mark->cookie = id.cookie;
			mark->blessed = blessed;
		}
		if (!blessed)
			return 0;
	} else if (!mark->blessed) {
		return 0;
	}
	if (!(file->f_mode & EIMA_FMODE_WRITE) || bless_writer())
		return 0;
	bool deny = cfg->mode == EIMA_APPRAISE_ENFORCE;

	report_tamper(file->f_path.dentry, file->f_path.mnt, EIMA_OP_WRITE, m.rule_index, deny);
	return deny ? -EPERM : 0;
}

/* The first n bytes of s are p's (n counts p's NUL to compare whole strings). Unrolled:
 * there is no memcmp in BPF. */
static __always_inline bool bytes_eq(const char *s, const char *p, int n)
{
#pragma unroll
	for (int i = 0; i < 24; i++) {
		if (i >= n)
			break;
		if (s[i] != p[i])
			return false;
	}
	return true;
}

#define XATTR_NAME_BUF 24 /* longer than every name compared below, NUL included */

/* The xattrs a change of which is refused on a blessed file: security.ima and security.evm
 * exactly, security.bpf.* and user.eima* by prefix. `n` is the hook's name, read. */
static __always_inline bool protected_xattr(const char *n)
{
	return bytes_eq(n, "user.eima", 9) || bytes_eq(n, "security.bpf.", 13) ||
	       bytes_eq(n, "security.ima", 13) || bytes_eq(n, "security.evm", 13);
}

/* True when `n` (read) is the blessing xattr eimad reads. */
static __always_inline bool blessing_xattr(struct eima_appraise_cfg *cfg, const char *n)
{
	if (cfg->xattr == EIMA_XATTR_SECURITY_BPF)
		return bytes_eq(n, xattr_security_bpf, sizeof(xattr_security_bpf));
	return bytes_eq(n, xattr_user, sizeof(xattr_user));
}

/* The hook's xattr name into n[XATTR_NAME_BUF]; a longer name keeps its first 23 bytes,
 * which is all the comparisons look at. False when it cannot be read. */
static __always_inline bool xattr_name(const char *name, char *n)
{
	return bpf_probe_read_kernel_str(n, XATTR_NAME_BUF, name) > 0;
}

/* 6.12+; bpftool 7.1's vmlinux.h has no kfunc prototypes. */
extern int bpf_get_dentry_xattr(struct dentry *dentry, const char *name__str,
				struct bpf_dynptr *value_p) __ksym __weak;

/* Whether the dentry carries the blessing, read now (sleepable hooks). As in
 * tamper_file_open, 8 bytes of the task's buffer: a blessing reads as -ERANGE. No buffer,
 * or an error other than "no such xattr": not known as blessed (the mark may still say).
 * The kernel reads it only for a task that may read the file (inode_permission, as for
 * bpf_get_file_xattr): for any other task, only the mark tells. */
static __always_inline bool dentry_blessed(struct eima_appraise_cfg *cfg, struct dentry *dentry)
{
	struct appraise_task *t = bpf_task_storage_get(&appraise_task_storage,
						       bpf_get_current_task_btf(), NULL,
						       BPF_LOCAL_STORAGE_GET_F_CREATE);
	struct bpf_dynptr value;
	long len;

	if (!t)
		return false;
	bpf_dynptr_from_mem(t->value, 8, 0, &value);
	if (cfg->xattr == EIMA_XATTR_SECURITY_BPF)
		len = bpf_get_dentry_xattr(dentry, xattr_security_bpf, &value);
	else
		len = bpf_get_dentry_xattr(dentry, xattr_user, &value);
	return len > 0 || len == -ERANGE;
}

/* A change by a sleepable dentry or path hook (the *_read programs): decided when
 * the task is in scope and the file is blessed, by its mark or by its xattr read now. The
 * scope comes first: a change out of scope costs no xattr read. */
static __always_inline int tamper_dentry_read(struct dentry *dentry, struct vfsmount *vfsmnt,
					      __u32 op)
{
	struct eima_appraise_cfg *cfg = tamper_cfg();
	struct eima_match m = {};
	struct inode *inode;

	if (!cfg || !dentry)
		return 0;
	inode = dentry->d_inode;
	if (!inode || bless_writer() || !tamper_in_scope(BPF_CORE_READ(dentry, d_inode), &m))
		return 0;
	if (!marked_blessed(inode) && !dentry_blessed(cfg, dentry))
		return 0;
	bool deny = cfg->mode == EIMA_APPRAISE_ENFORCE;

	report_tamper(dentry, vfsmnt, op, m.rule_index, deny);
	return deny ? -EPERM : 0;
}

static __always_inline int tamper_xattr_read(struct dentry *dentry, const char *name, __u32 op)
{
	char n[XATTR_NAME_BUF] = {};

	if (!xattr_name(name, n) || !protected_xattr(n))
		return 0;
	return tamper_dentry_read(dentry, NULL, op);
}

/* Hooks whose dentry is an argument: its d_inode is one the verifier trusts (or NULL). */
static __always_inline int tamper_dentry(struct dentry *dentry, struct vfsmount *vfsmnt, __u32 op)
{
	return dentry ? tamper_inode(dentry, vfsmnt, dentry->d_inode, op) : 0;
}

static __always_inline int tamper_xattr(struct dentry *dentry, const char *name, __u32 op)
{
	char n[XATTR_NAME_BUF] = {};

	if (!xattr_name(name, n) || !protected_xattr(n))
		return 0;
	return tamper_dentry(dentry, NULL, op);
}

/* Removing a protected xattr. The blessing xattr needs no mark: a file that has it is
 * blessed, and removing it from one that has not fails anyway (EPERM then, not ENODATA,
 * and audit mode records it as enforce would refuse it). The others follow the mark. */
static __always_inline int tamper_removexattr(struct dentry *dentry, const char *name)
{
	struct eima_appraise_cfg *cfg = tamper_cfg();
	char n[XATTR_NAME_BUF] = {};

	if (!cfg || !dentry || !xattr_name(name, n) || !protected_xattr(n))
		return 0;
	if (blessing_xattr(cfg, n))
		return tamper_decide(cfg, dentry, NULL, EIMA_OP_REMOVEXATTR);
	return tamper_dentry(dentry, NULL, EIMA_OP_REMOVEXATTR);
}

/* A size change through notify_change (truncate(2), and every other truncate after its
 * own hook) of a file without a mark, read now (6.13+). A marked file was decided by
 * path_truncate, file_truncate or file_open already, with its mount in the record. */
static __always_inline int tamper_setattr_read(struct dentry *dentry, struct iattr *attr)
{
	if (!dentry || !attr || !(attr->ia_valid & EIMA_ATTR_SIZE) ||
	    marked_blessed(dentry->d_inode))
		return 0;
	return tamper_dentry_read(dentry, NULL, EIMA_OP_TRUNCATE);
}

/* After a blessing xattr was set (by anyone: eima bless runs on the host, out of scope) or
 * removed: the mark follows, so the dentry hooks know at once. */
static __always_inline void tamper_mark(struct dentry *dentry, const char *name, bool blessed)
{
	struct eima_appraise_cfg *cfg = tamper_cfg();
	struct inode *inode;
	struct blessed_mark *mark;
	char n[XATTR_NAME_BUF] = {};

	if (!cfg || !dentry || !xattr_name(name, n) || !blessing_xattr(cfg, n))
		return;
	inode = dentry->d_inode;
	if (!inode)
		return;
	mark = bpf_inode_storage_get(&blessed_marks, inode, NULL,
				     blessed ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
	if (!mark)
		return;
	mark->blessed = blessed;
	/* The xattr change moved ctime: the next file_open reads the xattr again. */
	mark->cookie = 0;
}

#endif /* EIMA_BPF_TAMPER_H */
