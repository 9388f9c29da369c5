// IMA policy rules, parsed token by token as ima_parse_rule() does and then checked as
// ima_validate_rule() does, so that a policy eima accepts is one the kernel accepts and the
// other way round. Where the kernel silently keeps the last of two equal conditions (fsname=,
// pcr=, appraise_type=, appraise_flag=) eima refuses the rule: the text is ambiguous.
#include "policy/ima_policy.h"
#include "policy/bpf_check.h"

#include <algorithm>
#include <charconv>
#include <cstring>

namespace eima::policy {

namespace {

// What a token set on the rule; the kernel's IMA_* flags plus what eima needs to tell apart
// (LSM labels, container=, template=, which the kernel keeps outside its flags).
enum Flag : std::uint32_t {
	F_FUNC = 1u << 0,
	F_MASK = 1u << 1,
	F_FSMAGIC = 1u << 2,
	F_UID = 1u << 3,
	F_FOWNER = 1u << 4,
	F_FSUUID = 1u << 5,
	F_INMASK = 1u << 6,
	F_EUID = 1u << 7,
	F_PCR = 1u << 8,
	F_FSNAME = 1u << 9,
	F_KEYRINGS = 1u << 10,
	F_LABEL = 1u << 11,
	F_VALIDATE_ALGOS = 1u << 12,
	F_GID = 1u << 13,
	F_EGID = 1u << 14,
	F_FGROUP = 1u << 15,
	F_DIGSIG_REQUIRED = 1u << 16,
	F_MODSIG_ALLOWED = 1u << 17,
	F_CHECK_BLACKLIST = 1u << 18,
	F_PERMIT_DIRECTIO = 1u << 19,
	F_VERITY_REQUIRED = 1u << 20,
	F_LSM = 1u << 21,
	F_CONTAINER = 1u << 22,
	F_TEMPLATE = 1u << 23,
	F_ACTION = 1u << 24,
	F_CGROUP = 1u << 25,
};

// Flags every "file" hook accepts (ima_validate_rule, case NONE/FILE_CHECK/...).
constexpr std::uint32_t file_hook_flags =
    F_FUNC | F_MASK | F_FSMAGIC | F_UID | F_FOWNER | F_FSUUID | F_INMASK | F_EUID | F_PCR |
    F_FSNAME | F_GID | F_EGID | F_FGROUP | F_DIGSIG_REQUIRED | F_PERMIT_DIRECTIO |
    F_VALIDATE_ALGOS | F_VERITY_REQUIRED;
// MODULE_CHECK, KEXEC_KERNEL_CHECK, KEXEC_INITRAMFS_CHECK: appended signatures, no verity.
constexpr std::uint32_t kernel_read_flags =
    (file_hook_flags & ~F_VERITY_REQUIRED) | F_MODSIG_ALLOWED | F_CHECK_BLACKLIST;
constexpr std::uint32_t kexec_cmdline_flags = F_FUNC | F_FSMAGIC | F_UID | F_FOWNER | F_FSUUID |
					      F_EUID | F_PCR | F_FSNAME | F_GID | F_EGID |
					      F_FGROUP;
constexpr std::uint32_t key_check_flags = F_FUNC | F_UID | F_GID | F_PCR | F_KEYRINGS;
constexpr std::uint32_t critical_data_flags = F_FUNC | F_UID | F_GID | F_PCR | F_LABEL;
constexpr std::uint32_t setxattr_flags = F_FUNC | F_VALIDATE_ALGOS;
// func=BPF_CHECK (eima's extension): what bpf/bpf_policy*.bpf.c can decide on.
constexpr std::uint32_t bpf_check_flags = F_FUNC | F_DIGSIG_REQUIRED | F_KEYRINGS | F_CGROUP;
// Flags that only an appraise rule may carry.
constexpr std::uint32_t appraise_only_flags =
    F_DIGSIG_REQUIRED | F_MODSIG_ALLOWED | F_CHECK_BLACKLIST | F_VALIDATE_ALGOS;
// Outside the kernel's flags: allowed wherever the func allows anything at all.
constexpr std::uint32_t unchecked_flags = F_LSM | F_CONTAINER | F_TEMPLATE | F_ACTION;

struct FuncSpelling {
	std::string_view name;
	eima_func func;
};

// ima_parse_rule's Opt_func. POST_SETATTR and NONE are internal to the kernel and not
// accepted in a policy; KEY_CHECK needs CONFIG_IMA_MEASURE_ASYMMETRIC_KEYS, which every
// distribution kernel eima targets has.
constexpr FuncSpelling func_spellings[] = {
    {"FILE_CHECK", EIMA_FUNC_FILE_CHECK},
    {"PATH_CHECK", EIMA_FUNC_FILE_CHECK}, // backwards compatibility
    {"MODULE_CHECK", EIMA_FUNC_MODULE_CHECK},
    {"FIRMWARE_CHECK", EIMA_FUNC_FIRMWARE_CHECK},
    {"FILE_MMAP", EIMA_FUNC_MMAP_CHECK}, // backwards compatibility
    {"MMAP_CHECK", EIMA_FUNC_MMAP_CHECK},
    {"MMAP_CHECK_REQPROT", EIMA_FUNC_MMAP_CHECK_REQPROT},
    {"BPRM_CHECK", EIMA_FUNC_BPRM_CHECK},
    {"CREDS_CHECK", EIMA_FUNC_CREDS_CHECK},
    {"KEXEC_KERNEL_CHECK", EIMA_FUNC_KEXEC_KERNEL_CHECK},
    {"KEXEC_INITRAMFS_CHECK", EIMA_FUNC_KEXEC_INITRAMFS_CHECK},
    {"POLICY_CHECK", EIMA_FUNC_POLICY_CHECK},
    {"KEXEC_CMDLINE", EIMA_FUNC_KEXEC_CMDLINE},
    {"KEY_CHECK", EIMA_FUNC_KEY_CHECK},
    {"CRITICAL_DATA", EIMA_FUNC_CRITICAL_DATA},
    {"SETXATTR_CHECK", EIMA_FUNC_SETXATTR_CHECK},
    {"BPF_CHECK", EIMA_FUNC_BPF_CHECK}, // the seeds' extension, not the kernel's
};

// ima_template.c builtin_templates.
constexpr std::string_view template_names[] = {"ima",	  "ima-ng",  "ima-ngv2",   "ima-sig",
					       "ima-sigv2", "ima-buf", "ima-modsig", "evm-sig"};

// crypto/hash_info.c hash_algo_name, for appraise_algos=.
constexpr std::string_view hash_algo_names[] = {
    "md4",    "md5",    "sha1",   "rmd160", "sha256", "sha384",	 "sha512",	"sha224",
    "rmd128", "rmd256", "rmd320", "wp256",  "wp384",  "wp512",	 "tgr128",	"tgr160",
    "tgr192", "sm3",    "streebog256", "streebog512", "sha3-256", "sha3-384", "sha3-512"};

// Longest container= id; runtime ids are 64 hex digits, names are shorter.
constexpr std::size_t container_id_max = 128;

struct RuleError {
	std::string token;
	std::string message;
};

// kstrtoul/kstrtoint as the kernel parses numbers: an optional '+', for base 16 an
// optional "0x", then at least one digit and nothing else; no overflow.
std::optional<std::uint64_t> parse_kernel_unsigned(std::string_view s, int base)
{
	if (!s.empty() && s[0] == '+')
		s.remove_prefix(1);
	if (base == 16 && s.size() >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s.remove_prefix(2);
	if (s.empty())
		return std::nullopt;
	std::uint64_t v = 0;
	auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
	if (ec != std::errc() || end != s.data() + s.size())
		return std::nullopt;
	return v;
}

// uuid_parse(): exactly xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, bytes in printed order.
std::optional<std::array<std::uint8_t, 16>> parse_uuid(std::string_view s)
{
	if (s.size() != 36)
		return std::nullopt;
	std::array<std::uint8_t, 16> out{};
	std::size_t b = 0;
	for (std::size_t i = 0; i < 36;) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return std::nullopt;
			++i;
			continue;
		}
		std::uint8_t byte = 0;
		auto [end, ec] = std::from_chars(s.data() + i, s.data() + i + 2, byte, 16);
		if (ec != std::errc() || end != s.data() + i + 2)
			return std::nullopt;
		out[b++] = byte;
		i += 2;
	}
	return out;
}

// ima_alloc_rule_opt_list(): '|'-separated, no empty item.
std::optional<std::vector<std::string>> parse_opt_list(std::string_view s, char sep)
{
	std::vector<std::string> items;
	while (true) {
		std::size_t at = s.find(sep);
		std::string_view item = s.substr(0, at);
		if (item.empty())
			return std::nullopt;
		items.emplace_back(item);
		if (at == std::string_view::npos)
			break;
		s.remove_prefix(at + 1);
	}
	return items;
}

bool valid_container_id(std::string_view id)
{
	if (id.empty() || id.size() > container_id_max)
		return false;
	return std::all_of(id.begin(), id.end(), [](char c) {
		return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		       c == '_' || c == '.' || c == '-' || c == ':';
	});
}

struct ParsedRule {
	PolicyRule rule;
	std::uint32_t flags = 0;
	// Which token set which flag, in rule order, to name the culprit of a validation failure.
	std::vector<std::pair<std::uint32_t, std::string>> setters;
	std::string action_token;
};

class RuleParser {
public:
	explicit RuleParser(ParsedRule &out) : p_(out) {}

