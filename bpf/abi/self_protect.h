/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Self-protection (eimad --protect, docs/self-protection.md): what eimad tells
 * bpf/self_protect.bpf.c about itself and the objects it owns. Defined once, here; read by
 * the BPF hooks, written by src/agent/self_protection.cpp. Refusal kinds are stable
 * numbers (they index the "protect_refusals" counters that `eima status` names): never
 * renumber, only append.
 */
#ifndef EIMA_ABI_SELF_PROTECT_H
#define EIMA_ABI_SELF_PROTECT_H

#ifdef __bpf__
/* vmlinux.h provides __u8 .. __u64 */
#else
#include <linux/types.h>
#endif

/* The one value of the "protect_cfg" array map. A zeroed value (a freshly loaded object,
 * before eimad fills it) protects nothing. */
struct eima_protect_cfg {
	__u32 enabled;
	__u32 owner_tgid; /* the eimad that owns the protected set (in the initial pid ns) */
	/* eimad's executable (kernel dev_t MAJOR << 20 | MINOR, inode): when the owner is
	 * gone (a crash), a process running this file may take the set over (a restart). */
	__u64 exe_dev;
	__u64 exe_ino;
	/* The bpffs instance holding the pins (kernel dev_t): it may not be unmounted. */
	__u64 pins_dev;
	/* Tests only (eimad built with EIMA_TEST_BYPASS, option --protect-test-kill-cgroup):
	 * signals from tasks in this cgroup reach eimad, so a test can simulate a crash with
	 * kill -9. 0 (always, in a production build): no bypass. */
	__u64 test_kill_cgroup;
};

/* Keys of "protected_objs": eima's BPF objects by their kernel-wide ids, which are never
 * reused while the object exists. */
enum eima_protected_kind {
	EIMA_PROT_MAP = 1,
	EIMA_PROT_LINK = 2,
	EIMA_PROT_PROG = 3,
};
struct eima_protected_obj {
	__u32 kind; /* enum eima_protected_kind */
	__u32 id;
};

/* Keys of "protected_dirs": the pin directories on bpffs whose entries no one else may
 * unlink or rename. */
struct eima_protected_dir {
	__u64 dev; /* kernel dev_t of the bpffs instance */
	__u64 ino;
};

/* What was refused, counted per kind in "protect_refusals" (a per-CPU array). */
enum eima_protect_refusal {
	EIMA_PR_MAP_WRITE = 0,	 /* a writable fd to a protected map */
	EIMA_PR_LINK = 1,	 /* BPF_LINK_DETACH / BPF_LINK_UPDATE of a protected link */
	EIMA_PR_SIGNAL = 2,	 /* a signal to eimad */
	EIMA_PR_PTRACE = 3,	 /* ptrace attach, /proc/PID/mem write, process_vm_writev */
	EIMA_PR_PIN = 4,	 /* unlink or rename in a protected pin directory */
	EIMA_PR_UMOUNT = 5,	 /* unmounting the bpffs that holds the pins */
	EIMA_PR_KEY = 6,	 /* unlink, invalidate, write, link, setattr of a protected key */
	EIMA_PR_COUNT = 7,
};

/* One refusal, as eimad writes it to RUN/audit.jsonl (mechanism "self_protection"): a
 * record of the "protect_events" ring buffer. A record the full ring could not take is
 * counted in "protect_events_lost"; the refusal is in "protect_refusals" either way. */
struct eima_protect_event {
	__u64 ktime_ns; /* bpf_ktime_get_ns (CLOCK_MONOTONIC) */
	__u32 kind;	/* enum eima_protect_refusal */
	__u32 pid;	/* the refused process (tgid) and thread, in the initial pid namespace */
	__u32 tid;
	__u32 uid;
	/* What was touched: map_write the map id, link the link id, signal the signal number,
	 * ptrace the ptrace mode, pin the directory's inode number, key the key's serial;
	 * umount 0. */
	__u64 target;
	char comm[16];
};

#define EIMA_PROTECT_EVENTS_BYTES (64 * 1024)

/* Values of "protected_keys" (by serial). */
enum eima_protected_key {
	EIMA_PROT_KEY = 1, /* eimad's keyring or a key in it */
};

#define EIMA_PROTECT_MAX_OBJS 256
#define EIMA_PROTECT_MAX_DIRS 8
#define EIMA_PROTECT_MAX_KEYS 64

#endif
