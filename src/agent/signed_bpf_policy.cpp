#include "agent/signed_bpf_policy.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <optional>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "bpfsign/bpf_check_setup.h"
#include "bpfsign/signed_file.h"
#include "common/file_io.h"
#include "enforce/trusted_keyring.h"

namespace eima::agent {

namespace fs = std::filesystem;

namespace {

std::vector<std::string> earlier_sets(const std::string &pin_parent, const std::string &own)
{
	std::vector<std::string> out;
	std::error_code ec;
	for (auto &entry : fs::directory_iterator(pin_parent, ec))
		if (entry.is_directory(ec) &&
		    entry.path().filename().string().starts_with(signed_bpf_pin_prefix) &&
		    entry.path() != own)
			out.push_back(entry.path());
	return out;
}

} // namespace

std::string signed_bpf_unavailable(ProbeMode mode, const std::string &lsm_reason)
{
	if (mode == ProbeMode::lsm)
		return "";
	return "the BPF policy program is a BPF LSM program, and eimad runs in trace mode" +
	       (lsm_reason.empty() ? std::string(" (--mode trace)") : ": " + lsm_reason);
}

struct SignedBpfPolicy::Impl {
	SignedBpfRequest req;
	bpfsign::SigningContext signing; // req.signing's
	std::string object;      // the signed object's file
	Bytes object_sha256;
	std::string signer;
	bpfsign::LoadedObject loaded;
	std::string how;
	std::string dir; // PIN_PARENT/bpf_policy_<pid>, "" when not pinned
	std::string note; // what the rules asked that this path does not use
	std::vector<std::string> trusted_loaders;
	std::vector<std::string> took_over; // earlier sets replaced
	std::optional<bpfsign::PolicyEventReader> events;
	bool enabled = false;

