// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Measurement without BPF LSM: tracepoints see the same files after the fact. Weaker than
 * the LSM hooks (nothing here can deny, and a file opened without exec or mmap is not
 * seen: no FILE_CHECK), and reported as such by `eima status`.
 *  - exec: tp_btf/sched_process_exec gives the binprm, its file, and the new mm, in which
 *    the ELF interpreter (ld.so, mapped by the kernel, not by a syscall) is found from
 *    AT_BASE in the saved auxv;
 *  - mmap/mprotect with PROT_EXEC: syscall entry tracepoints, the file from the fd table or
 *    the VMA at the address.
 */
#include "lib/measure.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define AT_NULL 0
#define AT_BASE 7
#define MAP_ANONYMOUS 0x20
/* saved_auxv holds (type, value) pairs; 56 longs on x86-64 */
#define AUXV_WORDS 56

struct vma_found {
	struct file *file;
	__u64 vm_flags;
};

static long vma_file_cb(struct task_struct *task, struct vm_area_struct *vma, void *data)
{
	struct vma_found *found = data;

	found->file = vma->vm_file;
	found->vm_flags = vma->vm_flags;
	return 0;
}

/* AT_BASE sits early in the auxv (after the vDSO, hwcap, page size, clock tick and
 * program-header entries): read it in chunks, one kernel read per chunk rather than one
 * per word, which is most of this program's cost on every exec. */
#define AUXV_CHUNK 16

static __always_inline __u64 interpreter_base(struct task_struct *task)
{
	struct mm_struct *mm = task->mm;
	__u64 words[AUXV_CHUNK];

	if (!mm)
		return 0;
	for (int chunk = 0; chunk < AUXV_WORDS / AUXV_CHUNK; chunk++) {
		if (bpf_probe_read_kernel(words, sizeof(words),
					  (void *)mm->saved_auxv + chunk * sizeof(words)))
			return 0;
		for (int i = 0; i < AUXV_CHUNK; i += 2) {
			if (words[i] == AT_NULL)
				return 0;
			if (words[i] == AT_BASE)
				return words[i + 1];
		}
	}
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(eima_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct vma_found found = {};
	__u64 base;

	/* The ELF loader also mapped the executable PROT_EXEC, which kernel IMA (and our
	 * LSM mmap_file hook) sees as MMAP_CHECK: ask the policy again only when BPRM_CHECK
	 * did not put the file in the list. */
	if (!measure_file(bprm->file, EIMA_FUNC_BPRM_CHECK, EIMA_MAY_EXEC, false, 0, NULL))
		measure_file(bprm->file, EIMA_FUNC_MMAP_CHECK, EIMA_MAY_EXEC, true, 0, NULL);

	/* The kernel mapped the interpreter itself: no mmap syscall to see it by. */
	base = interpreter_base(task);
	if (base && !bpf_find_vma(task, base, vma_file_cb, &found, 0) && found.file)
		measure_file(found.file, EIMA_FUNC_MMAP_CHECK, EIMA_MAY_EXEC, true,
			     EIMA_EVF_INTERPRETER, NULL);
	return 0;
}

static __always_inline struct file *fd_file(struct task_struct *task, unsigned int fd)
{
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds;
	struct file *file = NULL;

	if (!fdt || fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]);
	return file;
}

SEC("tracepoint/syscalls/sys_enter_mmap")
int eima_mmap(struct trace_event_raw_sys_enter *ctx)
{
	unsigned long prot = ctx->args[2], flags = ctx->args[3];
	int fd = (int)ctx->args[4];

	if (!(prot & PROT_EXEC) || (flags & MAP_ANONYMOUS) || fd < 0)
		return 0;
	struct task_struct *task = bpf_get_current_task_btf();

	measure_file(fd_file(task, fd), EIMA_FUNC_MMAP_CHECK, EIMA_MAY_EXEC, true, 0, NULL);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_mprotect")
int eima_mprotect(struct trace_event_raw_sys_enter *ctx)
{
	unsigned long start = ctx->args[0], prot = ctx->args[2];
	struct vma_found found = {};

	if (!(prot & PROT_EXEC))
		return 0;
	struct task_struct *task = bpf_get_current_task_btf();

	if (bpf_find_vma(task, start, vma_file_cb, &found, 0) || !found.file ||
	    (found.vm_flags & VM_EXEC))
		return 0;
	measure_file(found.file, EIMA_FUNC_MMAP_CHECK, EIMA_MAY_EXEC, true, 0, NULL);
	return 0;
}
