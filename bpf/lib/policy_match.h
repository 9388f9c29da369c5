/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The compiled IMA policy, evaluated in the kernel so that nothing the policy excludes
 * reaches user space. Semantics mirror security/integrity/ima/ima_policy.c for the
 * measure family: walk the rules in order; the first rule whose conditions all hold and
 * whose action is measure or dont_measure decides. src/policy/policy_matcher.cpp is the
 * same algorithm in C++; tests/bpf runs this file and that one on the same accesses.
 *
 * The conditions compare a rule with a struct eima_access of attributes already read
 * (rule_holds), never with kernel objects, so tests/bpf can run this walk on attributes
 * made up in user space. Before the walk, the hooks' access gets the attributes some rule
 * of the policy compares (eima_policy.conditions), each read once (access_fill): the
 * superblock only for a policy with fs* conditions, the credentials only for uid-like
 * ones (their saved ids and capabilities only for euid=/egid=). That can read what no rule for this func needs (tcb's FILE_CHECK uid=0 makes an
 * exec read the credentials: four loads), where each fsmagic rule used to read s_magic
 * again; and the walk's callback only reads, which keeps the verifier's work on the
 * hooks (eima_exec is near its limit) below what it was.
 */
#ifndef EIMA_BPF_POLICY_MATCH_H
#define EIMA_BPF_POLICY_MATCH_H

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "abi/policy.h"

/* The conditions whose attributes come from the task's credentials or the inode owner. */
#define EIMA_COND_CRED_ATTRS (EIMA_COND_UID | EIMA_COND_EUID | EIMA_COND_GID | EIMA_COND_EGID)
#define EIMA_COND_OWNER_ATTRS (EIMA_COND_FOWNER | EIMA_COND_FGROUP)

/* include/uapi/linux/capability.h; vmlinux.h has no macros. */
#define EIMA_CAP_SETGID 6
#define EIMA_CAP_SETUID 7

/* kernel_cap_t is a struct { u64 val; } since 6.3 and a struct { u32 cap[2]; } before: one
 * flavour each, the field that exists picks the read. */
struct kernel_cap_t___u64 {
	__u64 val;
} __attribute__((preserve_access_index));
struct kernel_cap_t___u32 {
	__u32 cap[2];
} __attribute__((preserve_access_index));
struct cred___cap_u64 {
	struct kernel_cap_t___u64 cap_effective;
} __attribute__((preserve_access_index));
struct cred___cap_u32 {
	struct kernel_cap_t___u32 cap_effective;
} __attribute__((preserve_access_index));

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

/*
 * euid= and egid=: ima_match_rules() accepts the effective id and, when the task has
 * CAP_SETUID (egid=: CAP_SETGID), also its saved and its real id, each compared with the
 * rule's own operator (so euid<1000 holds for a capable task whose real uid is below 1000).
 */
