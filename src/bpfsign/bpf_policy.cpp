#include "bpfsign/bpf_policy.h"

#include <bpf/bpf.h>
#include <sys/stat.h>

#include <cerrno>

#include <fmt/format.h>

extern "C" {
#include "bpf/abi/bpf_policy.h"
}

namespace eima::bpfsign {
namespace {

Result<int> map_fd(const LoadedObject &loaded, const std::string &name)
{
	for (const auto &[n, fd] : loaded.maps)
		if (n == name)
			return fd.get();
	return fail("configure BPF policy", "the object has no map " + name +
						    " (not bpf_policy.bpf.o)");
}

} // namespace

Result<void> configure_bpf_policy(const LoadedObject &loaded, const BpfPolicySettings &s)
{
	if (s.trusted_keyrings.empty() ||
	    s.trusted_keyrings.size() > EIMA_BPF_POLICY_MAX_KEYRINGS)
		return fail("configure BPF policy",
			    fmt::format("{} trusted keyrings (1 to {})", s.trusted_keyrings.size(),
					EIMA_BPF_POLICY_MAX_KEYRINGS));
	auto keyrings = map_fd(loaded, "trusted_keyrings");
	auto config = map_fd(loaded, "policy_config");
	if (!keyrings)
		return std::unexpected(keyrings.error());
	if (!config)
		return std::unexpected(config.error());
	eima_bpf_policy_config cfg{};
	cfg.enabled = 1;
	cfg.audit = s.audit ? 1 : 0;
	if (!s.cgroup.empty()) {
		// A cgroup v2 id is the inode number of its directory in cgroupfs.
		struct stat st {};
		if (::stat(s.cgroup.c_str(), &st) != 0)
			return fail(errno, "stat cgroup", s.cgroup);
		cfg.cgroup_id = st.st_ino;
	}
	for (std::int32_t k : s.trusted_keyrings) {
		std::uint8_t one = 1;
		if (bpf_map_update_elem(*keyrings, &k, &one, BPF_ANY) != 0)
			return fail(errno, "trust keyring", std::to_string(k));
	}
	std::uint32_t zero = 0;
	if (bpf_map_update_elem(*config, &zero, &cfg, BPF_ANY) != 0)
		return fail(errno, "enable BPF policy", "policy_config");
	return {};
}

} // namespace eima::bpfsign
