/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A file's path as the process that touched it sees it: walk the dentries up to the
 * process's root (a container's pivot_root or chroot), crossing mount points, as d_path()
 * does. bpf_d_path() is not allowed in tracepoints or non-sleepable LSM hooks, so we walk.
 * The walk is bounded; a deeper or longer path is reported truncated (its tail is kept),
 * and eimad records a violation rather than a wrong name.
 */
#ifndef EIMA_BPF_FILE_PATH_H
#define EIMA_BPF_FILE_PATH_H

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "abi/event.h"

/* Components plus mount crossings; deeper paths are reported truncated. */
#define EIMA_PATH_MAX_STEPS 40
/* Highest start of a component; '/' + a 255-byte name after it stay inside path_buf. */
#define EIMA_PATH_LAST_POS (EIMA_PATH_MAX - 1)

struct path_cursor {
	struct dentry *dentry;
	struct vfsmount *vfsmnt;
	struct dentry *root_dentry;
	struct vfsmount *root_vfsmnt;
};

static __always_inline struct mount *real_mount_of(struct vfsmount *vfsmnt)
{
	return (struct mount *)((void *)vfsmnt - bpf_core_field_offset(struct mount, mnt));
}

/* Moves the cursor one component up. Returns the dentry whose name is the component just
 * passed, NULL for a mount crossing (no component) or, with *done set, at the root. */
static __always_inline struct dentry *path_step(struct path_cursor *c, __u32 *done)
{
	struct dentry *d = c->dentry;
	struct vfsmount *vfsmnt = c->vfsmnt; /* a local: CO-RE must not relocate our struct */

	if (d == c->root_dentry && vfsmnt == c->root_vfsmnt) {
		*done = 1;
		return NULL;
	}
	if (d == BPF_CORE_READ(vfsmnt, mnt_root)) {
		struct mount *mnt = real_mount_of(vfsmnt);
		struct mount *parent = BPF_CORE_READ(mnt, mnt_parent);

		if (parent == mnt) { /* top of this mount tree */
			*done = 1;
			return NULL;
		}
		c->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
		c->vfsmnt = (struct vfsmount *)((void *)parent +
						bpf_core_field_offset(struct mount, mnt));
		return NULL;
	}
	struct dentry *parent = BPF_CORE_READ(d, d_parent);

	if (parent == d) {
		*done = 1;
		return NULL;
	}
	c->dentry = parent;
	return d;
}

/* p->mnt NULL (a hook that has only the dentry): the walk ends at the root of the dentry's
 * filesystem, so the path is the one inside that filesystem. Read straight into the
 * cursor: a temporary would cost stack, which eima_bprm_check_hash has none to spare of. */
static __always_inline void path_start(struct path_cursor *c, const struct path *p,
				       struct task_struct *task)
{
	c->dentry = BPF_CORE_READ(p, dentry);
	c->vfsmnt = BPF_CORE_READ(p, mnt);
	c->root_dentry = BPF_CORE_READ(task, fs, root.dentry);
	c->root_vfsmnt = BPF_CORE_READ(task, fs, root.mnt);
}

struct path_walk {
	struct path_cursor cursor;
	struct eima_event *ev; /* NULL in walk 1 */
	__u32 total;   /* walk 1: bytes the path needs */
	__u32 pos;     /* walk 2: where the next component ends */
	__u32 done;   /* u32, not bool: callbacks must return a provable 0 or 1 */
};

/*
 * The bpf_loop callback of both walks (the verifier checks it once, not once per unrolled
 * step). One function for both, told apart by ev: measure_lsm has room for only so many
 * functions in its signed loader (docs/signed-bpf.md).
 */
static long path_walk_step(__u64 i, void *data)
{
	struct path_walk *w = data;
	struct eima_event *ev = w->ev;
	struct dentry *d = path_step(&w->cursor, &w->done);

	if (!d)
		return w->done ? 1 : 0;
	__u32 len = BPF_CORE_READ(d, d_name.len) & 0xff;

	if (!ev) {
		w->total += len + 1;
		return w->done ? 1 : 0;
	}
	const unsigned char *name = BPF_CORE_READ(d, d_name.name);

	if (w->pos < len + 1)
		return 1; /* truncated, or renamed since the first walk: keep the tail */
	w->pos -= len + 1;
	/* pos <= EIMA_PATH_LAST_POS already; the mask lets the verifier see it. */
	__u32 at = w->pos & (EIMA_PATH_MAX - 1);

	ev->path_buf[at] = '/';
	if (bpf_probe_read_kernel(&ev->path_buf[at + 1], len, name))
		ev->head.flags |= EIMA_EVF_NO_PATH;
	return 0;
}

/* Fills ev->path_buf and head.path_off/path_len/flags. Two walks: the first measures the length,
 * the second writes each component at its final place, leaf first. */
static __always_inline void dentry_path(const struct path *p, struct task_struct *task,
					struct eima_event *ev)
{
	struct path_walk w = {};

	path_start(&w.cursor, p, task);
	bpf_loop(EIMA_PATH_MAX_STEPS, path_walk_step, &w, 0);
	if (!w.done)
		ev->head.flags |= EIMA_EVF_PATH_TRUNCATED;
	if (w.total > EIMA_PATH_LAST_POS) {
		w.total = EIMA_PATH_LAST_POS;
		ev->head.flags |= EIMA_EVF_PATH_TRUNCATED;
	}
	if (w.total == 0) { /* the root itself, or an anonymous file */
		ev->path_buf[0] = '/';
		ev->head.path_off = 0;
		ev->head.path_len = 1;
		return;
	}
	w.pos = w.total;
	w.done = 0;
	w.ev = ev;
	path_start(&w.cursor, p, task);
	bpf_loop(EIMA_PATH_MAX_STEPS, path_walk_step, &w, 0);
	if (w.pos != 0)
		ev->head.flags |= EIMA_EVF_PATH_TRUNCATED;
	ev->head.path_off = w.pos;
	ev->head.path_len = w.total - w.pos;
}

static __always_inline void file_path(struct file *file, struct task_struct *task,
				      struct eima_event *ev)
{
	dentry_path(&file->f_path, task, ev);
}

#endif /* EIMA_BPF_FILE_PATH_H */
