/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What every measuring hook does, whichever mechanism fired it (BPF LSM or tracepoint):
 * identify the file version, skip it when this mount namespace already measured it, ask
 * the compiled IMA policy, and hand the file to eimad on the "events" ring buffer.
 * Included by measure_lsm.bpf.c and measure_trace.bpf.c; nothing here attaches.
 */
#ifndef EIMA_BPF_MEASURE_H
#define EIMA_BPF_MEASURE_H

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "abi/event.h"
#include "abi/policy.h"
#include "lib/file_path.h"
#include "lib/policy_match.h"

#ifndef PROT_EXEC
#define PROT_EXEC 0x4
#endif
#ifndef VM_EXEC
#define VM_EXEC 0x4
#endif
#define FMODE_READ 0x1
#define FMODE_WRITE 0x2
#ifndef ESTALE
#define ESTALE 116
#endif

/* Set by eimad before it attaches the programs (bpf/abi/event.h). */
struct eima_probe_config probe_config SEC(".data.config") = {
	.wakeup_bytes = EIMA_WAKEUP_BYTES,
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct eima_policy);
} policy SEC(".maps");

/* 4 MiB, sized by memory: a record is the event head and its path (EIMA_EVENT_RECORD_SIZE,
 * plus the ring's 8-byte header, rounded up to 8), ~280 bytes for a 40-byte path, so ~15,000
 * events (~0.5 s of a 30,000/s burst while eimad does nothing else); 4.6 KiB for the
 * longest path. libbpf maps the data pages twice in eimad (so that a record that wraps
 * reads contiguously), so eimad's RSS counts twice this size; --ring-buffer-kb sets it.
 * When it is full the event is dropped, counted in EIMA_CNT_DROPPED and the file is not
 * marked measured, so eimad logs a violation for the drop and the next access reports the
 * file again. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 * 1024 * 1024);
} events SEC(".maps");

/* Where an event is assembled before bpf_ringbuf_output copies its real length into the
 * ring: a ring slot can only be reserved at a size known to the verifier, and the whole
 * path buffer is 4.3 KiB, far too big for the stack. Per CPU, and more than one slot per
 * CPU because the hooks run with migration disabled but can be preempted (the sleepable
 * ones, and all of them on a preemptible kernel) by another hook on the same CPU; a slot
 * is claimed with a compare-and-swap. With every slot of this CPU busy the event is
 * treated as a ring-buffer drop (counted, logged as a violation, reported again). */
#define EIMA_SCRATCH_SLOTS 4 /* scratch_claim tries each */

struct event_scratch {
	__u32 busy;
	__u32 pad;
	struct eima_event ev;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, EIMA_SCRATCH_SLOTS);
	__type(key, __u32);
	__type(value, struct event_scratch);
} event_scratch SEC(".maps");

/* File versions already reported per mount namespace. LRU: an evicted entry only means
 * the file is reported again, and eimad's own cache keeps the log free of duplicates. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 131072);
	__type(key, struct eima_measured_key);
	__type(value, struct eima_measured_val);
} measured SEC(".maps");

/* Mount namespaces eimad has set up (container root held open), by unique id: an inode
 * number is reused as soon as its namespace dies, often before eimad has seen the death,
 * and a reused inode found here would leave a new container unannounced. The first event
 * of an unknown namespace wakes eimad at once, so it can reach the container's root while
 * a process of it still lives; the rest are batched. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u8);
} known_mntns SEC(".maps");

/* Events lost to a full ring buffer, per mount namespace, so eimad can log the
 * violations into the list of the container that lost them. If this map is full too the
 * loss is still counted in EIMA_CNT_DROPPED and logged against the host. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u64);
} dropped_by_mntns SEC(".maps");

/*
 * eimad's process, whose own opens are not FILE_CHECKed (it would measure the files it
 * writes and reads to measure): its tgid -> its start time (the group leader's start_time,
 * 0 until its first open seen here). A map, not rodata, so that a restarted eimad that
 * adopts the pinned set puts its own tgid here (it adds its entry before it removes the
 * dead one's, so no open of its falls between); the start time keeps a process that got
 * the dead eimad's pid before that from being skipped. Two entries: old and new, briefly.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} agent SEC(".maps");

/* The cgroup of a namespace eimad does not know yet (struct eima_cgroup_path), taken at its
 * first event; eimad takes it out when it names the container. LRU: a namespace eimad
 * never names only costs an entry until newer ones push it out. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, struct eima_cgroup_path);
} cgroup_of_mntns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, EIMA_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* struct eima_event is in the object's BTF as event_scratch's value, where
 * tests/unit/agent/abi_layout_test.cpp checks it against the C++ layout. */

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &idx);

	/* Atomic: a sleepable hook can be preempted by another on the same CPU. */
	if (v)
		__sync_fetch_and_add(v, 1);
}