static __always_inline bool id_or_settable_holds(const struct eima_id_cond *c, __u32 eff,
						 __u8 can_set, __u32 saved, __u32 real)
{
	if (id_holds(c, eff))
		return true;
	return can_set && (id_holds(c, saved) || id_holds(c, real));
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

static __always_inline bool func_holds(const struct eima_rule *r, __u32 func)
{
	return !(r->conditions & EIMA_COND_FUNC) || r->func == func;
}

/* One rule against one access, func aside (see policy_step). */
static __always_inline bool rule_holds(const struct eima_rule *r, const struct eima_access *a)
{
	__u32 c = r->conditions;

	if ((c & EIMA_COND_MASK) && r->mask != a->mask)
		return false;
	if ((c & EIMA_COND_INMASK) && !(r->mask & a->mask))
		return false;
	if (c & EIMA_COND_CONTAINER) {
		if (r->container_scope == EIMA_SCOPE_HOST && !a->is_host)
			return false;
		if (r->container_scope == EIMA_SCOPE_CONTAINERS && a->is_host)
			return false;
		if (r->container_scope == EIMA_SCOPE_NAMED &&
		    (a->is_host || !a->container_hash || a->container_hash != r->container_hash))
			return false;
	}
	if ((c & EIMA_COND_FSMAGIC) && a->fsmagic != r->fsmagic)
		return false;
	if (c & EIMA_COND_FSUUID) {
		for (int i = 0; i < 16; i++)
			if (a->fsuuid[i] != r->fsuuid[i])
				return false;
	}
	if ((c & EIMA_COND_FSNAME) && !fsname_equal(r->fsname, a->fsname))
		return false;
	if ((c & EIMA_COND_UID) && !id_holds(&r->uid, a->uid))
		return false;
	if ((c & EIMA_COND_EUID) &&
	    !id_or_settable_holds(&r->euid, a->euid, a->cap_setuid, a->suid, a->uid))
		return false;
	if ((c & EIMA_COND_GID) && !id_holds(&r->gid, a->gid))
		return false;
	if ((c & EIMA_COND_EGID) &&
	    !id_or_settable_holds(&r->egid, a->egid, a->cap_setgid, a->sgid, a->gid))
		return false;
	if ((c & EIMA_COND_FOWNER) && !id_holds(&r->fowner, a->fowner))
		return false;
	if ((c & EIMA_COND_FGROUP) && !id_holds(&r->fgroup, a->fgroup))
		return false;
	return true;
}

/*
 * The effective capabilities `cred` has in the initial user namespace, which is where
 * has_capability_noaudit() asks: a cred of any other user namespace has none there
 * (cap_capable()), whatever its own set says. Only the low 32 capabilities on kernels
 * before 6.3, enough for CAP_SETUID and CAP_SETGID.
 */
static __always_inline __u64 init_ns_cap_effective(const struct cred *cred)
{
	if (BPF_CORE_READ(cred, user_ns, level) != 0)
		return 0;
	if (bpf_core_field_exists(((struct cred___cap_u64 *)0)->cap_effective.val))
		return BPF_CORE_READ((struct cred___cap_u64 *)cred, cap_effective.val);
	return BPF_CORE_READ((struct cred___cap_u32 *)cred, cap_effective.cap[0]);
}

/*
 * For euid=/egid= only: the saved ids and whether the task may switch to them
 * (ima_match_rules() then accepts the real and saved id too). The ids come from the
 * subjective credentials (what IMA is handed, current_cred()), the capability from the
 * objective ones, as has_capability_noaudit(current, ...) checks them; they differ only
 * under override_creds(). A function of its own: its temporaries stay off the stack frame
 * of eima_policy_decide(), which the hashing hooks' frame and the walk's callback leave
 * no room to grow (512 bytes in all).
 */
static __noinline void access_fill_setid(struct eima_access *a, __u32 need)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	const struct cred *cred = BPF_CORE_READ(task, cred);
	__u64 caps = init_ns_cap_effective(BPF_CORE_READ(task, real_cred));

	if (need & EIMA_COND_EUID) {
		a->suid = BPF_CORE_READ(cred, suid.val);
		a->cap_setuid = (caps >> EIMA_CAP_SETUID) & 1;
	}
	if (need & EIMA_COND_EGID) {
		a->sgid = BPF_CORE_READ(cred, sgid.val);
		a->cap_setgid = (caps >> EIMA_CAP_SETGID) & 1;
	}
}

/* FNV-1a 64, as src/policy/policy_compiler.cpp hashes a rule's container id. */
#define EIMA_FNV_OFFSET 0xcbf29ce484222325ull
#define EIMA_FNV_PRIME 0x100000001b3ull
#define EIMA_CGROUP_NAME_MAX 128 /* a longer cgroup name is no container id: no hash */

/*
 * The container id of a cgroup name, hashed in one pass without a buffer: the whole name
 * (runc's "<id>", "<64 hex>" under libpod_parent, docker or kubepods), or, for
 * "<runtime>-<id>.scope", what lies between the last '-' and ".scope". The bytes are
 * hashed six behind the one read, so that ".scope" can be left out once it is seen at
 * the end; the tail hash restarts after each '-'.
 */
struct cgroup_hash_walk {
	const char *name;
	__u64 whole, tail;
	__u64 window;   /* the last six bytes read, newest lowest */
	__u32 len;
	__u8 dash;      /* a '-' entered the delayed stream */
	__u8 done;
};

static long cgroup_hash_step(__u64 i, void *data)
{
	struct cgroup_hash_walk *w = data;
	__u8 c = 0;

	if (bpf_probe_read_kernel(&c, 1, w->name + i) || !c) {
		w->done = 1;
		return 1;
	}
	w->whole = (w->whole ^ c) * EIMA_FNV_PRIME;
	if (i >= 6) {
		__u8 out = (w->window >> 40) & 0xff;

		if (out == '-') {
			w->tail = EIMA_FNV_OFFSET;
			w->dash = 1;
		} else {
			w->tail = (w->tail ^ out) * EIMA_FNV_PRIME;
		}
	}
	w->window = ((w->window << 8) | c) & 0xffffffffffffull;
	w->len = i + 1;
	return 0;
}

