#!/usr/bin/env python3
"""Attaches a pinned BPF LSM program and checks that it enforces (tests/vm/selftest.sh).

Run in the test VM after `bpftool prog load lsm_smoke.bpf.o PIN` (bpftool 7.1 cannot
attach LSM programs). Creates an AF_VSOCK socket before attaching (must not fail with
EPERM), attaches with BPF_RAW_TRACEPOINT_OPEN, creates one again (must fail with EPERM),
detaches by closing the link and checks the denial is gone. Prints one line per step;
exit status 0 only when all three hold.
"""
import ctypes
import errno
import os
import socket
import sys

BPF_OBJ_GET = 7
BPF_RAW_TRACEPOINT_OPEN = 17
SYS_BPF = 321  # x86_64

libc = ctypes.CDLL(None, use_errno=True)


def bpf(cmd, attr):
    buf = ctypes.create_string_buffer(attr, 128)
    fd = libc.syscall(SYS_BPF, cmd, buf, len(buf))
    if fd < 0:
        e = ctypes.get_errno()
        raise OSError(e, f"bpf({cmd}): {os.strerror(e)}")
    return fd


def vsock_errno():
    try:
        socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM).close()
        return 0
    except OSError as e:
        return e.errno


def main(pin):
    path = ctypes.create_string_buffer(pin.encode())
    # union bpf_attr for BPF_OBJ_GET: u64 pathname, u32 bpf_fd, u32 file_flags
    prog_fd = bpf(BPF_OBJ_GET, ctypes.addressof(path).to_bytes(8, "little") + bytes(8))
    ok = True

    before = vsock_errno()
    print(f"before attach: socket(AF_VSOCK) errno {before}")
    ok &= before != errno.EPERM

    # BPF_RAW_TRACEPOINT_OPEN: u64 name (NULL for LSM: the target is in the program), u32 prog_fd
    link_fd = bpf(BPF_RAW_TRACEPOINT_OPEN, bytes(8) + prog_fd.to_bytes(4, "little") + bytes(4))
    during = vsock_errno()
    print(f"attached: socket(AF_VSOCK) errno {during}")
    ok &= during == errno.EPERM

    os.close(link_fd)
    after = vsock_errno()
    print(f"detached: socket(AF_VSOCK) errno {after}")
    ok &= after != errno.EPERM
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