	std::optional<RuleError> token(std::string_view tok)
	{
		std::size_t eq = tok.find_first_of("=<>");
		if (eq == std::string_view::npos)
			return bare(tok);
		std::string_view key = tok.substr(0, eq);
		char op = tok[eq];
		std::string_view value = tok.substr(eq + 1);
		std::string t(tok);
		bool is_id = key == "uid" || key == "euid" || key == "gid" || key == "egid" ||
			     key == "fowner" || key == "fgroup";
		if (op != '=' && !is_id)
			return RuleError{t, "unknown token"};
		if (!known_key(key))
			return RuleError{t, "unknown token"};
		// match_token()'s %s never matches an empty string: the kernel reports the token
		// as unknown.
		if (value.empty())
			return RuleError{t, "empty value for " + std::string(key) + std::string(1, op)};
		if (is_id)
			return id(t, key, op, value);
		return keyed(t, key, value);
	}

private:
	static bool known_key(std::string_view k)
	{
		static constexpr std::string_view keys[] = {
		    "func",	      "mask",	      "fsmagic",	"fsname",	 "fsuuid",
		    "uid",	      "euid",	      "gid",		"egid",		 "fowner",
		    "fgroup",	      "subj_user",    "subj_role",	"subj_type",	 "obj_user",
		    "obj_role",	      "obj_type",     "keyrings",	"label",	 "template",
		    "appraise_type",  "appraise_flag", "appraise_algos", "digest_type", "pcr",
		    "container",      "cgroup"};
		return std::find(std::begin(keys), std::end(keys), k) != std::end(keys);
	}

