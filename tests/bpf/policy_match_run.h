/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * One run of bpf/lib/policy_match.h under BPF_PROG_TEST_RUN: the context of the
 * SEC("syscall") program in policy_match_test.bpf.c, which the kernel copies in and back
 * out. Shared by that program and policy_match_test.cpp; its layout is checked against the
 * object's BTF there.
 */
#ifndef EIMA_TESTS_BPF_POLICY_MATCH_RUN_H
#define EIMA_TESTS_BPF_POLICY_MATCH_RUN_H

#include "bpf/abi/policy.h"

struct eima_policy_match_run {
	struct eima_access access; /* in: every attribute known */
	struct eima_match match;   /* out */
	__u32 measure;             /* out: what policy_match() returned */
	__u32 pad;
};

#endif /* EIMA_TESTS_BPF_POLICY_MATCH_RUN_H */