/* The current task is eimad's (the agent map). Its start time is taken at the first open
 * after eimad wrote its tgid: only eimad's own threads have that tgid while eimad lives,
 * and they all store the same value. Inlined into file_open, whose frame holds nothing
 * else (measure_lsm.bpf.c: tamper_open): its key is the frame's 8 bytes. */
static __always_inline bool current_is_agent(void)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u64 *start = bpf_map_lookup_elem(&agent, &tgid);

	if (!start)
		return false;
	/* BTF pointers, not probe reads: those would need 16 bytes of stack in a frame that
	 * has 16 to spare (measure_lsm.bpf.c: file_open). */
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 mine = task->group_leader->start_time;

	if (*start == 0)
		*start = mine;
	return *start == mine;
}

static __always_inline struct event_scratch *scratch_try(__u32 slot)
{
	struct event_scratch *s = bpf_map_lookup_elem(&event_scratch, &slot);

	return s && __sync_val_compare_and_swap(&s->busy, 0, 1) == 0 ? s : NULL;
}

/* Written out, not a loop: 6.12's verifier takes the loop (its key on the stack,
 * imprecise) for an infinite one, and clang does not unroll it. */
static __always_inline struct event_scratch *scratch_claim(void)
{
	struct event_scratch *s = scratch_try(0);

	if (!s)
		s = scratch_try(1);
	if (!s)
		s = scratch_try(2);
	if (!s)
		s = scratch_try(3);
	return s;
}

static __always_inline void scratch_release(struct event_scratch *s)
{
	/* Only the claimer writes a claimed slot, on this CPU: a plain store is enough. */
	*(volatile __u32 *)&s->busy = 0;
}

/* An event that could not be queued. Not marked measured: the next access reports it
 * again, and eimad logs one violation per count, in the namespace's list. */
static __always_inline void count_drop(__u64 mntns_ino)
{
	__u64 one = 1, *n = bpf_map_lookup_elem(&dropped_by_mntns, &mntns_ino);

	if (n)
		__sync_fetch_and_add(n, 1);
	else if (bpf_map_update_elem(&dropped_by_mntns, &mntns_ino, &one, BPF_NOEXIST))
		count(EIMA_CNT_DROPPED_UNATTRIBUTED);
	count(EIMA_CNT_DROPPED);
}

/* A mount namespace's never-reused id: ns_common.ns_id (6.18+), mnt_namespace.seq before. */
struct ns_common___with_id {
	__u64 ns_id;
} __attribute__((preserve_access_index));
struct mnt_namespace___with_seq {
	__u64 seq;
} __attribute__((preserve_access_index));

static __always_inline __u64 mntns_unique_id(struct task_struct *task, __u64 inum)
{
	struct mnt_namespace *ns = BPF_CORE_READ(task, nsproxy, mnt_ns);
	__u64 id = 0;

	if (bpf_core_field_exists(((struct ns_common___with_id *)0)->ns_id))
		id = BPF_CORE_READ((struct ns_common___with_id *)&ns->ns, ns_id);
	else if (bpf_core_field_exists(((struct mnt_namespace___with_seq *)0)->seq))
		id = BPF_CORE_READ((struct mnt_namespace___with_seq *)ns, seq);
	return id ? id : inum;
}

struct inode___pre611 {
	struct timespec64 __i_ctime;
} __attribute__((preserve_access_index));

struct inode___pre66 {
	struct timespec64 i_ctime;
} __attribute__((preserve_access_index));

