// SPDX-License-Identifier: GPL-2.0
/* Smallest useful BPF LSM program, for tests/vm/selftest.sh: it denies creating AF_VSOCK
 * sockets (family 40), which nothing else in the test VM uses, so that the self-test can
 * see a BPF LSM program load, attach and enforce in the guest. No vmlinux.h: the LSM
 * program's context is the hook's arguments as u64s, then the previous LSM's verdict. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define AF_VSOCK 40
#define EPERM 1

char LICENSE[] SEC("license") = "GPL";

/* int socket_create(int family, int type, int protocol, int kern) */
SEC("lsm/socket_create")
int deny_vsock(unsigned long long *ctx)
{
	int family = (int)ctx[0];
	int ret = (int)ctx[4];

	if (ret) /* an earlier LSM already denied: keep its verdict */
		return ret;
	return family == AF_VSOCK ? -EPERM : 0;
}
