// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * bpf/lib/policy_match.h on accesses made up in user space, for policy_match_test.cpp to
 * compare with src/policy/policy_matcher.cpp. SEC("syscall"): BPF_PROG_TEST_RUN hands it
 * the context from user space and copies it back, and it loads where LSM and fentry
 * programs do not. The walk is the hooks' own; only the attributes come from the context
 * (access.known covers them all) instead of an inode and the current task; read_creds
 * below runs the credential reads themselves.
 */
#include "vmlinux.h"

#include "lib/policy_match.h"
#include "tests/bpf/policy_match_run.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The compiled policy under test, written by the test before each batch of runs. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct eima_policy);
} policy SEC(".maps");

SEC("syscall")
int run_policy_match(struct eima_policy_match_run *run)
{
	__u32 zero = 0;
	struct eima_policy *pol = bpf_map_lookup_elem(&policy, &zero);
	/* On the stack, as in measure_file(): the walk writes what it reads into it. */
	struct eima_access a = run->access;
	struct eima_match m = {};

	if (!pol)
		return 1;
	run->measure = policy_match(pol, &a, NULL, &m);
	run->match = m;
	return 0;
}

/*
 * access_fill()'s reads of the credentials, on the task that runs the test (a
 * SEC("syscall") program runs in the caller): run->access.known names what to read (the
 * EIMA_COND_* bits a policy would have); everything but the credentials counts as known, so
 * no inode is needed. policy_match_test.cpp compares the result with getresuid(),
 * getresgid() and capget().
 */
SEC("syscall")
int read_creds(struct eima_policy_match_run *run)
{
	struct eima_access a = {};

	a.known = (__u16)~EIMA_COND_CRED_ATTRS;
	access_fill(&a, run->access.known, NULL);
	run->access = a;
	return 0;
}