static __always_inline __u64 inode_ctime_ns(struct inode *inode)
{
	/* Since 6.13 (multigrain timestamps) the top bit of i_ctime_nsec says "someone
	 * looked" and flips on stat(): keep only the nanoseconds. */
	if (bpf_core_field_exists(inode->i_ctime_sec))
		return BPF_CORE_READ(inode, i_ctime_sec) * 1000000000ull +
		       (BPF_CORE_READ(inode, i_ctime_nsec) & 0x3fffffff);
	if (bpf_core_field_exists(((struct inode___pre611 *)inode)->__i_ctime)) {
		struct timespec64 t = BPF_CORE_READ((struct inode___pre611 *)inode, __i_ctime);
		return t.tv_sec * 1000000000ull + t.tv_nsec;
	}
	struct timespec64 t = BPF_CORE_READ((struct inode___pre66 *)inode, i_ctime);
	return t.tv_sec * 1000000000ull + t.tv_nsec;
}

static __always_inline void file_identity(struct inode *inode, struct eima_file_id *id)
{
	id->dev = BPF_CORE_READ(inode, i_sb, s_dev);
	id->ino = BPF_CORE_READ(inode, i_ino);
	id->generation = BPF_CORE_READ(inode, i_generation);
	id->ctime_ns = inode_ctime_ns(inode);
	id->size = BPF_CORE_READ(inode, i_size);
	/* ctime moves with every write (and every metadata change, which only costs a
	 * re-measurement). Not i_version: ext4 bumps it when a read updates atime, which
	 * would measure an unchanged file again. */
	id->cookie = id->ctime_ns ^ (id->size * 0x9e3779b97f4a7c15ull);
}

/*
 * The file's digest, taken now, in the hook, as kernel IMA takes it: bpf_ima_file_hash
 * hashes with IMA's algorithm (ima_hash=, SHA-256 on the distributions' kernels) whether
 * or not an IMA policy is loaded. Only sleepable LSM programs may call it. The digest
 * counts only if the file is still the version `id` describes once it is hashed: an
 * executable cannot be written during exec, but a library being mapped can. Returns the
 * kernel's enum hash_algo, or -errno (-ESTALE: the file changed while it was hashed).
 */
static __always_inline __s32 kernel_digest(struct file *file, struct inode *inode,
					   const struct eima_file_id *id, __u8 *digest)
{
	struct eima_file_id after = {};
	long algo = bpf_ima_file_hash(file, digest, EIMA_DIGEST_MAX);

	if (algo < 0) {
		count(EIMA_CNT_KERNEL_DIGEST_ERRORS);
		return algo;
	}
	file_identity(inode, &after);
	if (after.cookie != id->cookie) {
		count(EIMA_CNT_KERNEL_DIGEST_ERRORS);
		return -ESTALE;
	}
	count(EIMA_CNT_KERNEL_DIGESTS);
	return algo;
}

/*
 * The digest one hook call took of its file, shared by measurement and appraisal so that a
 * file is hashed once per call (bpf/lib/appraise.h keeps it in task storage: the sleepable
 * hooks may sleep, so a per-CPU slot could be taken over mid-hash).
 */
struct eima_digest_slot {
	__u64 cookie;          /* eima_file_id.cookie of the version hashed */
	__s32 algo;            /* kernel_digest()'s result; 0: not taken in this call */
	__u32 pad;
	__u8 digest[EIMA_DIGEST_MAX];
};

/* The slot's digest of this file version, taken now if this call has none yet. */
static __always_inline __s32 slot_digest(struct eima_digest_slot *ds, struct file *file,
					 struct inode *inode, const struct eima_file_id *id)
{
	if (ds->algo == 0 || ds->cookie != id->cookie) {
		ds->algo = kernel_digest(file, inode, id, ds->digest);
		ds->cookie = id->cookie;
	}
	return ds->algo;
}

/*
 * What every event says of the task and the file: ids, namespaces, comm and path. The
 * caller sets kind, func, mask, the rule and the digest fields.
 */
static __always_inline void fill_event_at(struct eima_event *ev, const struct path *p,
					  struct task_struct *task, const struct eima_file_id *id,
					  __u64 mntns_ino, __u64 mntns_id, __u32 flags)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	ev->head.pid = (__u32)pid_tgid;
	ev->head.tgid = pid_tgid >> 32;
	ev->head.uid = (__u32)bpf_get_current_uid_gid();
	ev->head.flags = flags;
	ev->head.mntns = mntns_ino;
	ev->head.mntns_id = mntns_id;
	ev->head.pidns = BPF_CORE_READ(task, nsproxy, pid_ns_for_children, ns.inum);
	ev->head.utsns = BPF_CORE_READ(task, nsproxy, uts_ns, ns.inum);
	ev->head.cgroup_id = bpf_get_current_cgroup_id();
	ev->head.ktime_ns = bpf_ktime_get_ns();
	ev->head.file = *id;
	ev->head.appraise_reason = 0;
	ev->head.appraise_error = 0;
	ev->head.appraise_op = 0;
	ev->head.pad2 = 0;
	bpf_get_current_comm(ev->head.comm, sizeof(ev->head.comm));
	dentry_path(p, task, ev);
	if (ev->head.flags & (EIMA_EVF_PATH_TRUNCATED | EIMA_EVF_NO_PATH))
		count(EIMA_CNT_PATH_ERRORS);
}