	void set(std::uint32_t flag, const std::string &tok)
	{
		p_.flags |= flag;
		p_.setters.emplace_back(flag, tok);
	}

	std::optional<RuleError> bare(std::string_view tok)
	{
		static constexpr std::pair<std::string_view, eima_action> actions[] = {
		    {"measure", EIMA_ACT_MEASURE},   {"dont_measure", EIMA_ACT_DONT_MEASURE},
		    {"appraise", EIMA_ACT_APPRAISE}, {"dont_appraise", EIMA_ACT_DONT_APPRAISE},
		    {"audit", EIMA_ACT_AUDIT},	     {"hash", EIMA_ACT_HASH},
		    {"dont_hash", EIMA_ACT_DONT_HASH}};
		std::string t(tok);
		for (auto &[name, act] : actions) {
			if (tok != name)
				continue;
			if (p_.flags & F_ACTION)
				return RuleError{t, "second action in one rule (first was '" +
							p_.action_token + "')"};
			p_.rule.action = act;
			p_.action_token = t;
			set(F_ACTION, t);
			return std::nullopt;
		}
		if (tok == "permit_directio") {
			p_.rule.permit_directio = true;
			set(F_PERMIT_DIRECTIO, t);
			return std::nullopt;
		}
		return RuleError{t, "unknown token"};
	}

