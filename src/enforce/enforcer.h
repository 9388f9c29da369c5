// eimad's enforcement unit (lsm mode): decides the appraisal mode from --appraise and the
// policy, builds the locked keyring of --trusted-cert certificates, tells the BPF hooks
// (the "appraise_cfg" map; bpf/lib/appraise.h), empties the verdict cache when that
// changes, and writes each EIMA_EV_APPRAISAL event to RUN/audit.jsonl. It holds no
// measurement state: the agent hands it its maps and its events (docs/enforcement.md).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bpf/abi/appraise.h"
#include "bpf/abi/event.h"
#include "common/error.h"
#include "common/unique_fd.h"
#include "enforce/appraisal_record.h"
#include "enforce/audit_log.h"
#include "enforce/bless_writers.h"
#include "enforce/trusted_keyring.h"

namespace eima::enforce {

// --appraise: auto is enforce when the policy has appraise rules, else off.
enum class AppraiseChoice { automatic, enforce, audit, off };
std::optional<AppraiseChoice> appraise_choice_from_name(std::string_view name);
std::string_view appraise_mode_name(std::uint32_t mode); // enum eima_appraise_mode

struct EnforceConfig {
	AppraiseChoice appraise = AppraiseChoice::automatic;
	std::vector<std::string> trusted_certs; // --trusted-cert, PEM or DER files
	std::uint32_t xattr = EIMA_XATTR_USER;  // --blessing-xattr
	AuditLogLimits audit_limits;
};

// The mode --appraise and the policy give; an error when it asks for more than the loaded
// hooks can do (no sleepable hooks, no appraise rules to enforce, no certificate).
struct EnforceSetting {
	std::uint32_t mode = EIMA_APPRAISE_OFF; // enum eima_appraise_mode
	std::string why;                        // for `eima status`
};
Result<EnforceSetting> decide_appraise_mode(const EnforceConfig &config, bool policy_appraises,
					    bool lsm_sleepable);

// Which of the kernel functions enforcement needs the running kernel has (its BTF).
struct KernelSupport {
	bool get_file_xattr = false;
	bool verify_pkcs7_signature = false;
	bool lookup_user_key = false;
	bool security_bpf_xattr = false; // bpf_set_dentry_xattr exists: security.bpf.* (6.13+)
	// bpf_get_dentry_xattr (6.12+): the unlink, link, rename, setxattr and setattr hooks
	// read the blessing of a file no task in scope opened yet (bpf/lib/tamper.h).
	bool change_hooks_read_xattr = false;
};
KernelSupport probe_kernel_support();

class Enforcer {
public:
	// cfg_map and verdict_map: the set's "appraise_cfg" and "verdicts" (invalid fds in
	// trace mode, where the setting must be off).
	// bless_map: its "bless_writers".
	static Result<Enforcer> start(const EnforceConfig &config, const EnforceSetting &setting,
				      UniqueFd cfg_map, UniqueFd verdict_map, UniqueFd bless_map,
				      const std::string &run_dir);
	// One EIMA_EV_APPRAISAL event, with the name of the container it came from ("host").
	AppraisalRecord record(const eima_event_head &head, std::string_view path,
			       std::string container);
	nlohmann::json status() const;
	std::uint32_t mode() const { return setting_.mode; }
	// The serials of eimad's keyring and of the keys in it (none without one), for
	// self-protection.
	std::vector<std::int32_t> key_serials() const;
	// An eima bless that asked over the control socket (BlessWriters::authorize).
	Result<void> authorize_bless(int pid, const std::function<bool()> &peer_waiting)
	{
		return bless_writers_.authorize(pid, peer_waiting);
	}
	void sweep() { bless_writers_.sweep(); }
	// RUN/audit.jsonl while appraisal is on (nullptr when off), for other writers of audit
	// events in eimad (the BPF policy's refusals), so that one writer rotates it.
	AuditLog *audit_log() { return audit_ ? &*audit_ : nullptr; }

private:
	EnforceSetting setting_;
	EnforceConfig config_;
	std::optional<TrustedKeyring> keyring_;
	std::optional<AuditLog> audit_;
	KernelSupport support_;
	UniqueFd cfg_map_, verdict_map_;
	BlessWriters bless_writers_{UniqueFd()};
	std::int64_t boot_to_wall_ns_ = 0;
	std::uint64_t recorded_ = 0, audit_errors_ = 0;
};

} // namespace eima::enforce