	~Impl()
	{
		if (events)
			if (auto r = events->consume(); !r)
				spdlog::error("BPF policy events: {}", r.error().message());
		events.reset();
		if (!dir.empty())
			remove_flat_dir(dir);
		// The fds go with `loaded`: the link's last reference, so the policy detaches.
	}
};

SignedBpfPolicy::SignedBpfPolicy(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

SignedBpfPolicy::~SignedBpfPolicy()
{
	if (impl_ && impl_->enabled)
		spdlog::info("BPF policy (func=BPF_CHECK) removed: BPF loads are no longer judged");
}

std::vector<std::int32_t> SignedBpfPolicy::earlier_trusted_keyrings(const std::string &pin_parent)
{
	std::vector<std::int32_t> out;
	for (const auto &dir : earlier_sets(pin_parent, ""))
		if (auto t = bpfsign::read_pinned_policy_trust(dir))
			out.insert(out.end(), t->keyrings.begin(), t->keyrings.end());
	return out;
}

EarlierSets SignedBpfPolicy::relax_earlier(const std::string &pin_parent, const OwnLoads &own)
{
	EarlierSets out;
	for (const auto &dir : earlier_sets(pin_parent, "")) {
		auto trust = bpfsign::read_pinned_policy_trust(dir);
		if (!trust) {
			spdlog::warn("BPF policy left in {}: {}; removed", dir, trust.error().message());
			remove_flat_dir(dir);
			continue;
		}
		if (!trust->enforcing)
			continue;
		bool admitted = trust->path == bpfsign::SigningPath::native
					? own.all_signed && own.keyring &&
						  std::ranges::count(trust->keyrings, *own.keyring) > 0
					: trust->trusts_own_executable;
		if (admitted) {
			spdlog::info("BPF policy left in {} by an earlier eimad keeps enforcing: it "
				     "trusts this eimad's loads ({})",
				     dir,
				     trust->path == bpfsign::SigningPath::native
					     ? fmt::format("signed against keyring {}", *own.keyring)
					     : "its executable is a trusted loader");
			out.kept.push_back(dir);
			continue;
		}
		if (auto a = bpfsign::audit_pinned_policy(dir); !a) {
			// Left enforcing: this eimad's own loads may then be refused, and it says why.
			spdlog::warn("BPF policy left in {}: {}", dir, a.error().message());
			continue;
		}
		spdlog::warn("BPF policy left in {} by an earlier eimad: audit mode while this eimad "
			     "loads its own programs, which it would refuse ({}); each load meanwhile "
			     "is a would_deny record",
			     dir,
			     trust->path == bpfsign::SigningPath::trusted_loader
				     ? "this executable is not one of its trusted loaders"
			     : !own.all_signed ? "not all of them are signed"
					       : "signed against a keyring it does not trust");
		out.relaxed.push_back(dir);
	}
	return out;
}

std::vector<std::string> SignedBpfPolicy::remove_earlier(const std::string &pin_parent,
							 const bpfsign::PolicyRecordSink &sink,
							 const std::string &own)
{
	auto sets = earlier_sets(pin_parent, own);
	for (const auto &dir : sets) {
		auto old = bpfsign::PolicyEventReader::open(dir, sink);
		if (old)
			if (auto n = old->consume(); !n)
				spdlog::warn("BPF policy left in {}: {}", dir, n.error().message());
		remove_flat_dir(dir);
		spdlog::info("BPF policy left in {} by an earlier eimad: removed", dir);
	}
	return sets;
}

Result<std::unique_ptr<SignedBpfPolicy>> SignedBpfPolicy::load(const SignedBpfRequest &req)
{
	auto impl = std::make_unique<Impl>();
	impl->req = req;
	std::string where = fmt::format("{}:{} ({})", req.policy_source, req.rules.line,
					req.rules.text);
	if (!req.signing)
		return fail(EINVAL, where,
			    "func=BPF_CHECK needs the certificate eima's BPF objects are signed with: "
			    "--bpf-cert FILE (config bpf-cert)");
	const bpfsign::SigningContext &signing = impl->signing = *req.signing;
	impl->object = fmt::format("{}/{}.signed.bpf.o", req.objects_dir,
				   bpfsign::policy_object_name(signing.path));
	auto file = bpfsign::read_signed_file(impl->object);
	if (!file)
		return fail(file.error().err, where,
			    fmt::format("the signed BPF policy object of this kernel's {} path: {} "
					"(--bpf-objects DIR)",
					bpfsign::signing_path_name(signing.path),
					file.error().message()));
	if (auto c = bpfsign::check_policy_manifest(file->manifest, signing.path); !c)
		return std::unexpected(c.error());
	impl->object_sha256.assign(file->sha256.begin(), file->sha256.end());
	impl->signer = signing.signer;
	// Native: checked against eimad's keyring, which the policy then trusts.
	auto pl = bpfsign::load_signed_file(*file, signing);
	if (!pl)
		return std::unexpected(pl.error());
	impl->loaded = std::move(pl->loaded);
	impl->how = std::move(pl->how) + ")";
	// Attached before it is configured: it allows everything until enable().
	if (auto a = bpfsign::attach_programs(impl->loaded, file->manifest); !a)
		return std::unexpected(a.error());
	if (!req.pin_parent.empty()) {
		std::string dir = fmt::format("{}/{}{}", req.pin_parent, signed_bpf_pin_prefix, ::getpid());
		remove_flat_dir(dir); // a set of an earlier eimad that had this pid
		if (auto p = bpfsign::pin_loaded_object(impl->loaded, dir); !p) {
			remove_flat_dir(dir);
			return std::unexpected(p.error());
		}
		impl->dir = dir;
	}
	return std::unique_ptr<SignedBpfPolicy>(new SignedBpfPolicy(std::move(impl)));
}

Result<void> SignedBpfPolicy::enable(bpfsign::PolicyRecordSink sink)
{
	Impl &m = *impl_;
	bpfsign::BpfPolicySettings s;
	s.path = m.signing.path;
	if (m.signing.keyring)
		s.trusted_keyrings = {m.signing.keyring->serial};
	// Trusted loaders: eimad itself, and the eima beside it, so that `eima bpf load` (which
	// checks a signature before it loads anything) may load (docs/signed-bpf.md).
	s.trusted_loaders = {"/proc/self/exe"};
	std::error_code ec;
	auto exe = fs::read_symlink("/proc/self/exe", ec);
	if (!ec) {
		auto eima = exe.parent_path() / "eima";
		if (fs::is_regular_file(eima, ec))
			s.trusted_loaders.push_back(eima);
	}
	m.trusted_loaders = s.trusted_loaders;
	if (auto a = bpfsign::apply_bpf_check(m.req.rules, s, m.note); !a)
		return a;
	if (!m.note.empty())
		spdlog::warn("policy {}:{}: {}", m.req.policy_source, m.req.rules.line, m.note);
	if (auto c = bpfsign::configure_bpf_policy(m.loaded, s); !c)
		return c;
	m.enabled = true;
	// Earlier eimads' sets: what they queued goes to the log, then they go. This one has
	// been attached all along, so BPF loads were judged throughout.
	if (!m.req.pin_parent.empty())
		m.took_over = remove_earlier(m.req.pin_parent, sink, m.dir);
	if (!m.dir.empty()) {
		auto r = bpfsign::PolicyEventReader::open(m.dir, std::move(sink));
		if (!r)
			return std::unexpected(r.error());
		m.events.emplace(std::move(*r));
	} else {
		spdlog::warn("BPF policy not pinned (eimad pins nothing): its refusals are counted "
			     "in its policy_stats map, not written to the audit log");
	}
	spdlog::info("BPF policy (func=BPF_CHECK, {}:{}): {} on the {} path, loaded {}{}",
		     m.req.policy_source, m.req.rules.line,
		     policy::bpf_check_mode_name(m.req.rules.mode),
		     bpfsign::signing_path_name(m.signing.path), m.how,
		     m.dir.empty() ? "" : ", pinned in " + m.dir);
	return {};
}

int SignedBpfPolicy::events_fd() const
{
	return impl_->events ? impl_->events->epoll_fd() : -1;
}

Result<std::uint64_t> SignedBpfPolicy::drain()
{
	if (!impl_->events)
		return 0;
	return impl_->events->consume();
}

const std::string &SignedBpfPolicy::pin_dir() const
{
	return impl_->dir;
}

Result<std::vector<ima::TemplateEntry>> SignedBpfPolicy::measure(const SelfMeasurementFormat &f) const
{
	std::string object = fs::path(impl_->object).filename();
	std::vector<ima::TemplateEntry> out;
	for (const auto &[name, fd] : impl_->loaded.programs) {
		UniqueFd dup(::fcntl(fd.get(), F_DUPFD_CLOEXEC, 0));
		if (!dup)
			return fail(errno, "dup BPF program", name);
		// Signed, checked by the kernel (native) or by eimad (trusted loader).
		auto r = program_record(ProbeProgram{name, std::move(dup)}, object, impl_->object_sha256,
					impl_->signer);
		if (!r)
			return std::unexpected(r.error());
		auto e = program_entry(f, *r);
		if (!e)
			return std::unexpected(e.error());
		out.push_back(std::move(*e));
	}
	return out;
}

nlohmann::json SignedBpfPolicy::status() const
{
	const Impl &m = *impl_;
	nlohmann::json j = policy::bpf_check_report(m.req.rules);
	j["state"] = !m.enabled ? "loaded, not yet enabled"
		     : m.req.rules.mode == policy::BpfCheckPolicy::Mode::audit
			     ? "auditing: nothing refused, would-be refusals recorded"
			     : "enforcing: BPF loads without a trusted signature refused (EPERM)";
	j["signing_path"] = bpfsign::signing_path_name(m.signing.path);
	j["object"] = m.object;
	j["loaded"] = m.how;
	j["pins"] = m.dir.empty() ? nlohmann::json("not pinned") : nlohmann::json(m.dir);
	if (m.signing.keyring) {
		j["keyring"] = m.signing.keyring->serial;
		j["keyring_description"] = m.signing.keyring->description;
	} else {
		j["cert"] = m.signing.cert;
		j["trusted_loaders"] = m.trusted_loaders;
	}
	if (!m.note.empty())
		j["note"] = m.note;
	j["replaced_earlier_sets"] = m.took_over;
	j["events_written"] = m.events ? m.events->written() : 0;
	return j;
}

} // namespace eima::agent
