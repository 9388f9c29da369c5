// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Measurement and enforcement from BPF LSM hooks: synchronous, in the task that executes
 * or maps the file, the same places kernel IMA measures and appraises (BPRM_CHECK,
 * MMAP_CHECK, FILE_CHECK).
 *
 * Each hook comes twice. The sleepable set (lsm.s/) also hashes the file on a cache miss
 * (bpf_ima_file_hash), as kernel IMA does, so the event carries the digest of what ran,
 * and appraises it against its blessing (bpf/lib/appraise.h) with that same digest; the
 * plain set (lsm/) only reports the file and eimad hashes it later. eimad loads the
 * sleepable set and falls back to the plain one where the kernel refuses it (no
 * bpf_ima_file_hash, or no sleepable mmap_file); the plain set never enforces (eimad
 * refuses --appraise enforce|audit without the sleepable set).
 */
#include "lib/measure.h"
#include "lib/appraise.h"
#include "lib/tamper.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/*
 * Measurement and appraisal each in a frame of its own: inlined into the hook, their
 * locals shared one frame, which with eima_policy_decide() and its callback went over the
 * verifier's 512 bytes of stack for the whole call chain.
 */
static __noinline int measure(struct file *file, __u32 func, __u32 mask, bool reqprot_exec,
			      struct eima_digest_slot *ds)
{
	return measure_file(file, func, mask, reqprot_exec, 0, ds);
}

static __noinline int appraise(struct file *file, __u32 func, bool reqprot_exec,
			       struct appraise_task *t)
{
	return appraise_file(file, func, EIMA_MAY_EXEC, reqprot_exec, t);
}

/* file_open's refusal of writers to blessed files in a frame of its own: inlined, its
 * locals (the policy scope's access, the file's identity) and measure()'s frame went over
 * the verifier's 512 bytes (624) once FILE_CHECK measuring and blessed files are both
 * live in one program, as they are in the signed object, loaded whole. */
static __noinline int tamper_open(struct file *file)
{
	return tamper_file_open(file);
}

/* Measure first, then appraise, as kernel IMA does: a refused exec is in the list too. */
static __always_inline int bprm_check(struct file *file, bool hash)
{
	struct appraise_task *t = hash ? appraise_task_get() : NULL;

	measure(file, EIMA_FUNC_BPRM_CHECK, EIMA_MAY_EXEC, false, t ? &t->digest : NULL);
	if (!hash)
		return 0;
	return appraise(file, EIMA_FUNC_BPRM_CHECK, false, t);
}

static __always_inline int mmap_file(struct file *file, unsigned long reqprot,
				     unsigned long prot, bool hash)
{
	if (!file || !(prot & PROT_EXEC))
		return 0;
	struct appraise_task *t = hash ? appraise_task_get() : NULL;

	measure(file, EIMA_FUNC_MMAP_CHECK, EIMA_MAY_EXEC, reqprot & PROT_EXEC,
		t ? &t->digest : NULL);
	if (!hash)
		return 0;
	return appraise(file, EIMA_FUNC_MMAP_CHECK, reqprot & PROT_EXEC, t);
}

static __always_inline void file_open(struct file *file, bool hash)
{
	if (!probe_config.want_file_check || current_is_agent())
		return;
	__u32 fmode = file->f_mode;
	__u32 mask = (fmode & FMODE_READ ? EIMA_MAY_READ : 0) |
		     (fmode & FMODE_WRITE ? EIMA_MAY_WRITE : 0);
	struct appraise_task *t = hash ? appraise_task_get() : NULL;

	measure(file, EIMA_FUNC_FILE_CHECK, mask, false, t ? &t->digest : NULL);
}

/* Sleepable: hash in the hook, and appraise. bprm->file and vma->vm_file are read as BTF
 * pointers (not probe reads) because bpf_ima_file_hash takes only those. A verdict an
 * earlier LSM gave stands. */
