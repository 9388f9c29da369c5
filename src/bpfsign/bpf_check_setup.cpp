#include "bpfsign/bpf_check_setup.h"

#include <algorithm>

#include <fmt/format.h>

namespace eima::bpfsign {

Result<void> check_policy_manifest(const LoaderManifest &manifest, SigningPath path)
{
	const char *want = path == SigningPath::native ? "trusted_keyrings" : "trusted_loaders";
	for (const auto &map : manifest.maps)
		if (map.name == want)
			return {};
	return fail(EINVAL, "bpf enforce",
		    fmt::format("{} is not the policy for this kernel's {} path: use {}.signed.bpf.o",
				manifest.object, signing_path_name(path), policy_object_name(path)));
}

Result<void> apply_bpf_check(const policy::BpfCheckPolicy &bpf, BpfPolicySettings &s,
			     std::string &note)
{
	s.audit = bpf.mode == policy::BpfCheckPolicy::Mode::audit;
	if (bpf.cgroup)
		s.cgroup = *bpf.cgroup;
	for (const auto &e : bpf.exceptions)
		s.exempt_cgroups.push_back(e.cgroup);
	if (s.path != SigningPath::native) {
		// eima checks signatures against a certificate there; no keyring is asked.
		if (!bpf.keyrings.empty())
			note = "keyrings= is not used on the trusted-loader path (eima checks "
			       "signatures against a certificate)";
		return {};
	}
	for (const auto &name : bpf.keyrings) {
		auto id = policy::bpf_keyring_id(name);
		if (!id) { // "eima": the parser allows nothing else without a number
			auto k = default_keyring();
			if (!k)
				return std::unexpected(k.error());
			id = *k;
		}
		// keyrings=eima and the default keyring are often the same one: count it once
		// against the map's size.
		if (std::find(s.trusted_keyrings.begin(), s.trusted_keyrings.end(), *id) ==
		    s.trusted_keyrings.end())
			s.trusted_keyrings.push_back(*id);
	}
	return {};
}

} // namespace eima::bpfsign