	std::optional<RuleError> id(const std::string &t, std::string_view key, char op,
				    std::string_view value)
	{
		PolicyRule &r = p_.rule;
		// The kernel keeps uid and euid in one slot, gid and egid in another: a rule has
		// at most one of each pair.
		std::optional<IdCondition> *slot = nullptr;
		std::uint32_t flag = 0;
		bool taken = false;
		if (key == "uid" || key == "euid") {
			slot = key == "uid" ? &r.uid : &r.euid;
			flag = key == "uid" ? F_UID : F_EUID;
			taken = r.uid || r.euid;
		} else if (key == "gid" || key == "egid") {
			slot = key == "gid" ? &r.gid : &r.egid;
			flag = key == "gid" ? F_GID : F_EGID;
			taken = r.gid || r.egid;
		} else if (key == "fowner") {
			slot = &r.fowner;
			flag = F_FOWNER;
			taken = r.fowner.has_value();
		} else {
			slot = &r.fgroup;
			flag = F_FGROUP;
			taken = r.fgroup.has_value();
		}
		if (taken) {
			bool pair = key == "uid" || key == "euid" || key == "gid" || key == "egid";
			return RuleError{t, pair ? "second " + std::string(key) +
						       " condition (uid/euid and gid/egid share one "
						       "slot each in the kernel)"
						 : "duplicate " + std::string(key) + " condition"};
		}
		auto v = parse_kernel_unsigned(value, 10);
		// make_kuid() of (uid_t)-1 is INVALID_UID, and the value must fit 32 bits.
		if (!v || *v >= 0xffffffffull)
			return RuleError{t, "invalid id '" + std::string(value) +
						"' (decimal, below 4294967295)"};
		*slot = IdCondition{static_cast<std::uint32_t>(*v),
				    op == '<' ? EIMA_CMP_LT : op == '>' ? EIMA_CMP_GT : EIMA_CMP_EQ};
		set(flag, t);
		return std::nullopt;
	}

	std::optional<RuleError> dup(const std::string &t, std::string_view key)
	{
		return RuleError{t, "duplicate " + std::string(key) + "= condition"};
	}

