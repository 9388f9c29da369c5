#include "agent/container_state.h"

#include <cstdio>

#include "common/file_io.h"
#include "common/json_text.h"

namespace eima::agent {

namespace {

Result<void> replace_file(const std::string &path, const std::string &text)
{
	if (auto w = write_file(path + ".tmp", text); !w)
		return w;
	if (std::rename((path + ".tmp").c_str(), path.c_str()) != 0)
		return fail(errno, "rename", path + ".tmp");
	return {};
}

Result<nlohmann::json> read_json(const std::string &path)
{
	auto text = read_file(path);
	if (!text)
		return std::unexpected(text.error());
	return json_parse(*text, path);
}

} // namespace

Result<void> save_container(const std::string &dir, const SavedContainer &s)
{
	nlohmann::json j = {{"id", s.id},
			    {"runtime", s.runtime},
			    {"namespace", s.engine_namespace},
			    {"key", s.key},
			    {"mntns", s.ns.mnt},
			    {"pidns", s.ns.pid},
			    {"utsns", s.ns.uts},
			    {"cgroup_id", s.cgroup_id},
			    {"anchor_pid", s.anchor_pid},
			    {"anchor_start", s.anchor_start}};
	return replace_file(dir + "/container.json", json_dump(j, 2) + "\n");
}

Result<SavedContainer> read_saved_container(const std::string &dir)
{
	std::string path = dir + "/container.json";
	auto j = read_json(path);
	if (!j)
		return std::unexpected(j.error());
	SavedContainer s;
	try {
		s.id = j->at("id").get<std::string>();
		s.runtime = j->at("runtime").get<std::string>();
		s.engine_namespace = j->value("namespace", ""); // absent before containerd ids
		s.key = j->at("key").get<std::uint64_t>();
		s.ns = {j->at("mntns").get<std::uint64_t>(), j->at("pidns").get<std::uint64_t>(),
			j->at("utsns").get<std::uint64_t>()};
		s.cgroup_id = j->at("cgroup_id").get<std::uint64_t>();
		s.anchor_pid = j->at("anchor_pid").get<int>();
		s.anchor_start = j->at("anchor_start").get<std::uint64_t>();
	} catch (const nlohmann::json::exception &ex) {
		return fail(EINVAL, "read " + path, ex.what());
	}
	if (s.id.empty() || s.key == 0 || s.ns.mnt == 0)
		return fail(EINVAL, "read " + path, "empty id, key or mount namespace");
	return s;
}

nlohmann::json exited_json(const ExitedContainer &e)
{
	return {{"id", e.id},
		{"runtime", e.runtime},
		{"namespace", e.engine_namespace},
		{"mntns", e.ns.mnt},
		{"pidns", e.ns.pid},
		{"utsns", e.ns.uts},
		{"cgroup_id", e.cgroup_id},
		{"vtpm", e.vtpm},
		{"entries", e.entries},
		{"violations", e.violations},
		{"log", e.log_dir},
		{"state", "exited"},
		{"final_evidence", e.final_evidence}};
}

Result<void> save_exited(const ExitedContainer &e)
{
	if (e.log_dir.empty())
		return {};
	return replace_file(e.log_dir + "/exited.json", json_dump(exited_json(e), 2) + "\n");
}

Result<ExitedContainer> read_exited(const std::string &dir)
{
	std::string path = dir + "/exited.json";
	auto j = read_json(path);
	if (!j)
		return std::unexpected(j.error());
	try {
		ExitedContainer e;
		e.id = j->at("id").get<std::string>();
		e.runtime = j->at("runtime").get<std::string>();
		e.engine_namespace = j->value("namespace", "");
		e.ns = {j->at("mntns").get<std::uint64_t>(), j->at("pidns").get<std::uint64_t>(),
			j->at("utsns").get<std::uint64_t>()};
		e.cgroup_id = j->at("cgroup_id").get<std::uint64_t>();
		e.vtpm = j->at("vtpm");
		e.entries = j->at("entries").get<std::size_t>();
		e.violations = j->at("violations").get<std::size_t>();
		e.log_dir = dir; // where it is now
		e.final_evidence = j->at("final_evidence").get<std::string>();
		return e;
	} catch (const nlohmann::json::exception &ex) {
		return fail(EINVAL, "read " + path, ex.what());
	}
}

} // namespace eima::agent
