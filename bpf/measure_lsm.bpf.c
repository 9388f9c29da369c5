// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Measurement from BPF LSM hooks: synchronous, in the task that executes or maps the
 * file, the same places kernel IMA measures (BPRM_CHECK, MMAP_CHECK, FILE_CHECK). These
 * hooks only measure: they return the verdict they were given.
 *
 * Each hook comes twice. The sleepable set (lsm.s/) also hashes the file on a cache miss
 * (bpf_ima_file_hash), as kernel IMA does, so the event carries the digest of what ran;
 * the plain set (lsm/) only reports the file and eimad hashes it later. eimad loads the
 * sleepable set and falls back to the plain one where the kernel refuses it (no
 * bpf_ima_file_hash, or no sleepable mmap_file).
 */
#include "lib/measure.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by eimad when the policy has FILE_CHECK rules; otherwise file_open costs a load. */
const volatile bool want_file_check = false;

static __always_inline void bprm_check(struct file *file, bool hash)
{
	measure_file(file, EIMA_FUNC_BPRM_CHECK, EIMA_MAY_EXEC, false, 0, hash);
}

static __always_inline void mmap_file(struct file *file, unsigned long reqprot,
				      unsigned long prot, bool hash)
{
	if (file && (prot & PROT_EXEC))
		measure_file(file, EIMA_FUNC_MMAP_CHECK, EIMA_MAY_EXEC, reqprot & PROT_EXEC, 0,
			     hash);
}

static __always_inline void file_mprotect(struct vm_area_struct *vma, unsigned long reqprot,
					  unsigned long prot, bool hash)
{
	/* As ima_file_mprotect: only a mapping that becomes executable is news. */
	if (!(prot & PROT_EXEC) || (vma->vm_flags & VM_EXEC))
		return;
	measure_file(vma->vm_file, EIMA_FUNC_MMAP_CHECK, EIMA_MAY_EXEC, reqprot & PROT_EXEC, 0,
		     hash);
}

static __always_inline void file_open(struct file *file, bool hash)
{
	if (!want_file_check || (bpf_get_current_pid_tgid() >> 32) == agent_tgid)
		return;
	__u32 fmode = file->f_mode;
	__u32 mask = (fmode & FMODE_READ ? EIMA_MAY_READ : 0) |
		     (fmode & FMODE_WRITE ? EIMA_MAY_WRITE : 0);

	measure_file(file, EIMA_FUNC_FILE_CHECK, mask, false, 0, hash);
}

/* Sleepable: hash in the hook. bprm->file and vma->vm_file are read as BTF pointers (not
 * probe reads) because bpf_ima_file_hash takes only those. */
SEC("lsm.s/bprm_check_security")
int BPF_PROG(eima_bprm_check_hash, struct linux_binprm *bprm, int ret)
{
	bprm_check(bprm->file, true);
	return ret;
}

SEC("lsm.s/mmap_file")
int BPF_PROG(eima_mmap_file_hash, struct file *file, unsigned long reqprot, unsigned long prot,
	     unsigned long flags, int ret)
{
	mmap_file(file, reqprot, prot, true);
	return ret;
}

SEC("lsm.s/file_open")
int BPF_PROG(eima_file_open_hash, struct file *file, int ret)
{
	file_open(file, true);
	return ret;
}

/* Plain: report only. file_mprotect is always this one: it is not a sleepable hook on
 * 6.12 (it runs under mmap_lock), so a library made executable by mprotect is hashed by
 * eimad, as kernel IMA does not hash there either. */
SEC("lsm/bprm_check_security")
int BPF_PROG(eima_bprm_check, struct linux_binprm *bprm, int ret)
{
	bprm_check(bprm->file, false);
	return ret;
}

SEC("lsm/mmap_file")
int BPF_PROG(eima_mmap_file, struct file *file, unsigned long reqprot, unsigned long prot,
	     unsigned long flags, int ret)
{
	mmap_file(file, reqprot, prot, false);
	return ret;
}

SEC("lsm/file_mprotect")
int BPF_PROG(eima_file_mprotect, struct vm_area_struct *vma, unsigned long reqprot,
	     unsigned long prot, int ret)
{
	file_mprotect(vma, reqprot, prot, false);
	return ret;
}

SEC("lsm/file_open")
int BPF_PROG(eima_file_open, struct file *file, int ret)
{
	file_open(file, false);
	return ret;
}
