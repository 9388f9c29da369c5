#!/usr/bin/env python3
"""Loads the socket filter `w0 = IMM; exit` (as clang -mcpu=v3 writes `return IMM;`) with a bare bpf(BPF_PROG_LOAD), without libbpf
(whose feature probes load programs of their own first), so that a test controls every
instruction the kernel sees. Prints "loaded tag HEX" and exits 0, or "errno NAME" and
exits 1.   raw_prog_load.py IMM"""
import ctypes
import errno
import os
import struct
import sys

SYS_BPF = 321  # x86_64
BPF_PROG_LOAD, BPF_OBJ_GET_INFO_BY_FD = 5, 15
BPF_PROG_TYPE_SOCKET_FILTER = 1

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


def bpf(cmd, attr):
    buf = ctypes.create_string_buffer(bytes(attr), len(attr))
    ret = libc.syscall(SYS_BPF, cmd, buf, len(attr))
    return ret, ctypes.get_errno(), buf


imm = int(sys.argv[1], 0)
insns = struct.pack("<BBhi", 0xB4, 0, 0, imm) + struct.pack("<BBhi", 0x95, 0, 0, 0)
insn_buf = ctypes.create_string_buffer(insns, len(insns))
license_buf = ctypes.create_string_buffer(b"GPL")
attr = bytearray(128)
struct.pack_into("<IIQQ", attr, 0, BPF_PROG_TYPE_SOCKET_FILTER, 2,
                 ctypes.addressof(insn_buf), ctypes.addressof(license_buf))
fd, err, _ = bpf(BPF_PROG_LOAD, attr)
if fd < 0:
    print("errno", errno.errorcode.get(err, str(err)))
    sys.exit(1)
info = ctypes.create_string_buffer(256)
get = bytearray(16)
struct.pack_into("<IIQ", get, 0, fd, 256, ctypes.addressof(info))
ret, err, _ = bpf(BPF_OBJ_GET_INFO_BY_FD, get)
os.close(fd)
if ret < 0:
    print("errno", errno.errorcode.get(err, str(err)))
    sys.exit(1)
# struct bpf_prog_info: type, id, then tag[8]
print("loaded tag", info.raw[8:16].hex())
