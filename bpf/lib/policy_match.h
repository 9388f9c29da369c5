/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The compiled IMA policy, evaluated in the kernel so that nothing the policy excludes
 * reaches user space. Semantics mirror security/integrity/ima/ima_policy.c for the
 * measure family: walk the rules in order; the first rule whose conditions all hold and
 * whose action is measure or dont_measure decides. src/policy/policy_matcher.cpp is the
 * same algorithm in C++; tests/bpf runs this file and that one on the same accesses.
 *
 * The conditions compare a rule with a struct eima_access of attributes already read
 * (*_conds_hold), never with kernel objects, so tests/bpf can run this walk on
 * attributes made up in user space. The hooks pass the inode and the task, and the walk
 * reads a group of attributes from them the first time a rule needs it (access_fill):
 * the superblock only for fs* conditions, the credentials only for uid-like ones, each
 * only after the rule's cheaper conditions held - as before - and never twice for one
 * access, where each fsmagic rule used to read s_magic again.
 */
#ifndef EIMA_BPF_POLICY_MATCH_H
#define EIMA_BPF_POLICY_MATCH_H

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "abi/policy.h"

/* The groups of conditions whose attributes come from the inode or the task. */
#define EIMA_COND_FS_ATTRS (EIMA_COND_FSMAGIC | EIMA_COND_FSUUID | EIMA_COND_FSNAME)
#define EIMA_COND_CRED_ATTRS (EIMA_COND_UID | EIMA_COND_EUID | EIMA_COND_GID | EIMA_COND_EGID)
#define EIMA_COND_OWNER_ATTRS (EIMA_COND_FOWNER | EIMA_COND_FGROUP)

static __always_inline bool id_holds(const struct eima_id_cond *c, __u32 v)
{
	switch (c->cmp) {
	case EIMA_CMP_LT:
		return v < c->value;
	case EIMA_CMP_GT:
		return v > c->value;
	default:
		return v == c->value;
	}
}

static __always_inline bool fsname_equal(const char want[32], const char have[32])
{
	for (int i = 0; i < 32; i++) {
		if (have[i] != want[i])
			return false;
		if (!have[i])
			return true;
	}
	return true;
}

static __always_inline bool func_holds(const struct eima_rule *r, const struct eima_access *a)
{
	if (r->func == a->func)
		return true;
	/* MMAP_CHECK_REQPROT judges the protection the application asked for. */
	return r->func == EIMA_FUNC_MMAP_CHECK_REQPROT && a->func == EIMA_FUNC_MMAP_CHECK &&
	       a->reqprot_exec;
}

/*
 * One rule against one access, in four groups of conditions: what the hook knows, then
 * the superblock's, the credentials', the inode owner's. The walk reads each group's
 * attributes only when the groups before it held, as the code before the split did.
 */
static __always_inline bool hook_conds_hold(const struct eima_rule *r,
					    const struct eima_access *a)
{
	__u32 c = r->conditions;

	if ((c & EIMA_COND_FUNC) && !func_holds(r, a))
		return false;
	if ((c & EIMA_COND_MASK) && r->mask != a->mask)
		return false;
	if ((c & EIMA_COND_INMASK) && !(r->mask & a->mask))
		return false;
	if (c & EIMA_COND_CONTAINER) {
		if (r->container_scope == EIMA_SCOPE_HOST && !a->is_host)
			return false;
		if (r->container_scope == EIMA_SCOPE_CONTAINERS && a->is_host)
			return false;
	}
	return true;
}

static __always_inline bool fs_conds_hold(const struct eima_rule *r, const struct eima_access *a)
{
	__u32 c = r->conditions;

	if ((c & EIMA_COND_FSMAGIC) && a->fsmagic != r->fsmagic)
		return false;
	if (c & EIMA_COND_FSUUID) {
		for (int i = 0; i < 16; i++)
			if (a->fsuuid[i] != r->fsuuid[i])
				return false;
	}
	return !(c & EIMA_COND_FSNAME) || fsname_equal(r->fsname, a->fsname);
}

static __always_inline bool cred_conds_hold(const struct eima_rule *r,
					    const struct eima_access *a)
{
	__u32 c = r->conditions;

	if ((c & EIMA_COND_UID) && !id_holds(&r->uid, a->uid))
		return false;
	if ((c & EIMA_COND_EUID) && !id_holds(&r->euid, a->euid))
		return false;
	if ((c & EIMA_COND_GID) && !id_holds(&r->gid, a->gid))
		return false;
	return !(c & EIMA_COND_EGID) || id_holds(&r->egid, a->egid);
}

