/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The compiled IMA policy, evaluated in the kernel so that nothing the policy excludes
 * reaches user space. Semantics mirror security/integrity/ima/ima_policy.c for the
 * measure family: walk the rules in order; the first rule whose conditions all hold and
 * whose action is measure or dont_measure decides. src/policy/policy_matcher.cpp is the
 * same algorithm in C++ and the unit tests pin both to one behaviour.
 */
#ifndef EIMA_BPF_POLICY_MATCH_H
#define EIMA_BPF_POLICY_MATCH_H

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "abi/policy.h"

struct eima_access {
	__u32 func;                /* enum eima_func */
	__u32 mask;                /* EIMA_MAY_* */
	bool reqprot_exec;         /* mmap: the application itself asked for PROT_EXEC */
	bool is_host;              /* mount namespace is the host's */
	struct inode *inode;
	struct task_struct *task;
};

struct eima_match {
	__u32 rule_index;
	__u32 pcr;
	__u32 template_id;
};

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

static __always_inline bool fsname_equal(const char want[32], struct super_block *sb)
{
	char have[32] = {};
	const char *name = BPF_CORE_READ(sb, s_type, name);

	if (bpf_probe_read_kernel_str(have, sizeof(have), name) < 0)
		return false;
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

static __always_inline bool rule_holds(const struct eima_rule *r, const struct eima_access *a)
{
	__u32 c = r->conditions;
	/* Plain locals: BPF_CORE_READ(a->inode, ...) would relocate our own struct too. */
	struct inode *inode = a->inode;
	struct task_struct *task = a->task;

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
	if (c & (EIMA_COND_FSMAGIC | EIMA_COND_FSUUID | EIMA_COND_FSNAME)) {
		struct super_block *sb = BPF_CORE_READ(inode, i_sb);

		if ((c & EIMA_COND_FSMAGIC) && BPF_CORE_READ(sb, s_magic) != r->fsmagic)
			return false;
		if (c & EIMA_COND_FSUUID) {
			__u8 uuid[16];

			BPF_CORE_READ_INTO(&uuid, sb, s_uuid.b);
			for (int i = 0; i < 16; i++)
				if (uuid[i] != r->fsuuid[i])
					return false;
		}
		if ((c & EIMA_COND_FSNAME) && !fsname_equal(r->fsname, sb))
			return false;
	}
	if (c & (EIMA_COND_UID | EIMA_COND_EUID | EIMA_COND_GID | EIMA_COND_EGID)) {
		const struct cred *cred = BPF_CORE_READ(task, cred);

		if ((c & EIMA_COND_UID) && !id_holds(&r->uid, BPF_CORE_READ(cred, uid.val)))
			return false;
		if ((c & EIMA_COND_EUID) && !id_holds(&r->euid, BPF_CORE_READ(cred, euid.val)))
			return false;
		if ((c & EIMA_COND_GID) && !id_holds(&r->gid, BPF_CORE_READ(cred, gid.val)))
			return false;
		if ((c & EIMA_COND_EGID) && !id_holds(&r->egid, BPF_CORE_READ(cred, egid.val)))
			return false;
	}
	if ((c & EIMA_COND_FOWNER) && !id_holds(&r->fowner, BPF_CORE_READ(inode, i_uid.val)))
		return false;
	if ((c & EIMA_COND_FGROUP) && !id_holds(&r->fgroup, BPF_CORE_READ(inode, i_gid.val)))
		return false;
	return true;
}

struct policy_walk {
	const struct eima_policy *pol;
	const struct eima_access *access;
	struct eima_match *match;
	bool measure;
};

static long policy_step(__u64 i, void *data)
{
	struct policy_walk *w = data;

	if (i >= EIMA_MAX_RULES)
		return 1;
	const struct eima_rule *r = &w->pol->rules[i];

	if (!(r->action & (EIMA_ACT_MEASURE | EIMA_ACT_DONT_MEASURE)) || !rule_holds(r, w->access))
		return 0;
	if (r->action & EIMA_ACT_MEASURE) {
		w->measure = true;
		w->match->rule_index = r->rule_index;
		w->match->pcr = r->pcr;
		w->match->template_id = r->template_id;
	}
	return 1; /* the first deciding rule ends the walk */
}

/* True when the policy says "measure"; m then names the deciding rule. */
static __always_inline bool policy_match(const struct eima_policy *pol,
					 const struct eima_access *a, struct eima_match *m)
{
	struct policy_walk w = {.pol = pol, .access = a, .match = m};
	__u32 n = pol->nr_rules;

	bpf_loop(n < EIMA_MAX_RULES ? n : EIMA_MAX_RULES, policy_step, &w, 0);
	return w.measure;
}

#endif /* EIMA_BPF_POLICY_MATCH_H */