	std::optional<RuleError> keyed(const std::string &t, std::string_view key,
				       std::string_view value)
	{
		PolicyRule &r = p_.rule;
		if (key == "func") {
			if (r.func)
				return dup(t, key);
			for (auto &s : func_spellings) {
				if (s.name == value) {
					r.func = s.func;
					r.func_spelling = std::string(value);
					set(F_FUNC, t);
					return std::nullopt;
				}
			}
			if (value == "POST_SETATTR" || value == "NONE")
				return RuleError{t, "func " + std::string(value) +
							" is internal to the kernel, not a policy "
							"func"};
			return RuleError{t, "unknown func '" + std::string(value) + "'"};
		}
		if (key == "mask") {
			if (r.mask)
				return dup(t, key);
			bool any = value.front() == '^';
			std::string_view name = any ? value.substr(1) : value;
			std::uint32_t bit = name == "MAY_EXEC"	   ? EIMA_MAY_EXEC
					    : name == "MAY_WRITE"  ? EIMA_MAY_WRITE
					    : name == "MAY_READ"   ? EIMA_MAY_READ
					    : name == "MAY_APPEND" ? EIMA_MAY_APPEND
								   : 0;
			if (!bit)
				return RuleError{t, "unknown mask '" + std::string(value) +
							"' (MAY_EXEC, MAY_WRITE, MAY_READ, "
							"MAY_APPEND, optionally prefixed with ^)"};
			r.mask = bit;
			r.mask_any = any;
			set(any ? F_INMASK : F_MASK, t);
			return std::nullopt;
		}
		if (key == "fsmagic") {
			if (r.fsmagic)
				return dup(t, key);
			auto v = parse_kernel_unsigned(value, 16);
			if (!v)
				return RuleError{t, "invalid fsmagic '" + std::string(value) +
							"' (hexadecimal)"};
			r.fsmagic = *v;
			set(F_FSMAGIC, t);
			return std::nullopt;
		}
		if (key == "fsname") {
			if (r.fsname)
				return dup(t, key);
			r.fsname = std::string(value);
			set(F_FSNAME, t);
			return std::nullopt;
		}
		if (key == "fsuuid") {
			if (r.fsuuid)
				return dup(t, key);
			auto u = parse_uuid(value);
			if (!u)
				return RuleError{t, "invalid fsuuid '" + std::string(value) +
							"' (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)"};
			r.fsuuid = *u;
			set(F_FSUUID, t);
			return std::nullopt;
		}
		if (key.starts_with("subj_") || key.starts_with("obj_")) {
			std::optional<std::string> *slot = key == "subj_user"   ? &r.subj_user
							   : key == "subj_role" ? &r.subj_role
							   : key == "subj_type" ? &r.subj_type
							   : key == "obj_user"	? &r.obj_user
							   : key == "obj_role"	? &r.obj_role
										: &r.obj_type;
			if (*slot)
				return dup(t, key);
			*slot = std::string(value);
			set(F_LSM, t);
			return std::nullopt;
		}
		if (key == "keyrings" || key == "label") {
			auto &slot = key == "keyrings" ? r.keyrings : r.label;
			if (!slot.empty())
				return dup(t, key);
			auto items = parse_opt_list(value, '|');
			if (!items)
				return RuleError{t, "empty item in " + std::string(key) + "= list"};
			slot = std::move(*items);
			set(key == "keyrings" ? F_KEYRINGS : F_LABEL, t);
			return std::nullopt;
		}
		if (key == "template") {
			// The kernel checks the action when it meets template=, so the action must
			// come first.
			if (!(p_.flags & F_ACTION) || r.action != EIMA_ACT_MEASURE)
				return RuleError{t, "template= needs a measure action before it"};
			if (r.template_name)
				return dup(t, key);
			if (std::find(std::begin(template_names), std::end(template_names), value) ==
			    std::end(template_names))
				return RuleError{t, "unknown template '" + std::string(value) + "'"};
			r.template_name = std::string(value);
			set(F_TEMPLATE, t);
			return std::nullopt;
		}
		if (key == "digest_type") {
			if (r.digest_type)
				return dup(t, key);
			if (p_.flags & F_DIGSIG_REQUIRED)
				return RuleError{t, "digest_type= must come before appraise_type="};
			if (value != "verity")
				return RuleError{t, "unknown digest_type '" + std::string(value) +
							"' (verity)"};
			r.digest_type = std::string(value);
			set(F_VERITY_REQUIRED, t);
			return std::nullopt;
		}
		if (key == "appraise_type") {
			if (r.appraise_type)
				return dup(t, key);
			bool verity = p_.flags & F_VERITY_REQUIRED;
			if (value == "imasig" || value == "imasig|modsig") {
				if (verity)
					return RuleError{t, "appraise_type=" + std::string(value) +
								" does not go with digest_type=verity "
								"(use sigv3)"};
				r.appraise_type = std::string(value);
				set(value == "imasig" ? F_DIGSIG_REQUIRED
						      : F_DIGSIG_REQUIRED | F_MODSIG_ALLOWED,
				    t);
				return std::nullopt;
			}
			if (value == "sigv3") {
				if (!verity)
					return RuleError{t, "appraise_type=sigv3 needs "
							    "digest_type=verity before it"};
				r.appraise_type = std::string(value);
				set(F_DIGSIG_REQUIRED, t);
				return std::nullopt;
			}
			return RuleError{t, "unknown appraise_type '" + std::string(value) +
						"' (imasig, imasig|modsig, sigv3)"};
		}
		if (key == "appraise_flag") {
			if (r.appraise_flag)
				return dup(t, key);
			// The kernel looks for "blacklist" anywhere in the value.
			if (value.find("blacklist") == std::string_view::npos)
				return RuleError{t, "unknown appraise_flag '" + std::string(value) +
							"' (check_blacklist)"};
			r.appraise_flag = std::string(value);
			set(F_CHECK_BLACKLIST, t);
			return std::nullopt;
		}
		if (key == "appraise_algos") {
			if (!r.appraise_algos.empty())
				return dup(t, key);
			auto items = parse_opt_list(value, ',');
			if (!items)
				return RuleError{t, "empty item in appraise_algos= list"};
			for (auto &a : *items)
				if (std::find(std::begin(hash_algo_names), std::end(hash_algo_names),
					      a) == std::end(hash_algo_names))
					return RuleError{t, "unknown hash algorithm '" + a + "'"};
			r.appraise_algos = std::move(*items);
			set(F_VALIDATE_ALGOS, t);
			return std::nullopt;
		}
		if (key == "pcr") {
			if (r.pcr)
				return dup(t, key);
			auto v = parse_kernel_unsigned(value, 10);
			// INVALID_PCR: the kernel tracks measured PCRs in one unsigned long.
			if (!v || *v >= 64)
				return RuleError{t, "invalid pcr '" + std::string(value) + "' (0-63)"};
			r.pcr = static_cast<std::uint32_t>(*v);
			set(F_PCR, t);
			return std::nullopt;
		}
		if (key == "cgroup") {
			if (r.cgroup)
				return dup(t, key);
			if (value.front() != '/' || value.find("/../") != std::string_view::npos ||
			    value.ends_with("/.."))
				return RuleError{t, "cgroup= needs an absolute path without '..' (a "
						    "cgroup v2 directory, e.g. /sys/fs/cgroup/boot.slice)"};
			r.cgroup = std::string(value);
			set(F_CGROUP, t);
			return std::nullopt;
		}
		// container=, eima's extension.
		if (r.container)
			return dup(t, key);
		ContainerCondition c;
		if (value == "host") {
			c.kind = ContainerCondition::Kind::host;
		} else if (value == "*") {
			c.kind = ContainerCondition::Kind::any;
		} else if (valid_container_id(value)) {
			c.kind = ContainerCondition::Kind::named;
			c.id = std::string(value);
		} else {
			return RuleError{t, "invalid container '" + std::string(value) +
						"' (host, *, or an id of letters, digits, _.:- up to " +
						std::to_string(container_id_max) + " characters)"};
		}
		r.container = std::move(c);
		set(F_CONTAINER, t);
		return std::nullopt;
	}

