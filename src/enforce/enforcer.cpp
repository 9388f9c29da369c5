#include "enforce/enforcer.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <ctime>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/bpf_map_keys.h"
#include "common/json_text.h"

namespace eima::enforce {

namespace {

std::int64_t clock_ns(clockid_t id)
{
	timespec ts{};
	clock_gettime(id, &ts);
	return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

std::string_view xattr_name(std::uint32_t x)
{
	return x == EIMA_XATTR_SECURITY_BPF ? "security.bpf.eima" : "user.eima";
}

} // namespace

std::optional<AppraiseChoice> appraise_choice_from_name(std::string_view name)
{
	if (name == "auto")
		return AppraiseChoice::automatic;
	if (name == "enforce")
		return AppraiseChoice::enforce;
	if (name == "audit")
		return AppraiseChoice::audit;
	if (name == "off")
		return AppraiseChoice::off;
	return std::nullopt;
}

std::string_view appraise_mode_name(std::uint32_t mode)
{
	switch (mode) {
	case EIMA_APPRAISE_ENFORCE:
		return "enforce";
	case EIMA_APPRAISE_AUDIT:
		return "audit";
	default:
		return "off";
	}
}

Result<EnforceSetting> decide_appraise_mode(const EnforceConfig &config, bool policy_appraises,
					    bool lsm_sleepable)
{
	EnforceSetting s;
	switch (config.appraise) {
	case AppraiseChoice::off:
		s.why = "--appraise off";
		return s;
	case AppraiseChoice::automatic:
		if (!policy_appraises) {
			s.why = "the policy has no appraise rules";
			return s;
		}
		s.mode = EIMA_APPRAISE_ENFORCE;
		s.why = "the policy has appraise rules";
		break;
	case AppraiseChoice::enforce:
		s.mode = EIMA_APPRAISE_ENFORCE;
		s.why = "--appraise enforce";
		break;
	case AppraiseChoice::audit:
		s.mode = EIMA_APPRAISE_AUDIT;
		s.why = "--appraise audit";
		break;
	}
	std::string mode(appraise_mode_name(s.mode));
	if (!policy_appraises)
		return fail(EINVAL, "appraise " + mode,
			    "the policy has no appraise rules (e.g. appraise func=BPRM_CHECK "
			    "appraise_type=imasig container=*) for lsm mode");
	if (!lsm_sleepable)
		return fail(EOPNOTSUPP, "appraise " + mode,
			    "needs the sleepable BPF LSM hooks (bpf_ima_file_hash, "
			    "bpf_get_file_xattr, bpf_verify_pkcs7_signature), which did not load "
			    "here; eima status says why (kernel_digest)");
	if (config.trusted_certs.empty())
		return fail(EINVAL, "appraise " + mode,
			    "no --trusted-cert: nothing could ever be verified");
	return s;
}

KernelSupport probe_kernel_support()
{
	KernelSupport k;
	btf *vmlinux = btf__load_vmlinux_btf();
	if (!vmlinux)
		return k;
	auto has = [&](const char *fn) { return btf__find_by_name_kind(vmlinux, fn, BTF_KIND_FUNC) > 0; };
	k.get_file_xattr = has("bpf_get_file_xattr");
	k.verify_pkcs7_signature = has("bpf_verify_pkcs7_signature");
	k.lookup_user_key = has("bpf_lookup_user_key");
	k.security_bpf_xattr = has("bpf_set_dentry_xattr");
	k.change_hooks_read_xattr = has("bpf_get_dentry_xattr");
	btf__free(vmlinux);
	return k;
}

Result<Enforcer> Enforcer::start(const EnforceConfig &config, const EnforceSetting &setting,
				 UniqueFd cfg_map, UniqueFd verdict_map, UniqueFd bless_map,
				 const std::string &run_dir)
{
	Enforcer e;
	e.config_ = config;
	e.setting_ = setting;
	e.support_ = probe_kernel_support();
	e.boot_to_wall_ns_ = clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_MONOTONIC);
	e.cfg_map_ = std::move(cfg_map);
	e.verdict_map_ = std::move(verdict_map);
	// An adopted set keeps the pids a killed eimad authorized: their pidfds went with it,
	// so nobody would see them exit, and a reused pid would inherit the leave. Forgotten.
	if (bless_map)
		clear_map<__u32>(bless_map.get());
	e.bless_writers_ = BlessWriters(std::move(bless_map));
	if (setting.mode != EIMA_APPRAISE_OFF) {
		if (config.xattr == EIMA_XATTR_SECURITY_BPF && !e.support_.security_bpf_xattr)
			return fail(EOPNOTSUPP, "appraise",
				    "--blessing-xattr security.bpf.eima needs a kernel that lets BPF "
				    "read security.bpf.* (6.13+); use user.eima");
		if (!e.cfg_map_ || !e.verdict_map_)
			return fail(EOPNOTSUPP, "appraise", "the loaded BPF set has no appraisal maps");
		auto ring = make_trusted_keyring("eima:" + run_dir, config.trusted_certs);
		if (!ring)
			return std::unexpected(ring.error());
		e.keyring_ = std::move(*ring);
		auto log = AuditLog::open(run_dir + "/audit.jsonl", config.audit_limits);
		if (!log)
			return std::unexpected(log.error());
		e.audit_ = std::move(*log);
	}
	// Written in every mode, off included: a set adopted from an eimad that enforced must
	// stop enforcing when this one is told not to.
	if (e.cfg_map_) {
		eima_appraise_cfg c{};
		c.mode = setting.mode;
		c.keyring = e.keyring_ ? e.keyring_->serial : 0;
		c.xattr = config.xattr;
		// Off first, so no hook pairs the new keyring with verdicts of the old one.
		eima_appraise_cfg off{};
		std::uint32_t zero = 0;
		if (bpf_map_update_elem(e.cfg_map_.get(), &zero, &off, BPF_ANY))
			return fail(errno, "write BPF map", "appraise_cfg");
		if (e.verdict_map_)
			clear_map<eima_verdict_key>(e.verdict_map_.get()); // verdicts of the old keyring go
		if (bpf_map_update_elem(e.cfg_map_.get(), &zero, &c, BPF_ANY))
			return fail(errno, "write BPF map", "appraise_cfg");
	}
	if (setting.mode != EIMA_APPRAISE_OFF)
		spdlog::info("appraisal: {} ({}), keyring {} with {} certificate(s), blessings in {}",
			     appraise_mode_name(setting.mode), setting.why, e.keyring_->serial,
			     e.keyring_->certs.size(), xattr_name(config.xattr));
	return e;
}

AppraisalRecord Enforcer::record(const eima_event_head &head, std::string_view path,
				std::string container)
{
	++recorded_;
	auto r = appraisal_record(head, path, std::move(container), boot_to_wall_ns_);
	spdlog::warn("appraisal: {}", to_text(r));
	if (audit_)
		if (auto w = audit_->append(json_dump(to_json(r))); !w) {
			++audit_errors_;
			spdlog::error("audit log: {}", w.error().message());
		}
	return r;
}

nlohmann::json Enforcer::status() const
{
	nlohmann::json j;
	j["mode"] = appraise_mode_name(setting_.mode);
	j["why"] = setting_.why;
	j["blessing_xattr"] = xattr_name(config_.xattr);
	if (keyring_) {
		j["keyring"] = keyring_->serial;
		j["keyring_description"] = keyring_->description;
		nlohmann::json certs = nlohmann::json::array();
		for (auto &c : keyring_->certs)
			certs.push_back({{"path", c.path}, {"subject", c.subject}, {"key", c.key_serial}});
		j["certs"] = certs;
	}
	j["kfuncs"] = {{"bpf_get_file_xattr", support_.get_file_xattr},
		       {"bpf_verify_pkcs7_signature", support_.verify_pkcs7_signature},
		       {"bpf_lookup_user_key", support_.lookup_user_key},
		       {"security_bpf_xattrs", support_.security_bpf_xattr},
		       {"change_hooks_read_xattr", support_.change_hooks_read_xattr}};
	j["decisions_recorded"] = recorded_;
	j["bless_writers"] = bless_writers_.size();
	if (audit_) {
		j["audit_log"] = audit_->path();
		j["audit_rotations"] = audit_->rotations();
	}
	j["audit_errors"] = audit_errors_;
	return j;
}

std::vector<std::int32_t> Enforcer::key_serials() const
{
	std::vector<std::int32_t> out;
	if (!keyring_)
		return out;
	out.push_back(keyring_->serial);
	for (const auto &c : keyring_->certs)
		out.push_back(c.key_serial);
	return out;
}

} // namespace eima::enforce
