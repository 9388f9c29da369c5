// SPDX-License-Identifier: GPL-2.0
// The smallest program the trusted-loader test (tests/kernel/bpf_policy_test.sh) signs and
// loads through `eima bpf load`: its instructions are exactly `w0 = 7; exit` (clang -mcpu=v3), which
// tests/kernel/raw_prog_load.py can submit by hand, unchanged (its tag was recorded, so it
// loads) and changed (w0 = 8: another tag, refused).
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

SEC("socket")
int socket_sample(void *ctx)
{
	return 7;
}