/* ".scope" as the window holds it: '.' in the highest of its six bytes. */
#define EIMA_SCOPE_WINDOW 0x2e73636f7065ull

static __noinline __u64 cgroup_container_hash(void)
{
	/* BTF pointers, not probe reads (16 bytes of stack): this frame is the third of
	 * file_open's deepest chain, which has no bytes to spare. */
	struct task_struct *task = bpf_get_current_task_btf();
	struct cgroup_hash_walk w = {
		.name = task->cgroups->dfl_cgrp->kn->name,
		.whole = EIMA_FNV_OFFSET,
		.tail = EIMA_FNV_OFFSET,
	};

	if (!w.name)
		return 0;
	bpf_loop(EIMA_CGROUP_NAME_MAX, cgroup_hash_step, &w, 0);
	if (!w.done || !w.len)
		return 0;
	if (w.len > 6 && w.window == EIMA_SCOPE_WINDOW && w.dash)
		return w.tail;
	return w.whole;
}

/*
 * Reads from the inode and the current task the attributes `need` (EIMA_COND_* bits)
 * names and `a` does not hold yet. A failed read leaves zeros (an empty fsname), which no rule of a
 * real policy expects. Reads nothing in tests/bpf, whose accesses come with everything
 * known (and no inode or task).
 */
static __always_inline void access_fill(struct eima_access *a, __u32 need, struct inode *inode)
{
	need &= ~a->known;
	if (need & (EIMA_COND_FSMAGIC | EIMA_COND_FSUUID | EIMA_COND_FSNAME)) {
		struct super_block *sb = BPF_CORE_READ(inode, i_sb);

		if (need & EIMA_COND_FSMAGIC)
			a->fsmagic = BPF_CORE_READ(sb, s_magic);
		if (need & EIMA_COND_FSUUID)
			BPF_CORE_READ_INTO(&a->fsuuid, sb, s_uuid.b);
		if ((need & EIMA_COND_FSNAME) &&
		    bpf_probe_read_kernel_str(a->fsname, sizeof(a->fsname),
					      BPF_CORE_READ(sb, s_type, name)) < 0)
			a->fsname[0] = 0;
	}
	if (need & EIMA_COND_CRED_ATTRS) {
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();
		const struct cred *cred = BPF_CORE_READ(task, cred);

		a->uid = BPF_CORE_READ(cred, uid.val);
		a->euid = BPF_CORE_READ(cred, euid.val);
		a->gid = BPF_CORE_READ(cred, gid.val);
		a->egid = BPF_CORE_READ(cred, egid.val);
		if (need & (EIMA_COND_EUID | EIMA_COND_EGID))
			access_fill_setid(a, need);
	}
	if (need & EIMA_COND_OWNER_ATTRS) {
		a->fowner = BPF_CORE_READ(inode, i_uid.val);
		a->fgroup = BPF_CORE_READ(inode, i_gid.val);
	}
	if (need & EIMA_COND_CONTAINER_ID)
		a->container_hash = cgroup_container_hash();
	a->known |= need;
}

/*
 * An executable mmap is judged twice, as ima_file_mmap() does: as MMAP_CHECK_REQPROT when
 * the application itself asked for PROT_EXEC, and as MMAP_CHECK; it is measured if either
 * says so, the REQPROT judgement first. Both walk the same rules with the same attributes
 * and differ only in func=, so one walk carries both: `reqprot` until it is decided, the
 * access's own func until it is.
 */
struct policy_walk {
	const struct eima_policy *pol;
	const struct eima_access *access;
	struct eima_match *match;   /* the access's own func */
	struct eima_match reqprot;  /* MMAP_CHECK_REQPROT, when reqprot_open */
	__u32 family;               /* the actions that decide: EIMA_FAMILY_* */
	bool reqprot_open;
	bool own_open;
};

/* The two families of rules the hooks ask about; each is walked on its own, as the
 * kernel's ima_match_policy() judges each action for itself. */