	ParsedRule &p_;
};

// The token that set any of `flags`, first in rule order.
std::string culprit(const ParsedRule &p, std::uint32_t flags)
{
	for (auto &[f, tok] : p.setters)
		if (f & flags)
			return tok;
	return {};
}

// func=BPF_CHECK, eima's extension for BPF_PROG_LOAD: appraise appraise_type=imasig (only
// signed BPF), audit (record what appraise would refuse), dont_appraise cgroup=DIR (an
// exception); keyrings= names the keyrings whose signatures count, cgroup= the tasks the
// rule is for. Nothing else: the BPF policy program cannot check it.
std::optional<RuleError> validate_bpf_check(const ParsedRule &p, const std::string &fname)
{
	const PolicyRule &r = p.rule;
	std::uint32_t f = p.flags;
	if (r.action != EIMA_ACT_APPRAISE && r.action != EIMA_ACT_DONT_APPRAISE &&
	    r.action != EIMA_ACT_AUDIT)
		return RuleError{p.action_token,
				 fname + " takes only appraise, dont_appraise and audit"};
	if (f & F_MODSIG_ALLOWED)
		return RuleError{culprit(p, F_MODSIG_ALLOWED),
				 fname + " takes appraise_type=imasig only (a BPF program has no "
					 "appended signature)"};
	if (std::uint32_t extra = f & ~(bpf_check_flags | F_ACTION)) {
		std::string tok = culprit(p, extra);
		std::size_t op = tok.find_first_of("=<>");
		return RuleError{tok, fname + " does not take " +
					  (op == std::string::npos ? tok : tok.substr(0, op + 1)) +
					  " (only appraise_type=imasig, keyrings= and cgroup=)"};
	}
	if (r.action == EIMA_ACT_APPRAISE && !(f & F_DIGSIG_REQUIRED))
		return RuleError{p.action_token,
				 "appraise " + fname +
				     " needs appraise_type=imasig: a verified signature is the only "
				     "appraisal of a BPF program"};
	if (r.action == EIMA_ACT_DONT_APPRAISE) {
		if (!(f & F_CGROUP))
			return RuleError{p.action_token,
					 "dont_appraise " + fname +
					     " needs cgroup=DIR: an exception names the tasks it "
					     "exempts"};
		if (f & F_KEYRINGS)
			return RuleError{culprit(p, F_KEYRINGS),
					 "dont_appraise " + fname +
					     " takes no keyrings= (a trusted keyring goes on the "
					     "appraise or audit rule)"};
	}
	for (const std::string &k : r.keyrings)
		if (!bpf_keyring_known(k))
			return RuleError{culprit(p, F_KEYRINGS),
					 "unknown keyring '" + k + "' for " + fname +
					     " (a key serial, eima, .builtin_trusted_keys, "
					     ".secondary_trusted_keys or .platform)"};
	return std::nullopt;
}

// ima_validate_rule().
std::optional<RuleError> validate(const ParsedRule &p)
{
	const PolicyRule &r = p.rule;
	std::uint32_t f = p.flags;
	if (!(f & F_ACTION))
		return RuleError{"", "rule has no action (measure, dont_measure, appraise, "
				     "dont_appraise, audit, hash, dont_hash)"};
	if (r.action != EIMA_ACT_MEASURE && (f & F_PCR))
		return RuleError{culprit(p, F_PCR), "pcr= is only for measure rules"};
	if (r.action != EIMA_ACT_APPRAISE && (f & appraise_only_flags))
		return RuleError{culprit(p, appraise_only_flags),
				 "only appraise rules take appraise_type=, appraise_flag= and "
				 "appraise_algos="};

	eima_func func = r.func.value_or(EIMA_FUNC_NONE);
	std::string func_tok = culprit(p, F_FUNC);
	std::string fname = func == EIMA_FUNC_NONE ? "a rule without func="
						   : "func=" + std::string(func_name(func));
	std::uint32_t allowed = 0;
	switch (func) {
	case EIMA_FUNC_NONE:
	case EIMA_FUNC_FILE_CHECK:
	case EIMA_FUNC_MMAP_CHECK:
	case EIMA_FUNC_MMAP_CHECK_REQPROT:
	case EIMA_FUNC_BPRM_CHECK:
	case EIMA_FUNC_CREDS_CHECK:
	case EIMA_FUNC_POST_SETATTR:
	case EIMA_FUNC_FIRMWARE_CHECK:
	case EIMA_FUNC_POLICY_CHECK:
		allowed = file_hook_flags;
		break;
	case EIMA_FUNC_MODULE_CHECK:
	case EIMA_FUNC_KEXEC_KERNEL_CHECK:
	case EIMA_FUNC_KEXEC_INITRAMFS_CHECK:
		allowed = kernel_read_flags;
		break;
	case EIMA_FUNC_KEXEC_CMDLINE:
	case EIMA_FUNC_KEY_CHECK:
	case EIMA_FUNC_CRITICAL_DATA:
		if (r.action != EIMA_ACT_MEASURE && r.action != EIMA_ACT_DONT_MEASURE)
			return RuleError{p.action_token,
					 fname + " takes only measure and dont_measure"};
		allowed = func == EIMA_FUNC_KEXEC_CMDLINE ? kexec_cmdline_flags
			  : func == EIMA_FUNC_KEY_CHECK	  ? key_check_flags
							  : critical_data_flags;
		if (func != EIMA_FUNC_KEXEC_CMDLINE && (f & F_LSM))
			return RuleError{culprit(p, F_LSM), fname + " takes no LSM label"};
		break;
	case EIMA_FUNC_SETXATTR_CHECK:
		if (r.action != EIMA_ACT_APPRAISE)
			return RuleError{p.action_token, fname + " takes only appraise"};
		if (!(f & F_VALIDATE_ALGOS))
			return RuleError{func_tok, fname + " needs appraise_algos="};
		allowed = setxattr_flags;
		// Nothing but the algorithms: not even the eima extensions.
		if (std::uint32_t extra = f & ~(allowed | F_ACTION))
			return RuleError{culprit(p, extra), fname + " takes only appraise_algos="};
		break;
	case EIMA_FUNC_BPF_CHECK:
		return validate_bpf_check(p, fname);
	default:
		return RuleError{func_tok, "unknown func"};
	}
	if (std::uint32_t extra = f & ~(allowed | unchecked_flags)) {
		std::string tok = culprit(p, extra);
		std::string key = tok.substr(0, tok.find_first_of("=<>"));
		return RuleError{tok, fname + " does not take " + key +
					  (tok.find_first_of("=<>") != std::string::npos
					       ? std::string(1, tok[key.size()])
					       : std::string())};
	}
	if ((f & F_CHECK_BLACKLIST) && !(f & F_MODSIG_ALLOWED))
		return RuleError{culprit(p, F_CHECK_BLACKLIST),
				 "appraise_flag=check_blacklist needs appraise_type=imasig|modsig"};
	if (r.action == EIMA_ACT_APPRAISE && (f & F_VERITY_REQUIRED) &&
	    !(f & F_DIGSIG_REQUIRED))
		return RuleError{culprit(p, F_VERITY_REQUIRED),
				 "appraise with digest_type=verity needs appraise_type=sigv3"};
	return std::nullopt;
}

// Parses one non-comment line (leading blanks already removed).
std::optional<RuleError> parse_rule(std::string_view line, PolicyRule &out)
{
	if (line.size() > max_rule_length)
		return RuleError{std::string(line.substr(0, 40)) + "...",
				 "rule longer than " + std::to_string(max_rule_length) + " bytes"};
	ParsedRule p;
	RuleParser parser(p);
	// strsep(" \t"): runs of blanks give empty tokens, which are skipped. Anything else,
	// a carriage return or a '#' after the first token included, is part of a token.
	std::size_t i = 0;
	while (i < line.size()) {
		if (line[i] == ' ' || line[i] == '\t') {
			++i;
			continue;
		}
		std::size_t end = line.find_first_of(" \t", i);
		if (end == std::string_view::npos)
			end = line.size();
		std::string_view tok = line.substr(i, end - i);
		if (auto e = parser.token(tok)) {
			if (tok.find('\r') != std::string_view::npos)
				e->message += " (carriage return: the kernel takes only \\n line ends)";
			return e;
		}
		i = end;
	}
	if (auto e = validate(p))
		return e;
	p.rule.text = std::string(line);
	out = std::move(p.rule);
	return std::nullopt;
}

// Calls on_rule(line_no, text) for every line that holds a rule (ima_parse_add_rule: lines
// split at '\n', leading blanks skipped, '#' or nothing left means no rule).
template <typename F> void for_each_rule_line(std::string_view text, F &&on_rule)
{
	std::size_t line_no = 0;
	while (!text.empty()) {
		++line_no;
		std::size_t nl = text.find('\n');
		std::string_view line = text.substr(0, nl);
		text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
		std::size_t start = line.find_first_not_of(" \t");
		if (start == std::string_view::npos)
			continue;
		line.remove_prefix(start);
		if (line.front() == '#')
			continue;
		if (!on_rule(line_no, line))
			return;
	}
}

} // namespace

