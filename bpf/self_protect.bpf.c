// SPDX-License-Identifier: GPL-2.0
/*
 * Self-protection (eimad --protect, lsm mode; docs/self-protection.md): no process but the
 * eimad that owns eima's pinned BPF set may take that set apart or stop eimad, root
 * included. Each hook refuses with -EPERM, counts the refusal and queues a record of it
 * for the audit log (struct eima_protect_event):
 *   - a writable fd to one of eima's maps (lsm/bpf_map: map_create, BPF_MAP_GET_FD_BY_ID
 *     and BPF_OBJ_GET all pass there), so nothing can update or delete their elements,
 *     freeze them or mmap the ring buffer's consumer page; read-only fds still open
 *     (bpftool map show/dump work);
 *   - BPF_LINK_DETACH and BPF_LINK_UPDATE of one of eima's links (lsm/bpf: the link is
 *     found through the caller's fd table, as the command names it by fd);
 *   - a signal to eimad (lsm/task_kill; signal 0, the existence check, passes);
 *   - ptrace attach, /proc/PID/mem writes, process_vm_writev (lsm/ptrace_access_check with
 *     PTRACE_MODE_ATTACH; reads of /proc/PID files pass);
 *   - unlinking or renaming entries of the pin directories (lsm/inode_unlink,
 *     lsm/inode_rename), and unmounting the bpffs that holds them (lsm/sb_umount): an
 *     unpinned link whose last fd closes detaches;
 *   - unlinking, invalidating, writing, linking or changing the attributes of eimad's
 *     keyring and its keys (lsm/key_permission; see there for search).
 * Always allowed: the owner (its tgid), PID 1 (so the system can always shut down), and,
 * while the owner is not running (it crashed), a process running eimad's executable (the
 * restarted eimad, which takes the set over, or `eima stop --force-cleanup`).
 *
 * Nothing is protected until eimad fills "protect_cfg" (enabled = 0 after load). Ids are
 * kernel-wide and never reused while their object exists; maps that fill up refuse new
 * entries in eimad, which then reports the protection as failed (never silently partial).
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "abi/self_protect.h"

char LICENSE[] SEC("license") = "GPL";

#define EPERM 1
#define FMODE_WRITE 0x2
#define PTRACE_MODE_ATTACH 0x02

extern struct task_struct *bpf_task_from_pid(s32 pid) __ksym;
extern void bpf_task_release(struct task_struct *p) __ksym;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct eima_protect_cfg);
} protect_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, EIMA_PROTECT_MAX_OBJS);
	__type(key, struct eima_protected_obj);
	__type(value, __u8);
} protected_objs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, EIMA_PROTECT_MAX_DIRS);
	__type(key, struct eima_protected_dir);
	__type(value, __u8);
} protected_dirs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, EIMA_PROTECT_MAX_KEYS);
	__type(key, __s32);
	__type(value, __u8);
} protected_keys SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, EIMA_PR_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} protect_refusals SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, EIMA_PROTECT_EVENTS_BYTES);
} protect_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} protect_events_lost SEC(".maps");

static __always_inline struct eima_protect_cfg *active_cfg(void)
{
	__u32 zero = 0;
	struct eima_protect_cfg *cfg = bpf_map_lookup_elem(&protect_cfg, &zero);

	return cfg && cfg->enabled ? cfg : NULL;
}

/* Queues a refusal's record for the audit log; a full ring loses the record, counted,
 * never the refusal. A frame of its own so that its prototype puts struct
 * eima_protect_event in the object's BTF, where tests/unit/agent/abi_layout_test.cpp
 * checks the layout against C++'s. */
static __noinline void queue_refusal(struct eima_protect_event *ev)
{
	__u32 zero = 0;

	if (bpf_ringbuf_output(&protect_events, ev, sizeof(*ev), 0)) {
		__u64 *lost = bpf_map_lookup_elem(&protect_events_lost, &zero);

		if (lost)
			*lost += 1;
	}
}