#define EIMA_FAMILY_MEASURE (EIMA_ACT_MEASURE | EIMA_ACT_DONT_MEASURE)
#define EIMA_FAMILY_APPRAISE (EIMA_ACT_APPRAISE | EIMA_ACT_DONT_APPRAISE)

static __always_inline void decide(struct eima_match *m, const struct eima_rule *r)
{
	m->decided = 1;
	m->rule_index = r->rule_index;
	if (r->action & EIMA_ACT_APPRAISE)
		m->measure = 1; /* "appraise" in an appraise walk */
	if (r->action & EIMA_ACT_MEASURE) {
		m->measure = 1;
		m->pcr = r->pcr;
		m->template_id = r->template_id;
	}
}

static long policy_step(__u64 i, void *data)
{
	struct policy_walk *w = data;

	if (i >= EIMA_MAX_RULES)
		return 1;
	const struct eima_rule *r = &w->pol->rules[i];
	bool for_reqprot = w->reqprot_open && func_holds(r, EIMA_FUNC_MMAP_CHECK_REQPROT);
	bool for_own = w->own_open && func_holds(r, w->access->func);

	if (!(r->action & w->family) ||
	    !(for_reqprot || for_own) || !rule_holds(r, w->access))
		return 0;
	if (for_reqprot) {
		decide(&w->reqprot, r);
		w->reqprot_open = false;
		if (w->reqprot.measure)
			return 1; /* measured: what MMAP_CHECK says no longer matters */
	}
	if (for_own) {
		decide(w->match, r);
		w->own_open = false;
	}
	/* The first deciding rule ends each judgement; the walk ends with the last. */
	if (w->reqprot_open || w->own_open)
		return 0;
	return 1;
}

/*
 * The whole decision as a global function: the verifier checks it once, on its own, and a
 * hook sees only its result. Inlined (as it was), each of its branches multiplied the
 * states of everything after it in the hook, and eima_exec, which measures twice, went
 * over the verifier's million instructions. The inode travels as an integer because a
 * global function's pointer arguments must be memory the verifier can size; the
 * credentials are the current task's (every hook runs in the task it judges).
 * `family` (EIMA_FAMILY_*) picks the actions that decide. Returns 1 for "measure" (in the
 * appraise family: "appraise"), 0 otherwise, -1 without a policy.
 */
__noinline int eima_policy_decide(const struct eima_policy *pol, struct eima_access *a,
				  __u64 inode, struct eima_match *m, __u32 family)
{
	if (!pol || !a || !m)
		return -1;
	struct policy_walk w = {
		.pol = pol,
		.access = a,
		.match = m,
		.family = family,
		.reqprot_open = a->func == EIMA_FUNC_MMAP_CHECK && a->reqprot_exec,
		.own_open = true,
	};
	__u32 n = pol->nr_rules;

	/* The cgroup's name is walked only for the appraise family, the one that has
	 * container=ID in the kernel. */
	__u32 need = pol->conditions;

	if (family != EIMA_FAMILY_APPRAISE)
		need &= ~EIMA_COND_CONTAINER_ID;
	access_fill(a, need, (struct inode *)inode);
	bpf_loop(n < EIMA_MAX_RULES ? n : EIMA_MAX_RULES, policy_step, &w, 0);
	if (w.reqprot.measure)
		*m = w.reqprot;
	return m->measure ? 1 : 0;
}

/*
 * True when the policy says "measure"; m then names the deciding rule (else the
 * dont_measure rule that decided, if any). `a` carries what the hook knows (func, mask,
 * reqprot_exec, is_host, and `known` for anything else it filled); what the policy
 * compares besides is read from the inode and the current task first.
 */
static __always_inline bool policy_match(const struct eima_policy *pol, struct eima_access *a,
					 struct inode *inode, struct eima_match *m)
{
	return eima_policy_decide(pol, a, (__u64)(long)inode, m, EIMA_FAMILY_MEASURE) == 1;
}

/* True when an appraise rule covers the access (m names it), false for dont_appraise or
 * no rule. Same walk, same attributes, the appraise family of actions. */
static __always_inline bool appraise_match(const struct eima_policy *pol, struct eima_access *a,
					   struct inode *inode, struct eima_match *m)
{
	return eima_policy_decide(pol, a, (__u64)(long)inode, m, EIMA_FAMILY_APPRAISE) == 1;
}

#endif /* EIMA_BPF_POLICY_MATCH_H */
