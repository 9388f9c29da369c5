// SPDX-License-Identifier: GPL-2.0
/*
 * "Only signed BPF" on 6.12-6.17, the trusted-loader path (docs/signed-bpf.md). The kernel
 * cannot check a signature there, so eima's loader checks it in user space, loads, and
 * records the tag (prog->tag) of every program it loaded in trusted_tags. The rule: a
 * program may come into existence only if
 *   - its loader is a trusted loader: the current task's executable is one in
 *     trusted_loaders (eima's binary, by device and inode), or
 *   - its tag is one a trusted loader recorded.
 *
 * The tag is computed by the verifier, after lsm/bpf_prog_load has run, so the decision is
 * taken in two steps:
 *   lsm/bpf_prog_load  a load from any other executable is marked pending (by its
 *                      struct bpf_prog);
 *   lsm/bpf_prog       runs when the kernel makes an fd for a program: the load's own fd,
 *                      the first way out of bpf_prog_load(), or BPF_PROG_GET_FD_BY_ID. A
 *                      pending program whose tag is not recorded gets no fd: the load
 *                      fails with -EPERM and the kernel frees the program, and a racing
 *                      GET_FD_BY_ID of it is refused the same way.
 *   lsm/bpf_prog_free  forgets it.
 * A trusted loader's sub-loads (bpf_sys_bpf from the loader program it runs) come from
 * the same task, so they pass by its executable.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "lib/bpf_policy.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, EIMA_BPF_POLICY_MAX_LOADERS);
	__type(key, struct eima_bpf_loader_id);
	__type(value, __u8);
} trusted_loaders SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, EIMA_BPF_POLICY_MAX_TAGS);
	__type(key, struct eima_bpf_tag);
	__type(value, __u8);
} trusted_tags SEC(".maps");

/* struct bpf_prog * -> 1: loads by an untrusted executable, from lsm/bpf_prog_load until
 * their tag is found recorded, or until they are freed. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, EIMA_BPF_POLICY_MAX_PENDING);
	__type(key, __u64);
	__type(value, __u8);
} pending_progs SEC(".maps");

SEC("lsm/bpf_prog_load")
int BPF_PROG(eima_bpf_prog_load_tl, struct bpf_prog *prog, union bpf_attr *attr,
	     struct bpf_token *token)
{
	struct eima_bpf_policy_stats *st = 0;
	struct eima_bpf_policy_config *cfg = policy_in_scope(&st);
	struct eima_bpf_loader_id exe;
	__u64 key = (__u64)prog;
	__u8 one = 1;

	if (!cfg || !st)
		return 0;
	exe = current_exe();
	if (bpf_map_lookup_elem(&trusted_loaders, &exe)) {
		__sync_fetch_and_add(&st->allowed_loader, 1);
		return 0;
	}
	/* Fail closed: a load that cannot be followed to its fd is refused now. */
	if (bpf_map_update_elem(&pending_progs, &key, &one, BPF_ANY) != 0)
		return refuse(cfg, st, EIMA_BPF_PENDING_FULL, BPF_CORE_READ(attr, prog_type), 0, 0,
			      attr->prog_name);
	return 0;
}

SEC("lsm/bpf_prog")
int BPF_PROG(eima_bpf_prog_fd_tl, struct bpf_prog *prog)
{
	__u64 key = (__u64)prog;
	struct eima_bpf_tag tag = {};
	__u32 zero = 0;
	struct eima_bpf_policy_config *cfg;
	struct eima_bpf_policy_stats *st;
	int ret;

	/* Pending loads only: fds of programs that exist already are not this policy's. */
	if (!bpf_map_lookup_elem(&pending_progs, &key))
		return 0;
	cfg = bpf_map_lookup_elem(&policy_config, &zero);
	st = bpf_map_lookup_elem(&policy_stats, &zero);
	if (!cfg || !st)
		return 0;
	BPF_CORE_READ_INTO(&tag.tag, prog, tag);
	if (bpf_map_lookup_elem(&trusted_tags, &tag)) {
		__sync_fetch_and_add(&st->allowed_tag, 1);
		bpf_map_delete_elem(&pending_progs, &key);
		return 0;
	}
	ret = refuse(cfg, st, EIMA_BPF_UNKNOWN_TAG, BPF_CORE_READ(prog, type), 0, tag.tag,
		     prog->aux->name);
	/* Audit mode reports a program once; a refused one stays pending until it is freed. */
	if (ret == 0)
		bpf_map_delete_elem(&pending_progs, &key);
	return ret;
}

SEC("lsm/bpf_prog_free")
void BPF_PROG(eima_bpf_prog_free_tl, struct bpf_prog *prog)
{
	__u64 key = (__u64)prog;

	bpf_map_delete_elem(&pending_progs, &key);
}

/* The kernel trusts a loader by current->mm->exe_file, which prctl(PR_SET_MM,
 * PR_SET_MM_EXE_FILE or PR_SET_MM_MAP) can point at any executable, eima's included: in
 * scope, nobody may (CRIU, its one user, does not restore BPF loaders). */
#define PR_SET_MM 35
#define PR_SET_MM_EXE_FILE 13
#define PR_SET_MM_MAP 14

SEC("lsm/task_prctl")
int BPF_PROG(eima_bpf_task_prctl_tl, int option, unsigned long arg2, unsigned long arg3,
	     unsigned long arg4, unsigned long arg5)
{
	struct eima_bpf_policy_stats *st = 0;
	struct eima_bpf_policy_config *cfg;

	if (option != PR_SET_MM || (arg2 != PR_SET_MM_EXE_FILE && arg2 != PR_SET_MM_MAP))
		return 0;
	cfg = policy_in_scope(&st);
	if (!cfg || !st)
		return 0;
	return refuse(cfg, st, EIMA_BPF_EXE_CHANGE, 0, 0, 0, 0);
}
