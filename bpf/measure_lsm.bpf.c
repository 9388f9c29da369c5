// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Measurement from BPF LSM hooks: synchronous, in the task that executes or maps the
 * file, the same places kernel IMA measures (BPRM_CHECK, MMAP_CHECK, FILE_CHECK). These
 * hooks only measure: they return the verdict they were given.
 */
#include "lib/measure.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by eimad when the policy has FILE_CHECK rules; otherwise file_open costs a load. */
const volatile bool want_file_check = false;

SEC("lsm/bprm_check_security")
int BPF_PROG(eima_bprm_check, struct linux_binprm *bprm, int ret)
{
	measure_file(BPF_CORE_READ(bprm, file), EIMA_FUNC_BPRM_CHECK, EIMA_MAY_EXEC, false, 0);
	return ret;
}

SEC("lsm/mmap_file")
int BPF_PROG(eima_mmap_file, struct file *file, unsigned long reqprot, unsigned long prot,
	     unsigned long flags, int ret)
{
	if (file && (prot & PROT_EXEC))
		measure_file(file, EIMA_FUNC_MMAP_CHECK, EIMA_MAY_EXEC, reqprot & PROT_EXEC, 0);
	return ret;
}

SEC("lsm/file_mprotect")
int BPF_PROG(eima_file_mprotect, struct vm_area_struct *vma, unsigned long reqprot,
	     unsigned long prot, int ret)
{
	/* As ima_file_mprotect: only a mapping that becomes executable is news. */
	if (!(prot & PROT_EXEC) || (BPF_CORE_READ(vma, vm_flags) & VM_EXEC))
		return ret;
	measure_file(BPF_CORE_READ(vma, vm_file), EIMA_FUNC_MMAP_CHECK, EIMA_MAY_EXEC,
		     reqprot & PROT_EXEC, 0);
	return ret;
}

SEC("lsm/file_open")
int BPF_PROG(eima_file_open, struct file *file, int ret)
{
	if (!want_file_check || (bpf_get_current_pid_tgid() >> 32) == agent_tgid)
		return ret;
	__u32 fmode = BPF_CORE_READ(file, f_mode);
	__u32 mask = (fmode & FMODE_READ ? EIMA_MAY_READ : 0) |
		     (fmode & FMODE_WRITE ? EIMA_MAY_WRITE : 0);

	measure_file(file, EIMA_FUNC_FILE_CHECK, mask, false, 0);
	return ret;
}