static __always_inline void fill_event(struct eima_event *ev, struct file *file,
				       struct task_struct *task, const struct eima_file_id *id,
				       __u64 mntns_ino, __u64 mntns_id, __u32 flags)
{
	fill_event_at(ev, &file->f_path, task, id, mntns_ino, mntns_id, flags);
}

/* Queues an assembled event; wakes eimad for a namespace it does not know yet, or when
 * the ring fills. Returns bpf_ringbuf_output's result. */
static __always_inline long submit_event(struct eima_event *ev)
{
	__u64 wake = BPF_RB_NO_WAKEUP;
	__u64 mntns_id = ev->head.mntns_id;

	if (!bpf_map_lookup_elem(&known_mntns, &mntns_id) ||
	    bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= probe_config.wakeup_bytes)
		wake = BPF_RB_FORCE_WAKEUP;
	/* file_path keeps path_off + path_len <= EIMA_PATH_MAX; the clamp shows the verifier
	 * that the copy stays inside the slot. */
	__u32 size = EIMA_EVENT_RECORD_SIZE(ev->head);

	if (size > sizeof(*ev))
		size = sizeof(*ev);
	return bpf_ringbuf_output(&events, ev, size, wake);
}

/* kernfs_node.parent became __parent in 6.15: both, so that either vmlinux.h builds. */
struct kernfs_node___parent {
	struct kernfs_node *parent;
} __attribute__((preserve_access_index));
struct kernfs_node___uparent {
	struct kernfs_node *__parent;
} __attribute__((preserve_access_index));

static __always_inline struct kernfs_node *kernfs_parent(struct kernfs_node *kn)
{
	if (bpf_core_field_exists(((struct kernfs_node___uparent *)0)->__parent))
		return BPF_CORE_READ((struct kernfs_node___uparent *)kn, __parent);
	return BPF_CORE_READ((struct kernfs_node___parent *)kn, parent);
}

/* Zeros to create a cgroup_of_mntns entry from (a map value may come only from memory). */
static struct eima_cgroup_path cgroup_path_zero;

/* Keeps the task's cgroup v2 path for a namespace eimad does not know yet (the first such
 * event wins; later ones find the entry). A task in the v2 root while its memory
 * controller sits in a v1 hierarchy (a hybrid host: runc and podman with cgroupfs make no
 * v2 cgroup there) is named by its memory cgroup instead, which the runtime named after
 * the container the same way. */
static __always_inline void note_cgroup(struct task_struct *task, __u64 mntns_id)
{
	if (bpf_map_lookup_elem(&cgroup_of_mntns, &mntns_id) ||
	    bpf_map_update_elem(&cgroup_of_mntns, &mntns_id, &cgroup_path_zero, BPF_NOEXIST))
		return;
	struct eima_cgroup_path *p = bpf_map_lookup_elem(&cgroup_of_mntns, &mntns_id);
	struct kernfs_node *kn = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn);

	if (!p)
		return;
	if (kn && !kernfs_parent(kn) &&
	    bpf_core_enum_value_exists(enum cgroup_subsys_id, memory_cgrp_id)) {
		struct css_set *cset = BPF_CORE_READ(task, cgroups);
		struct cgroup_subsys_state *css = NULL;
		__u32 id = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);

		/* A probe read at a relocated index: the verifier needs no bound for it. */
		bpf_probe_read_kernel(&css, sizeof(css), &cset->subsys[0] + id);
		struct kernfs_node *v1 = css ? BPF_CORE_READ(css, cgroup, kn) : NULL;

		if (v1 && kernfs_parent(v1))
			kn = v1;
	}