std::string_view mode_name(KernelMode mode)
{
	return mode == KernelMode::lsm ? "lsm" : "trace";
}

std::string_view action_name(eima_action action)
{
	switch (action) {
	case EIMA_ACT_MEASURE:
		return "measure";
	case EIMA_ACT_DONT_MEASURE:
		return "dont_measure";
	case EIMA_ACT_APPRAISE:
		return "appraise";
	case EIMA_ACT_DONT_APPRAISE:
		return "dont_appraise";
	case EIMA_ACT_AUDIT:
		return "audit";
	case EIMA_ACT_HASH:
		return "hash";
	case EIMA_ACT_DONT_HASH:
		return "dont_hash";
	}
	return "unknown";
}

std::string_view func_name(eima_func func)
{
	switch (func) {
	case EIMA_FUNC_NONE:
		return "NONE";
	case EIMA_FUNC_POST_SETATTR:
		return "POST_SETATTR";
	case EIMA_FUNC_MAX:
		break;
	default:
		for (auto &s : func_spellings)
			if (s.func == func && s.name != "PATH_CHECK" && s.name != "FILE_MMAP")
				return s.name;
	}
	return "UNKNOWN";
}

std::string_view mask_name(std::uint32_t may_bit)
{
	switch (may_bit) {
	case EIMA_MAY_EXEC:
		return "MAY_EXEC";
	case EIMA_MAY_WRITE:
		return "MAY_WRITE";
	case EIMA_MAY_READ:
		return "MAY_READ";
	case EIMA_MAY_APPEND:
		return "MAY_APPEND";
	}
	return "UNKNOWN";
}

