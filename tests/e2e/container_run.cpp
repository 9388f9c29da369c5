// A container as runtimes make them, without a runtime: new mount, pid, uts and ipc
// namespaces, then pivot_root (or chroot) into a root filesystem, then exec. Nothing from
// the host is executed inside the new mount namespace, so a container's measurement list
// holds exactly the files the test runs in it.
//
//   eima-test-container [--chroot] [--hostname NAME] ROOTFS -- COMMAND [ARGS...]
//
// Exits with COMMAND's status (128+signal if it was killed).
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

static int die(const char *what, const std::string &arg = {})
{
	std::fprintf(stderr, "eima-test-container: %s %s: %s\n", what, arg.c_str(),
		     std::strerror(errno));
	return 125;
}

static int enter_root(const std::string &rootfs, bool use_chroot)
{
	if (use_chroot) {
		if (::chroot(rootfs.c_str()) != 0)
			return die("chroot", rootfs);
		return ::chdir("/") == 0 ? 0 : die("chdir", "/");
	}
	// pivot_root needs the new root to be a mount point.
	if (::mount(rootfs.c_str(), rootfs.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0)
		return die("bind mount", rootfs);
	if (::chdir(rootfs.c_str()) != 0)
		return die("chdir", rootfs);
	// pivot_root(".", ".") stacks the old root on top of the new one; detach it.
	if (::syscall(SYS_pivot_root, ".", ".") != 0)
		return die("pivot_root", rootfs);
	if (::umount2(".", MNT_DETACH) != 0)
		return die("umount old root");
	return ::chdir("/") == 0 ? 0 : die("chdir", "/");
}

// The child's part: returns only when a step failed, with the status to exit with. The
// caller ends the child with _exit, not by returning from main: the exit-time work (atexit
// handlers, a sanitizer's leak check writing its report to a host path the new root does
// not have) belongs to the parent.
static int run_child(const std::string &hostname, const std::string &rootfs, bool use_chroot,
		     std::vector<char *> &cmd)
{
	if (::sethostname(hostname.c_str(), hostname.size()) != 0)
		return die("sethostname", hostname);
	if (int rc = enter_root(rootfs, use_chroot))
		return rc;
	struct stat st;
	if (::stat("/proc", &st) == 0 && S_ISDIR(st.st_mode))
		::mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
	::execv(cmd[0], cmd.data());
	return die("exec", cmd[0]);
}

int main(int argc, char **argv)
{
	bool use_chroot = false;
	std::string hostname = "eima-test", rootfs;
	int i = 1;
	for (; i < argc; ++i) {
		std::string a = argv[i];
		if (a == "--chroot")
			use_chroot = true;
		else if (a == "--hostname" && i + 1 < argc)
			hostname = argv[++i];
		else if (a == "--")
			break;
		else
			rootfs = a;
	}
	if (rootfs.empty() || i + 1 >= argc) {
		std::fprintf(stderr, "usage: eima-test-container [--chroot] [--hostname NAME] "
				     "ROOTFS -- COMMAND [ARGS...]\n");
		return 2;
	}
	std::vector<char *> cmd(argv + i + 1, argv + argc);
	cmd.push_back(nullptr);

	if (::unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC) != 0)
		return die("unshare");
	if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
		return die("make mounts private");
	pid_t child = ::fork();
	if (child < 0)
		return die("fork");
	if (child == 0) // pid 1 of the new pid namespace
		::_exit(run_child(hostname, rootfs, use_chroot, cmd));
	int status = 0;
	while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
	}
	// _exit here too: the child's pivot_root moved this process's root into the container
	// as well (it shares the mount namespace), so exit-time work that opens host paths
	// (a sanitizer's report) cannot run either.
	::_exit(WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status));
}
