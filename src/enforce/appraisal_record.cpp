#include "enforce/appraisal_record.h"

#include <array>
#include <ctime>

#include <fmt/format.h>

#include "bpf/abi/policy.h"
#include "common/hex.h"
#include "common/json_text.h"

namespace eima::enforce {

namespace {

struct ReasonInfo {
	const char *name;
	const char *text;
};

// Indexed by enum eima_appraise_reason.
constexpr std::array<ReasonInfo, EIMA_AR_MAX> reasons{{
	{"verified", "signature and content match"},
	{"no_xattr", "the file has no eima blessing"},
	{"xattr_error", "the blessing could not be read"},
	{"malformed", "the blessing is not a well-formed eima blessing"},
	{"no_digest", "the kernel could not hash the file (or it changed while hashed)"},
	{"algo_mismatch", "the blessing's digest algorithm is not the kernel IMA's"},
	{"digest_mismatch", "the content differs from the blessed digest"},
	{"no_keyring", "eimad's trusted keyring is gone"},
	{"bad_signature", "the blessing's signature does not verify"},
	{"unknown_key", "the blessing is signed by a key that is not trusted"},
	{"not_verified", "made executable by mprotect without an earlier verified exec or mmap"},
	{"blessed", "the file is blessed: changes to it are refused"},
}};

// The kernel's enum hash_algo (the values bpf_ima_file_hash returns) to a name.
std::string kernel_algo_name(std::int32_t algo)
{
	switch (algo) {
	case 2:
		return "sha1";
	case 4:
		return "sha256";
	case 5:
		return "sha384";
	case 6:
		return "sha512";
	default:
		return fmt::format("algo{}", algo);
	}
}

std::size_t kernel_algo_size(std::int32_t algo)
{
	switch (algo) {
	case 2:
		return 20;
	case 4:
		return 32;
	case 5:
		return 48;
	case 6:
		return 64;
	default:
		return 0;
	}
}

std::string iso_time(std::uint64_t ns)
{
	std::time_t s = static_cast<std::time_t>(ns / 1000000000u);
	std::tm tm{};
	gmtime_r(&s, &tm);
	char buf[32];
	std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	return fmt::format("{}.{:06}Z", buf, (ns % 1000000000u) / 1000u);
}

} // namespace

std::string appraise_reason_name(std::uint32_t reason)
{
	return reason < reasons.size() ? reasons[reason].name : fmt::format("reason-{}", reason);
}

std::string_view appraise_reason_text(std::uint32_t reason)
{
	return reason < reasons.size() ? reasons[reason].text : "unknown reason";
}

std::string operation_name(std::uint32_t func, std::uint32_t op)
{
	// Indexed by enum eima_appraise_op; EIMA_OP_ACCESS is func's own access.
	static constexpr std::array<const char *, EIMA_OP_MAX> changes{
		"",	  "write",  "truncate", "rename",	  "rename_over",
		"unlink", "link",   "setxattr", "removexattr",
	};
	if (op != EIMA_OP_ACCESS)
		return op < changes.size() ? changes[op] : fmt::format("op-{}", op);
	switch (func) {
	case EIMA_FUNC_BPRM_CHECK:
		return "exec";
	case EIMA_FUNC_MMAP_CHECK:
		return "mmap_exec";
	default:
		return fmt::format("func-{}", func);
	}
}

AppraisalRecord appraisal_record(const eima_event_head &h, std::string_view path,
				 std::string container, std::int64_t boot_to_wall_ns)
{
	AppraisalRecord r;
	r.time_ns = static_cast<std::uint64_t>(static_cast<std::int64_t>(h.ktime_ns) + boot_to_wall_ns);
	r.container = std::move(container);
	r.pid = h.tgid;
	r.tid = h.pid;
	r.uid = h.uid;
	r.comm.assign(h.comm, strnlen(h.comm, sizeof(h.comm)));
	r.path = path;
	r.dev = h.file.dev;
	r.ino = h.file.ino;
	r.operation = operation_name(h.func, h.appraise_op);
	r.rule = h.rule_index;
	r.reason = appraise_reason_name(h.appraise_reason);
	r.error = h.appraise_error;
	r.denied = h.flags & EIMA_EVF_DENIED;
	std::size_t n = kernel_algo_size(h.digest_algo);
	if ((h.flags & EIMA_EVF_KERNEL_DIGEST) && n)
		r.digest = kernel_algo_name(h.digest_algo) + ":" +
			   to_hex({reinterpret_cast<const std::uint8_t *>(h.digest), n});
	return r;
}

nlohmann::json to_json(const AppraisalRecord &r)
{
	nlohmann::json j;
	j["time"] = iso_time(r.time_ns);
	j["time_ns"] = r.time_ns;
	j["decision"] = r.denied ? "denied" : "would_deny";
	j["container"] = r.container;
	j["pid"] = r.pid;
	j["tid"] = r.tid;
	j["uid"] = r.uid;
	j["comm"] = r.comm;
	j["path"] = r.path;
	// The kernel's dev_t (MAJOR << 20 | MINOR) as "major:minor", and the inode.
	j["inode"] = {{"dev", fmt::format("{}:{}", r.dev >> 20, r.dev & 0xfffff)}, {"ino", r.ino}};
	j["operation"] = r.operation;
	j["rule"] = r.rule;
	j["reason"] = r.reason;
	if (r.error)
		j["error"] = r.error;
	if (!r.digest.empty())
		j["digest"] = r.digest;
	j["mechanism"] = r.mechanism;
	if (!r.detail.empty())
		j["detail"] = r.detail;
	return j;
}

nlohmann::json decision_event(const AppraisalRecord &r)
{
	nlohmann::json j = {{"type", "decision"},
			    {"container", r.container},
			    {"path", r.path},
			    {"operation", r.operation},
			    {"verdict", r.denied ? "denied" : "would_deny"},
			    {"reason", r.reason},
			    {"pid", r.pid},
			    {"uid", r.uid},
			    {"comm", r.comm},
			    {"rule", r.rule},
			    {"mechanism", r.mechanism}};
	if (!r.digest.empty())
		j["digest"] = r.digest;
	if (!r.detail.empty())
		j["detail"] = r.detail;
	return j;
}

Result<AppraisalRecord> record_from_json(const nlohmann::json &j)
{
	AppraisalRecord r;
	try {
		r.time_ns = j.at("time_ns").get<std::uint64_t>();
		r.denied = j.at("decision").get<std::string>() == "denied";
		r.container = j.at("container").get<std::string>();
		r.pid = j.at("pid").get<std::uint32_t>();
		r.tid = j.value("tid", 0u);
		r.uid = j.value("uid", 0u);
		r.comm = j.at("comm").get<std::string>();
		r.path = j.at("path").get<std::string>();
		auto dev = j.at("inode").at("dev").get<std::string>();
		unsigned maj = 0, min = 0;
		if (std::sscanf(dev.c_str(), "%u:%u", &maj, &min) != 2)
			return fail(EINVAL, "read audit record", "inode.dev \"" + dev + "\" is not major:minor");
		r.dev = (std::uint64_t{maj} << 20) | min;
		r.ino = j.at("inode").at("ino").get<std::uint64_t>();
		r.operation = j.at("operation").get<std::string>();
		r.rule = j.at("rule").get<std::uint32_t>();
		r.reason = j.at("reason").get<std::string>();
		r.error = j.value("error", 0);
		r.digest = j.value("digest", std::string());
		r.mechanism = j.value("mechanism", std::string("lsm"));
		r.detail = j.value("detail", std::string());
	} catch (const nlohmann::json::exception &e) {
		return fail(EINVAL, "read audit record", e.what());
	}
	return r;
}

std::string to_text(const AppraisalRecord &r)
{
	return fmt::format("{} {} {} pid {} ({}) {} {} rule {}: {}{}", iso_time(r.time_ns),
			   r.denied ? "DENIED" : "would-deny", r.container, r.pid,
			   json_string_literal(r.comm), r.operation, json_string_literal(r.path),
			   r.rule, r.reason, r.error ? fmt::format(" (error {})", r.error) : "");
}

} // namespace eima::enforce