Policy parse_policy_collecting(std::string_view text, std::string_view source_name,
			       std::vector<PolicyError> &errors)
{
	Policy policy;
	policy.source = std::string(source_name);
	for_each_rule_line(text, [&](std::size_t line_no, std::string_view line) {
		PolicyRule rule;
		if (auto e = parse_rule(line, rule)) {
			errors.push_back({line_no, std::move(e->token), std::move(e->message)});
		} else {
			rule.line = line_no;
			policy.rules.push_back(std::move(rule));
		}
		return true;
	});
	return policy;
}

Result<Policy> parse_policy(std::string_view text, std::string_view source_name)
{
	Policy policy;
	policy.source = std::string(source_name);
	std::optional<PolicyError> first;
	for_each_rule_line(text, [&](std::size_t line_no, std::string_view line) {
		PolicyRule rule;
		if (auto e = parse_rule(line, rule)) {
			first = PolicyError{line_no, std::move(e->token), std::move(e->message)};
			return false;
		}
		rule.line = line_no;
		policy.rules.push_back(std::move(rule));
		return true;
	});
	if (first) {
		// "parse IMA policy: 'dnt_measure': unknown token, at FILE:LINE"
		std::string op = "parse IMA policy: ";
		if (!first->token.empty())
			op += "'" + first->token + "': ";
		op += first->message + ", at";
		return fail(std::move(op), policy.source + ":" + std::to_string(first->line));
	}
	return policy;
}

} // namespace eima::policy