SEC("lsm.s/bprm_check_security")
int BPF_PROG(eima_bprm_check_hash, struct linux_binprm *bprm, int ret)
{
	if (ret)
		return ret;
	return bprm_check(bprm->file, true);
}

SEC("lsm.s/mmap_file")
int BPF_PROG(eima_mmap_file_hash, struct file *file, unsigned long reqprot, unsigned long prot,
	     unsigned long flags, int ret)
{
	if (ret)
		return ret;
	return mmap_file(file, reqprot, prot, true);
}

/* Also where a blessed file is known as such, and refused to writers (lib/tamper.h). */
SEC("lsm.s/file_open")
int BPF_PROG(eima_file_open_hash, struct file *file, int ret)
{
	file_open(file, true);
	if (ret)
		return ret;
	return tamper_open(file);
}

/*
 * Changes to a blessed file (lib/tamper.h), from the inode's mark. The path hooks
 * (CONFIG_SECURITY_PATH, which Debian's kernels have) give the mount, so the audit record
 * has the whole path; the xattr hooks have only the dentry. None needs to sleep: they read
 * a mark, not the xattr. A refusal an earlier LSM gave stands.
 */
SEC("lsm/file_truncate")
int BPF_PROG(eima_file_truncate, struct file *file, int ret)
{
	if (ret)
		return ret;
	return tamper_inode(file->f_path.dentry, file->f_path.mnt, file->f_inode, EIMA_OP_TRUNCATE);
}

SEC("lsm/path_truncate")
int BPF_PROG(eima_path_truncate, const struct path *path, int ret)
{
	if (ret)
		return ret;
	return tamper_dentry(path->dentry, path->mnt, EIMA_OP_TRUNCATE);
}

SEC("lsm/path_unlink")
int BPF_PROG(eima_path_unlink, const struct path *dir, struct dentry *dentry, int ret)
{
	if (ret)
		return ret;
	return tamper_dentry(dentry, dir->mnt, EIMA_OP_UNLINK);
}

SEC("lsm/path_link")
int BPF_PROG(eima_path_link, struct dentry *old_dentry, const struct path *new_dir,
	     struct dentry *new_dentry, int ret)
{
	if (ret)
		return ret;
	return tamper_dentry(old_dentry, new_dir->mnt, EIMA_OP_LINK);
}

/* Both ends: the blessed file moved away, or another file moved over it (both are
 * reported in audit mode). */
SEC("lsm/path_rename")
int BPF_PROG(eima_path_rename, const struct path *old_dir, struct dentry *old_dentry,
	     const struct path *new_dir, struct dentry *new_dentry, unsigned int flags, int ret)
{
	if (ret)
		return ret;
	int moved = tamper_dentry(old_dentry, old_dir->mnt, EIMA_OP_RENAME);
	int over = tamper_dentry(new_dentry, new_dir->mnt, EIMA_OP_RENAME_OVER);

	return moved ? moved : over;
}

SEC("lsm/inode_setxattr")
int BPF_PROG(eima_inode_setxattr, struct mnt_idmap *idmap, struct dentry *dentry,
	     const char *name, const void *value, size_t size, int flags, int ret)
{
	if (ret)
		return ret;
	return tamper_xattr(dentry, name, EIMA_OP_SETXATTR);
}

SEC("lsm/inode_removexattr")
int BPF_PROG(eima_inode_removexattr, struct mnt_idmap *idmap, struct dentry *dentry,
	     const char *name, int ret)
{
	if (ret)
		return ret;
	return tamper_removexattr(dentry, name);
}

/*
 * The same changes where the kernel can read a dentry's xattr (bpf_get_dentry_xattr,
 * 6.12+): eimad loads these instead of the unlink, link, rename and setxattr hooks above,
 * and inode_setattr beside path_truncate, so a blessed file is protected whether or not a
 * task opened it (lib/tamper.h). Each hook is sleepable on 6.12 too, so this object, loaded
 * whole by its signed loader, loads there. That is why inode_removexattr, not sleepable on
 * 6.12, has no such variant; truncate(2) is caught in inode_setattr because
 * path_truncate's dentry is not an argument, which bpf_get_dentry_xattr wants.
 */
