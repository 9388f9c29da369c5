/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What both "only signed BPF" programs share (bpf_policy.bpf.c on 6.18+,
 * bpf_policy_tl.bpf.c on 6.12-6.17): their configuration, counters, events, and how a
 * refusal is decided and reported. docs/signed-bpf.md.
 */
#ifndef EIMA_LIB_BPF_POLICY_H
#define EIMA_LIB_BPF_POLICY_H

#include "abi/bpf_policy.h"

#define EPERM 1

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct eima_bpf_policy_config);
} policy_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct eima_bpf_policy_stats);
} policy_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, EIMA_BPF_POLICY_EVENTS_SIZE);
} policy_events SEC(".maps");

/* The executable of the current task, as trusted_loaders keys it (0s for a kernel thread). */
static __always_inline struct eima_bpf_loader_id current_exe(void)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct eima_bpf_loader_id id = {};

	id.ino = BPF_CORE_READ(task, mm, exe_file, f_inode, i_ino);
	id.dev = BPF_CORE_READ(task, mm, exe_file, f_inode, i_sb, s_dev);
	return id;
}

/* The policy's settings when it applies to the current task, else NULL (not yet enabled,
 * another cgroup than the configured one, or an exempted cgroup). */
static __always_inline struct eima_bpf_policy_config *
policy_in_scope(struct eima_bpf_policy_stats **stats)
{
	__u32 zero = 0;
	struct eima_bpf_policy_config *cfg = bpf_map_lookup_elem(&policy_config, &zero);
	struct eima_bpf_policy_stats *st = bpf_map_lookup_elem(&policy_stats, &zero);
	__u64 cgroup;
	int i;

	if (!cfg || !st || !cfg->enabled)
		return 0;
	cgroup = bpf_get_current_cgroup_id();
	if (cfg->cgroup_id && cgroup != cfg->cgroup_id) {
		__sync_fetch_and_add(&st->out_of_scope, 1);
		return 0;
	}
	for (i = 0; i < EIMA_BPF_POLICY_MAX_EXEMPT; i++) {
		if (cfg->exempt_cgroup_ids[i] && cgroup == cfg->exempt_cgroup_ids[i]) {
			__sync_fetch_and_add(&st->out_of_scope, 1);
			return 0;
		}
	}
	*stats = st;
	return cfg;
}

/* A load the rule does not allow: counted, kept as the last one, sent as an event, and
 * refused unless in audit mode. Returns what the hook returns. */
static __always_inline int refuse(struct eima_bpf_policy_config *cfg,
				  struct eima_bpf_policy_stats *st, __u32 reason, __u32 prog_type,
				  __s32 keyring, const __u8 *tag, const char *prog_name)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct eima_bpf_policy_event *ev;
	struct eima_bpf_loader_id exe = current_exe();

	/* The last refusal: racy between CPUs, which is fine for a diagnostic. */
	st->last_pid = pid_tgid >> 32;
	st->last_keyring_id = keyring;
	st->last_prog_type = prog_type;
	st->last_signed = reason == EIMA_BPF_UNTRUSTED_KEYRING;
	bpf_get_current_comm(st->last_comm, sizeof(st->last_comm));
	if (cfg->audit)
		__sync_fetch_and_add(&st->audited, 1);
	else
		__sync_fetch_and_add(&st->refused, 1);

	ev = bpf_ringbuf_reserve(&policy_events, sizeof(*ev), 0);
	if (!ev) {
		__sync_fetch_and_add(&st->events_lost, 1);
	} else {
		__builtin_memset(ev, 0, sizeof(*ev));
		ev->ktime_ns = bpf_ktime_get_ns();
		ev->pid = pid_tgid >> 32;
		ev->tid = (__u32)pid_tgid;
		ev->uid = (__u32)bpf_get_current_uid_gid();
		ev->prog_type = prog_type;
		ev->reason = reason;
		ev->keyring_id = keyring;
		ev->denied = !cfg->audit;
		if (tag) {
			ev->has_tag = 1;
			__builtin_memcpy(ev->tag, tag, EIMA_BPF_TAG_SIZE);
		}
		bpf_get_current_comm(ev->comm, sizeof(ev->comm));
		if (prog_name)
			bpf_probe_read_kernel_str(ev->prog_name, sizeof(ev->prog_name), prog_name);
		ev->exe_dev = exe.dev;
		ev->exe_ino = exe.ino;
		bpf_ringbuf_submit(ev, 0);
	}
	return cfg->audit ? 0 : -EPERM;
}

#endif /* EIMA_LIB_BPF_POLICY_H */
