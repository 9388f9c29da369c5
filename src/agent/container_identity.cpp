#include "agent/container_identity.h"

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <vector>

namespace eima::agent {

namespace {

bool is_hex_id(std::string_view s, std::size_t min_len)
{
	return s.size() >= min_len &&
	       std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isxdigit(c); });
}

// "<prefix><hex>.scope" -> hex
std::optional<std::string_view> scoped_id(std::string_view comp, std::string_view prefix)
{
	if (!comp.starts_with(prefix) || !comp.ends_with(".scope"))
		return std::nullopt;
	auto id = comp.substr(prefix.size(), comp.size() - prefix.size() - 6);
	if (!is_hex_id(id, 12))
		return std::nullopt;
	return id;
}

// Whether dir/name/state.json exists: runc's state of container `name` (no ".." in it).
bool runc_state_exists(const std::string &dir, std::string_view ns, std::string_view name)
{
	if (dir.empty() || name.find("..") != std::string_view::npos ||
	    ns.find("..") != std::string_view::npos)
		return false;
	std::string state = dir + "/";
	if (!ns.empty())
		state += std::string(ns) + "/";
	state += std::string(name) + "/state.json";
	struct stat st;
	return ::stat(state.c_str(), &st) == 0;
}

std::optional<RuntimeContainerId> from_path(std::string_view path, const std::string &runc_dir,
					    const std::string &containerd_dir,
					    const RuntimeStateWatch *recent)
{
	// Walk components from the leaf: the innermost container wins.
	std::vector<std::string_view> comps;
	for (std::size_t start = 0; start < path.size();) {
		auto end = path.find('/', start);
		if (end == std::string_view::npos)
			end = path.size();
		if (end > start)
			comps.push_back(path.substr(start, end - start));
		start = end + 1;
	}
	static constexpr std::array<std::pair<std::string_view, std::string_view>, 5> scopes{{
		{"docker-", "docker"},
		{"cri-containerd-", "containerd"},
		{"crio-", "cri-o"},
		{"libpod-", "podman"},
		{"runc-", "runc"},
	}};
	for (auto it = comps.rbegin(); it != comps.rend(); ++it) {
		for (auto [prefix, runtime] : scopes)
			if (auto id = scoped_id(*it, prefix))
				return RuntimeContainerId{std::string(runtime), std::string(*id),
							  runtime == "containerd" ? "k8s.io" : ""};
		auto parent = std::next(it) != comps.rend() ? *std::next(it) : std::string_view{};
		// podman with the cgroupfs manager (no systemd): /libpod_parent/libpod-<id>
		if (parent == "libpod_parent" && it->starts_with("libpod-") &&
		    is_hex_id(it->substr(7), 64))
			return RuntimeContainerId{"podman", std::string(it->substr(7))};
		if (is_hex_id(*it, 64)) {
			if (parent == "docker")
				return RuntimeContainerId{"docker", std::string(*it)};
			if (parent == "libpod_parent" || parent.starts_with("libpod"))
				return RuntimeContainerId{"podman", std::string(*it)};
			if (path.find("kubepods") != std::string_view::npos)
				return RuntimeContainerId{"containerd", std::string(*it), "k8s.io"};
		}
	}
	if (!comps.empty() && (runc_state_exists(runc_dir, "", comps.back()) ||
			       (recent && recent->seen_runc(comps.back()))))
		return RuntimeContainerId{"runc", std::string(comps.back())};
	if (comps.size() >= 2 &&
	    (runc_state_exists(containerd_dir, comps[comps.size() - 2], comps.back()) ||
	     (recent && recent->seen_containerd(comps[comps.size() - 2], comps.back()))))
		return RuntimeContainerId{"containerd", std::string(comps.back()),
					  std::string(comps[comps.size() - 2])};
	return std::nullopt;
}

} // namespace

std::optional<RuntimeContainerId> container_id_from_cgroup(std::string_view text,
							   const std::string &runc_state_dir,
							   const std::string &containerd_runc_root,
							   const RuntimeStateWatch *recent)
{
	// Lines are "hierarchy-id:controllers:path"; v2 is "0::path". Prefer v2, then any.
	std::optional<RuntimeContainerId> found;
	for (std::size_t start = 0; start < text.size();) {
		auto end = text.find('\n', start);
		if (end == std::string_view::npos)
			end = text.size();
		auto line = text.substr(start, end - start);
		start = end + 1;
		auto c1 = line.find(':');
		auto c2 = c1 == std::string_view::npos ? c1 : line.find(':', c1 + 1);
		if (c2 == std::string_view::npos)
			continue;
		if (auto id = from_path(line.substr(c2 + 1), runc_state_dir, containerd_runc_root, recent)) {
			if (line.starts_with("0::"))
				return id;
			if (!found)
				found = id;
		}
	}
	return found;
}

Result<NamespaceIds> namespaces_of(int pid)
{
	NamespaceIds ids;
	auto ino = [&](const char *ns, std::uint64_t &out) -> Result<void> {
		std::string p = "/proc/" + std::to_string(pid) + "/ns/" + ns;
		struct stat st;
		if (::stat(p.c_str(), &st) != 0)
			return fail(errno, "stat", p);
		out = st.st_ino;
		return {};
	};
	if (auto r = ino("mnt", ids.mnt); !r)
		return std::unexpected(r.error());
	if (auto r = ino("pid", ids.pid); !r)
		return std::unexpected(r.error());
	if (auto r = ino("uts", ids.uts); !r)
		return std::unexpected(r.error());
	return ids;
}

std::string container_name(const std::optional<RuntimeContainerId> &rid, std::uint64_t mntns)
{
	if (rid)
		return rid->id;
	return "mntns-" + std::to_string(mntns);
}

} // namespace eima::agent