SEC("lsm.s/path_unlink")
int BPF_PROG(eima_path_unlink_read, const struct path *dir, struct dentry *dentry, int ret)
{
	if (ret)
		return ret;
	return tamper_dentry_read(dentry, dir->mnt, EIMA_OP_UNLINK);
}

SEC("lsm.s/path_link")
int BPF_PROG(eima_path_link_read, struct dentry *old_dentry, const struct path *new_dir,
	     struct dentry *new_dentry, int ret)
{
	if (ret)
		return ret;
	return tamper_dentry_read(old_dentry, new_dir->mnt, EIMA_OP_LINK);
}

SEC("lsm.s/path_rename")
int BPF_PROG(eima_path_rename_read, const struct path *old_dir, struct dentry *old_dentry,
	     const struct path *new_dir, struct dentry *new_dentry, unsigned int flags, int ret)
{
	if (ret)
		return ret;
	int moved = tamper_dentry_read(old_dentry, old_dir->mnt, EIMA_OP_RENAME);
	int over = tamper_dentry_read(new_dentry, new_dir->mnt, EIMA_OP_RENAME_OVER);

	return moved ? moved : over;
}

SEC("lsm.s/inode_setxattr")
int BPF_PROG(eima_inode_setxattr_read, struct mnt_idmap *idmap, struct dentry *dentry,
	     const char *name, const void *value, size_t size, int flags, int ret)
{
	if (ret)
		return ret;
	return tamper_xattr_read(dentry, name, EIMA_OP_SETXATTR);
}

/* truncate(2) reaches here through notify_change, after path_truncate. */
SEC("lsm.s/inode_setattr")
int BPF_PROG(eima_inode_setattr_read, struct mnt_idmap *idmap, struct dentry *dentry,
	     struct iattr *attr, int ret)
{
	if (ret)
		return ret;
	return tamper_setattr_read(dentry, attr);
}

SEC("lsm/inode_post_setxattr")
int BPF_PROG(eima_inode_post_setxattr, struct dentry *dentry, const char *name)
{
	tamper_mark(dentry, name, true);
	return 0;
}

SEC("lsm/inode_post_removexattr")
int BPF_PROG(eima_inode_post_removexattr, struct dentry *dentry, const char *name)
{
	tamper_mark(dentry, name, false);
	return 0;
}

/* Plain: report only. */
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

/*
 * file_mprotect is never sleepable (it runs under mmap_lock on 6.12): a mapping made
 * executable by mprotect is hashed by eimad, as kernel IMA does not hash there either, and
 * appraised from the verdict cache alone: allowed only when this version of the file was
 * verified by an exec or mmap before (ld.so maps a library before it mprotects it), else
 * refused (EIMA_AR_NOT_VERIFIED). Deny-when-unknown is the safe side: a sleepable hook
 * could not be reached from here to verify.
 */
SEC("lsm/file_mprotect")
int BPF_PROG(eima_file_mprotect, struct vm_area_struct *vma, unsigned long reqprot,
	     unsigned long prot, int ret)
{
	/* As ima_file_mprotect: only a mapping that becomes executable is news. */
	if (ret || !(prot & PROT_EXEC) || (vma->vm_flags & VM_EXEC))
		return ret;
	measure(vma->vm_file, EIMA_FUNC_MMAP_CHECK, EIMA_MAY_EXEC, reqprot & PROT_EXEC, NULL);
	return appraise(vma->vm_file, EIMA_FUNC_MMAP_CHECK, reqprot & PROT_EXEC, NULL);
}

SEC("lsm/file_open")
int BPF_PROG(eima_file_open, struct file *file, int ret)
{
	file_open(file, false);
	return ret;
}