#pragma unroll
	for (int i = 0; i < EIMA_CGROUP_DEPTH; i++) {
		if (!kn)
			break;
		bpf_probe_read_kernel_str(p->names[i], EIMA_CGROUP_NAME, BPF_CORE_READ(kn, name));
		kn = kernfs_parent(kn);
	}
}

static __always_inline __u64 current_mntns_ino(struct task_struct *task)
{
	return BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
}

/*
 * The body of every hook. `file` is the file being executed or mapped; `func` and `mask`
 * are as IMA would see them. Never denies: measurement only. With a digest slot `ds`
 * (sleepable LSM programs only; NULL elsewhere) the file is hashed here, on a cache miss,
 * in the task that runs it, so the digest is of what ran, even if the process and its
 * container are gone by the time eimad reads the event; the slot keeps the digest for the
 * appraisal that follows in the same hook. Returns true when this file version is now in
 * the namespace's list (already, or reported just now).
 */
static __always_inline bool measure_file(struct file *file, __u32 func, __u32 mask,
					 bool reqprot_exec, __u32 flags,
					 struct eima_digest_slot *ds)
{
	__s32 digest_algo = 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task_btf();
	struct eima_measured_key key = {};
	struct eima_measured_val *seen, val;
	struct eima_file_id id = {};
	struct eima_event *ev;
	struct inode *inode;
	__u32 zero = 0;

	if (!file)
		return false;
	count(EIMA_CNT_HOOK_CALLS);
	inode = BPF_CORE_READ(file, f_inode);
	if (!inode)
		return false;
	file_identity(inode, &id);

	/* The inode names the namespace to user space and keys what is per live namespace
	 * (known, lost-event counts); the unique id keys what a reused inode must not inherit. */
	__u64 mntns_ino = current_mntns_ino(task);

	key.mntns = mntns_unique_id(task, mntns_ino);
	key.dev = id.dev;
	key.ino = id.ino;
	seen = bpf_map_lookup_elem(&measured, &key);
	if (seen && seen->cookie == id.cookie) {
		count(EIMA_CNT_CACHE_HIT);
		return true;
	}

	struct eima_policy *pol = bpf_map_lookup_elem(&policy, &zero);
	struct eima_match m = {};

	if (!pol)
		return false;
	struct eima_access acc = {
		.func = func,
		.mask = mask,
		.reqprot_exec = reqprot_exec,
		.is_host = mntns_ino == probe_config.host_mntns,
	};
	if (!policy_match(pol, &acc, inode, &m)) {
		count(EIMA_CNT_POLICY_SKIP);
		return false;
	}

	/* Before a scratch slot is claimed: a task that sleeps in the hash holding one would
	 * leave one fewer for every other hook on this CPU. */
	if (ds)
		digest_algo = slot_digest(ds, file, inode, &id);

	struct event_scratch *s = scratch_claim();

	if (!s) {
		count_drop(mntns_ino);
		return false;
	}
	ev = &s->ev;
	ev->head.kind = EIMA_EV_FILE;
	ev->head.func = func;
	ev->head.mask = mask;
	ev->head.rule_index = m.rule_index;
	ev->head.pcr = m.pcr;
	ev->head.template_id = m.template_id;
	ev->head.digest_algo = digest_algo;
	fill_event(ev, file, task, &id, mntns_ino, key.mntns, flags);
	if (ds && digest_algo > 0) {
		ev->head.flags |= EIMA_EVF_KERNEL_DIGEST;
		__builtin_memcpy(ev->head.digest, ds->digest, EIMA_DIGEST_MAX);
	} else {
		__builtin_memset(ev->head.digest, 0, EIMA_DIGEST_MAX);
	}

	/* Marked before it is queued: once queued, eimad may read it and forget() a file it
	 * could not measure, which a later mark would undo. Unmarked again if it is dropped. */
	val.cookie = id.cookie;
	bpf_map_update_elem(&measured, &key, &val, BPF_ANY);
	/* Before the event is queued, so eimad finds it when it reads the event. */
	if (mntns_ino != probe_config.host_mntns && !bpf_map_lookup_elem(&known_mntns, &key.mntns))
		note_cgroup(task, key.mntns);

	long err = submit_event(ev);

	scratch_release(s);
	if (err) {
		bpf_map_delete_elem(&measured, &key);
		count_drop(mntns_ino);
		return false;
	}
	count(EIMA_CNT_EVENTS);
	return true;
}

#endif /* EIMA_BPF_MEASURE_H */