/* Counts the refusal and queues its record. */
static __always_inline int refuse(__u32 kind, __u64 target)
{
	__u64 *n = bpf_map_lookup_elem(&protect_refusals, &kind);
	struct eima_protect_event ev = {};
	__u64 id = bpf_get_current_pid_tgid();

	if (n)
		*n += 1;
	ev.ktime_ns = bpf_ktime_get_ns();
	ev.kind = kind;
	ev.pid = id >> 32;
	ev.tid = (__u32)id;
	ev.uid = (__u32)bpf_get_current_uid_gid();
	ev.target = target;
	bpf_get_current_comm(ev.comm, sizeof(ev.comm));
	queue_refusal(&ev);
	return -EPERM;
}

static __always_inline bool runs_eimad(struct task_struct *t, const struct eima_protect_cfg *cfg)
{
	struct inode *inode = BPF_CORE_READ(t, mm, exe_file, f_inode);

	return inode && BPF_CORE_READ(inode, i_ino) == cfg->exe_ino &&
	       BPF_CORE_READ(inode, i_sb, s_dev) == cfg->exe_dev;
}

/* The owner is running while its pid names a task that still runs eimad's executable (a
 * zombie has no mm; a reused pid runs something else). */
static __always_inline bool owner_running(const struct eima_protect_cfg *cfg)
{
	struct task_struct *t = bpf_task_from_pid(cfg->owner_tgid);
	bool running;

	if (!t)
		return false;
	running = runs_eimad(t, cfg);
	bpf_task_release(t);
	return running;
}

static __always_inline bool may_touch(const struct eima_protect_cfg *cfg)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	if (tgid == cfg->owner_tgid || tgid == 1)
		return true;
	return runs_eimad(bpf_get_current_task_btf(), cfg) && !owner_running(cfg);
}

static __always_inline bool is_protected(__u32 kind, __u32 id)
{
	struct eima_protected_obj key = {.kind = kind, .id = id};

	return id && bpf_map_lookup_elem(&protected_objs, &key);
}

static __always_inline bool is_protected_dir(struct inode *dir)
{
	struct eima_protected_dir key = {
		.dev = BPF_CORE_READ(dir, i_sb, s_dev),
		.ino = BPF_CORE_READ(dir, i_ino),
	};

	return bpf_map_lookup_elem(&protected_dirs, &key);
}

SEC("lsm/bpf_map")
int BPF_PROG(eima_protect_map, struct bpf_map *map, fmode_t fmode)
{
	struct eima_protect_cfg *cfg = active_cfg();

	if (!cfg || !(fmode & FMODE_WRITE) || !is_protected(EIMA_PROT_MAP, map->id))
		return 0;
	return may_touch(cfg) ? 0 : refuse(EIMA_PR_MAP_WRITE, map->id);
}

/* The link an fd of the calling task refers to, or 0. Read without the fd table's lock:
 * the task is inside bpf(2) and cannot close the fd meanwhile; another of its threads
 * could, and then the kernel's own fdget fails or finds another object, which the id
 * check below does not match. An fd that is not a link gives a pointer whose "id" is
 * noise: at worst a command the kernel would fail anyway is refused. */
static __always_inline __u32 link_id_of_fd(__u32 fd)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct fdtable *fdt = BPF_CORE_READ(t, files, fdt);
	struct file **fds;
	struct file *f = NULL;
	struct bpf_link *link;

	if (!fdt || fd >= BPF_CORE_READ(fdt, max_fds))
		return 0;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) || !f)
		return 0;
	link = BPF_CORE_READ(f, private_data);
	return link ? BPF_CORE_READ(link, id) : 0;
}

SEC("lsm/bpf")
int BPF_PROG(eima_protect_bpf_cmd, int cmd, union bpf_attr *attr)
{
	struct eima_protect_cfg *cfg = active_cfg();
	__u32 fd;

	if (!cfg)
		return 0;
	if (cmd == BPF_LINK_DETACH)
		fd = BPF_CORE_READ(attr, link_detach.link_fd);
	else if (cmd == BPF_LINK_UPDATE)
		fd = BPF_CORE_READ(attr, link_update.link_fd);
	else
		return 0;
	__u32 link = link_id_of_fd(fd);

	if (!is_protected(EIMA_PROT_LINK, link))
		return 0;
	return may_touch(cfg) ? 0 : refuse(EIMA_PR_LINK, link);
}