static __always_inline bool owner_conds_hold(const struct eima_rule *r,
					     const struct eima_access *a)
{
	__u32 c = r->conditions;

	if ((c & EIMA_COND_FOWNER) && !id_holds(&r->fowner, a->fowner))
		return false;
	return !(c & EIMA_COND_FGROUP) || id_holds(&r->fgroup, a->fgroup);
}

/*
 * Reads the attributes of one group (EIMA_COND_*_ATTRS) unless `a` holds them already. A
 * failed read leaves zeros (an empty fsname), which no rule of a real policy expects.
 * Never reads in tests/bpf, whose accesses come with every group known (and no inode or
 * task).
 */
static __always_inline void access_fill(struct eima_access *a, __u32 group, struct inode *inode,
					struct task_struct *task)
{
	if (a->known & group)
		return;
	a->known |= group;
	if (group == EIMA_COND_FS_ATTRS) {
		struct super_block *sb = BPF_CORE_READ(inode, i_sb);

		a->fsmagic = BPF_CORE_READ(sb, s_magic);
		BPF_CORE_READ_INTO(&a->fsuuid, sb, s_uuid.b);
		if (bpf_probe_read_kernel_str(a->fsname, sizeof(a->fsname),
					      BPF_CORE_READ(sb, s_type, name)) < 0)
			a->fsname[0] = 0;
	} else if (group == EIMA_COND_CRED_ATTRS) {
		const struct cred *cred = BPF_CORE_READ(task, cred);

		a->uid = BPF_CORE_READ(cred, uid.val);
		a->euid = BPF_CORE_READ(cred, euid.val);
		a->gid = BPF_CORE_READ(cred, gid.val);
		a->egid = BPF_CORE_READ(cred, egid.val);
	} else {
		a->fowner = BPF_CORE_READ(inode, i_uid.val);
		a->fgroup = BPF_CORE_READ(inode, i_gid.val);
	}
}

/* One rule against one access; reads a group's attributes first when the rule needs them. */
static __always_inline bool rule_holds(const struct eima_rule *r, struct eima_access *a,
				       struct inode *inode, struct task_struct *task)
{
	__u32 c = r->conditions;

	if (!hook_conds_hold(r, a))
		return false;
	if (c & EIMA_COND_FS_ATTRS) {
		access_fill(a, EIMA_COND_FS_ATTRS, inode, task);
		if (!fs_conds_hold(r, a))
			return false;
	}
	if (c & EIMA_COND_CRED_ATTRS) {
		access_fill(a, EIMA_COND_CRED_ATTRS, inode, task);
		if (!cred_conds_hold(r, a))
			return false;
	}
	if (c & EIMA_COND_OWNER_ATTRS) {
		access_fill(a, EIMA_COND_OWNER_ATTRS, inode, task);
		if (!owner_conds_hold(r, a))
			return false;
	}
	return true;
}

struct policy_walk {
	const struct eima_policy *pol;
	struct eima_access *access;
	struct inode *inode;
	struct task_struct *task;
	struct eima_match *match;
};

static long policy_step(__u64 i, void *data)
{
	struct policy_walk *w = data;

	if (i >= EIMA_MAX_RULES)
		return 1;
	const struct eima_rule *r = &w->pol->rules[i];

	if (!(r->action & (EIMA_ACT_MEASURE | EIMA_ACT_DONT_MEASURE)))
		return 0;
	if (!rule_holds(r, w->access, w->inode, w->task))
		return 0;
	w->match->decided = 1;
	w->match->rule_index = r->rule_index;
	if (r->action & EIMA_ACT_MEASURE) {
		w->match->measure = 1;
		w->match->pcr = r->pcr;
		w->match->template_id = r->template_id;
	}
	return 1; /* the first deciding rule ends the walk */
}

/*
 * True when the policy says "measure"; m then names the deciding rule. `a` carries what
 * the hook knows (func, mask, reqprot_exec, is_host, and `known` for anything else it
 * filled); the rest is read from inode and task when a rule asks.
 */
static __always_inline bool policy_match(const struct eima_policy *pol, struct eima_access *a,
					 struct inode *inode, struct task_struct *task,
					 struct eima_match *m)
{
	struct policy_walk w = {.pol = pol, .access = a, .inode = inode, .task = task, .match = m};
	__u32 n = pol->nr_rules;

	bpf_loop(n < EIMA_MAX_RULES ? n : EIMA_MAX_RULES, policy_step, &w, 0);
	return m->measure;
}

#endif /* EIMA_BPF_POLICY_MATCH_H */
