// SPDX-License-Identifier: GPL-2.0
// A program the kernel's verifier refuses (tests/kernel/bpf_policy_test.sh): it indexes a
// global array with the packet's length, unchecked. Signed, it passes eima's checks and its
// loader's own; the verifier refuses it when the loader loads it, and `eima bpf load` must
// say why (the verifier's last line), not only EACCES.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

int values[4];

SEC("socket")
int refused_sample(struct __sk_buff *skb)
{
	return values[skb->len];
}