SEC("lsm/task_kill")
int BPF_PROG(eima_protect_kill, struct task_struct *p, struct kernel_siginfo *info, int sig)
{
	struct eima_protect_cfg *cfg = active_cfg();
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	if (!cfg || sig == 0 || p->tgid != cfg->owner_tgid)
		return 0;
	if (tgid == cfg->owner_tgid || tgid == 1)
		return 0;
	if (cfg->test_kill_cgroup && bpf_get_current_cgroup_id() == cfg->test_kill_cgroup)
		return 0;
	return refuse(EIMA_PR_SIGNAL, sig);
}

SEC("lsm/ptrace_access_check")
int BPF_PROG(eima_protect_ptrace, struct task_struct *child, unsigned int mode)
{
	struct eima_protect_cfg *cfg = active_cfg();
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	if (!cfg || !(mode & PTRACE_MODE_ATTACH) || child->tgid != cfg->owner_tgid)
		return 0;
	return tgid == cfg->owner_tgid || tgid == 1 ? 0 : refuse(EIMA_PR_PTRACE, mode);
}

SEC("lsm/inode_unlink")
int BPF_PROG(eima_protect_unlink, struct inode *dir, struct dentry *dentry)
{
	struct eima_protect_cfg *cfg = active_cfg();

	if (!cfg || !is_protected_dir(dir))
		return 0;
	return may_touch(cfg) ? 0 : refuse(EIMA_PR_PIN, BPF_CORE_READ(dir, i_ino));
}

SEC("lsm/inode_rename")
int BPF_PROG(eima_protect_rename, struct inode *old_dir, struct dentry *old_dentry,
	     struct inode *new_dir)
{
	struct eima_protect_cfg *cfg = active_cfg();

	if (!cfg || (!is_protected_dir(old_dir) && !is_protected_dir(new_dir)))
		return 0;
	return may_touch(cfg) ? 0 : refuse(EIMA_PR_PIN, BPF_CORE_READ(old_dir, i_ino));
}

SEC("lsm/sb_umount")
int BPF_PROG(eima_protect_umount, struct vfsmount *mnt, int flags)
{
	struct eima_protect_cfg *cfg = active_cfg();

	if (!cfg || BPF_CORE_READ(mnt, mnt_sb, s_dev) != cfg->pins_dev)
		return 0;
	return may_touch(cfg) ? 0 : refuse(EIMA_PR_UMOUNT, 0);
}

/* keyctl(2) and add_key(2) on eimad's keyring or its keys: every such operation asks
 * key_permission. Its first argument, a key_ref_t, points to a struct BTF only declares,
 * so the verifier refuses to read it from the context directly; it is read as memory
 * instead (a privileged loader may pass the context's address to a helper). Refused: write
 * (add a key, clear), link, setattr (permissions, owner, timeout) and unlink; and search
 * when the caller is inside keyctl(2) (keyctl invalidate needs only search). The kernel's
 * own searches, such as bpf_verify_pkcs7_signature's in the task that execs, pass. */
#define NR_KEYCTL 250	     /* x86_64 */
#define NR_KEYCTL_IA32 288   /* i386, under IA32 emulation */

SEC("lsm/key_permission")
int eima_protect_key(unsigned long long *ctx)
{
	struct eima_protect_cfg *cfg = active_cfg();
	unsigned long ref = 0;
	struct key *key;
	int need;
	__s32 serial;
	__u8 *how;

	if (!cfg)
		return 0;
	need = (int)ctx[2];
	if (need == KEY_NEED_SEARCH) {
		struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
		long nr = regs ? BPF_CORE_READ(regs, orig_ax) : -1;

		if (nr != NR_KEYCTL && nr != NR_KEYCTL_IA32)
			return 0;
	} else if (need != KEY_NEED_WRITE && need != KEY_NEED_LINK && need != KEY_NEED_SETATTR &&
		   need != KEY_NEED_UNLINK) {
		return 0;
	}
	if (bpf_probe_read_kernel(&ref, sizeof(ref), ctx))
		return 0;
	key = (struct key *)(ref & ~1UL); /* bit 0: "possessed" */
	serial = BPF_CORE_READ(key, serial);
	how = bpf_map_lookup_elem(&protected_keys, &serial);
	if (!how || *how != EIMA_PROT_KEY)
		return 0;
	return may_touch(cfg) ? 0 : refuse(EIMA_PR_KEY, (__u32)serial);
}
