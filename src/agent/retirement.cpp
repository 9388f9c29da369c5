#include "agent/retirement.h"

#include "agent/agent_log.h"
#include "agent/container_state.h"
#include "attest/evidence.h"
#include "common/file_io.h"
#include "common/json_text.h"
#include "ima/template_entry.h"

namespace eima::agent {

namespace {

// Writes DIR/final-evidence.json from a container quote's reply: its path, or "none: " and why.
// The host list is referred to by file (attest/evidence.h), not embedded.
std::string write_final_evidence(const nlohmann::json &reply, const std::string &run_dir,
				 const std::string &dir)
{
	if (reply.contains("error"))
		return "none: final quote: " + reply["error"].get<std::string>();
	// The host list is shared by every container's final evidence and only grows: each
	// names it rather than carrying a copy (which made RUN grow with the square of the
	// containers run, and the event loop read all of it at every exit).
	auto ev = attest::read_container_evidence(reply, run_dir, attest::HostList::by_file);
	if (!ev)
		return "none: " + ev.error().message();
	std::string path = dir + "/final-evidence.json";
	if (auto w = write_file(path, json_dump(attest::evidence_to_json(*ev), 2) + "\n"); !w)
		return "none: " + w.error().message();
	return path;
}

} // namespace

Retirement::Retirement(Site site) : s_(std::move(site)) {}

void Retirement::retire(Container c)
{
	RetiringContainer r{std::move(c), {}, {}};
	Container &rc = r.c;
	r.exited = {rc.id,
		    rc.runtime,
		    rc.list ? rc.list->dir() : "",
		    rc.ns,
		    rc.cgroup_id,
		    vtpm_json(rc),
		    rc.list ? rc.list->entries() : 0,
		    rc.list ? rc.list->violations() : 0,
		    "pending",
		    rc.engine_namespace};
	// The namespace's inode number will be reused: nothing measured under it may carry over.
	s_.forget(rc);
	flush_container(rc);
	if (!rc.vtpm)
		return finish(r, "none: no vTPM");
	// Nonce: the SHA-256 of the final binary list, which anyone holding the list can
	// recompute; the quote then says this list is what the vTPM held at the end.
	if (!rc.list)
		return finish(r, "none: it has no list");
	auto list = read_file(rc.list->binary_path());
	auto nonce = list ? ima::digest(ima::HashAlgo::sha256, as_bytes(*list))
			  : std::unexpected(list.error());
	if (!nonce)
		return finish(r, "none: " + nonce.error().message());
	r.quote.pcrs = {ima::default_ima_pcr};
	r.quote.nonce = *nonce;
	if (auto refused = s_.quotes->start_quote(rc, r.quote))
		return finish(r, "none: " + (*refused)["error"].get<std::string>());
	retiring_.push_back(std::move(r));
}

void Retirement::advance(bool wait)
{
	for (auto it = retiring_.begin(); it != retiring_.end();) {
		auto reply = s_.quotes->step_quote(&it->c, it->quote, wait);
		if (!reply) {
			++it;
			continue;
		}
		s_.flush_all(); // the host list on disk holds what the host quote covers
		finish(*it, write_final_evidence(*reply, s_.run_dir, it->c.list->dir()));
		it = retiring_.erase(it);
	}
}

Container *Retirement::find(std::uint64_t key)
{
	for (auto &r : retiring_)
		if (r.c.key == key)
			return &r.c;
	return nullptr;
}

void Retirement::finish(RetiringContainer &r, std::string final_evidence)
{
	if (final_evidence.starts_with("none: ") && r.c.vtpm)
		spdlog::warn("container {}: final evidence: {}", r.c.id, final_evidence);
	r.exited.final_evidence = std::move(final_evidence);
	if (r.c.vtpm)
		r.exited.vtpm["state"] = "stopped";
	if (r.c.vtpm)
		r.c.vtpm->discard_state();
	disposer_.dispose(std::move(r.c.vtpm)); // its swtpm stops and its state goes
	// A restarted eimad shows it in `eima ps` again, and never resumes it.
	if (auto w = save_exited(r.exited); !w)
		spdlog::error("container {}: {}", r.c.id, w.error().message());
	s_.registry->exited(std::move(r.exited));
}

nlohmann::json ps_json(const ContainerRegistry &registry, const Retirement &retirement)
{
	nlohmann::json arr = nlohmann::json::array();
	for (auto &[key, c] : registry.live()) {
		arr.push_back({{"id", c.id},
			       {"runtime", c.runtime},
			       {"namespace", c.engine_namespace},
			       {"mntns", c.ns.mnt},
			       {"pidns", c.ns.pid},
			       {"utsns", c.ns.uts},
			       {"cgroup_id", c.cgroup_id},
			       {"entries", c.list ? c.list->entries() : 0},
			       {"violations", c.list ? c.list->violations() : 0},
			       {"dropped", c.dropped},
			       {"log", c.list ? c.list->dir() : ""},
			       {"state", "running"},
			       {"resumed", c.resumed},
			       {"vtpm", vtpm_json(c)}});
	}
	auto exited = [&](const ExitedContainer &e) { arr.push_back(exited_json(e)); };
	for (auto &e : registry.exited())
		exited(e);
	for (auto &r : retirement.retiring())
		exited(r.exited);
	return {{"containers", arr}};
}

} // namespace eima::agent
