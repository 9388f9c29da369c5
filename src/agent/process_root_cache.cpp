#include "agent/process_root_cache.h"

#include "agent/file_opener.h"

namespace eima::agent {

int ProcessRootCache::root_of(int pid)
{
	if (pid != pid_) {
		++opens_;
		pid_ = pid;
		auto r = open_process_root(pid);
		root_ = r ? std::move(*r) : UniqueFd();
	}
	return root_.get();
}

void ProcessRootCache::clear()
{
	pid_ = -1;
	root_ = UniqueFd();
}

} // namespace eima::agent
