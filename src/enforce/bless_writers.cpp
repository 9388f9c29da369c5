#include "enforce/bless_writers.h"

#include <bpf/bpf.h>
#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <ctime>
#include <functional>
#include <string>

#include <spdlog/spdlog.h>

#include "bpf/abi/appraise.h"

namespace eima::enforce {

namespace {

bool exited(int pidfd)
{
	pollfd p{pidfd, POLLIN, 0};
	return ::poll(&p, 1, 0) > 0;
}

} // namespace

Result<void> BlessWriters::authorize(pid_t pid, const std::function<bool()> &peer_waiting)
{
	if (!map_)
		return fail(EOPNOTSUPP, "authorize eima bless", "no BPF LSM set with bless_writers");
	std::string who = "pid " + std::to_string(pid);
	UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
	if (!pidfd)
		return fail(errno, "authorize eima bless", "pidfd_open " + who);
	// The pidfd names whoever holds the number now: the client, as long as it still waits
	// on its connection (a client that died could have freed the number for another).
	if (!peer_waiting() || exited(pidfd.get()))
		return fail(ESRCH, "authorize eima bless", who + " is gone");
	timespec ts{};
	clock_gettime(CLOCK_MONOTONIC, &ts);
	eima_bless_writer w{static_cast<__u64>(ts.tv_sec) * 1000000000u +
			    static_cast<__u64>(ts.tv_nsec)};
	__u32 key = static_cast<__u32>(pid);
	// BPF_ANY: a pid authorized again (a second request of the same bless) keeps one entry.
	if (bpf_map_update_elem(map_.get(), &key, &w, BPF_ANY) != 0)
		return fail(errno, "authorize eima bless",
			    who + " (bless_writers holds 64 processes at once)");
	std::erase_if(writers_, [&](const Writer &x) { return x.pid == pid; });
	writers_.push_back({pid, std::move(pidfd)});
	spdlog::info("eima bless authorized: {} may change blessed files until it exits", who);
	return {};
}

void BlessWriters::sweep()
{
	std::erase_if(writers_, [&](const Writer &x) {
		if (!exited(x.pidfd.get()))
			return false;
		__u32 key = static_cast<__u32>(x.pid);
		bpf_map_delete_elem(map_.get(), &key);
		spdlog::info("eima bless pid {} exited: no longer authorized", x.pid);
		return true;
	});
}

} // namespace eima::enforce
