#include "cli/bpf_commands.h"

#include <algorithm>
#include <csignal>
#include <functional>
#include <sys/stat.h>

#include <fmt/format.h>

#include "bpfsign/bpf_check_setup.h"
#include "bpfsign/bpf_policy.h"
#include "bpfsign/loader_image.h"
#include "bpfsign/signed_file.h"
#include "bpfsign/signed_loader.h"
#include "bpfsign/signed_object.h"
#include "cli/report.h"
#include "common/file_io.h"
#include "common/pkcs7_signature.h"
#include "policy/bpf_check.h"
#include "policy/ima_policy.h"

namespace eima::cli {
namespace {

struct BpfOptions {
	std::string object;
	std::string key;
	std::string cert;
	std::string out;
	std::optional<std::int32_t> keyring;
	std::string pin_dir;
	bool attach = false;
	// enforce
	std::vector<std::int32_t> trusted;
	std::vector<std::string> trusted_loaders;
	bool audit = false;
	std::string cgroup;
	std::string audit_log;
	std::string policy_dir; // load: the policy to record tags in (trusted-loader path)
	std::string policy_file; // enforce: an IMA policy whose func=BPF_CHECK rules say what
};

// Where `eima bpf load` records the tags of what it loaded when --policy is not given
// (trusted-loader path), if a policy is pinned there.
constexpr const char *default_policy_dir = "/sys/fs/bpf/eima-bpf-policy";

std::atomic<bool> stop_requested{false};

void on_stop_signal(int)
{
	stop_requested.store(true);
}

BpfOptions opts;
CLI::App *sign_cmd = nullptr;
CLI::App *verify_cmd = nullptr;
CLI::App *load_cmd = nullptr;
CLI::App *enforce_cmd = nullptr;
CLI::App *path_cmd = nullptr;
CLI::App *drain_cmd = nullptr;
bool drain_follow = false;

void print_manifest(const bpfsign::LoaderManifest &m)
{
	fmt::print("object:   {}\n", m.object);
	for (auto &p : m.programs)
		fmt::print("program:  {} ({}, type {}, attach type {})\n", p.name, p.section, p.type,
			   p.attach_type);
	for (auto &mp : m.maps)
		fmt::print("map:      {} (type {})\n", mp.name, mp.type);
}

int cmd_sign(const BpfOptions &o)
{
	auto signer = Pkcs7Signer::load(o.key, o.cert);
	if (!signer)
		return report(signer.error());
	auto image = bpfsign::make_loader_image(o.object);
	if (!image)
		return report(image.error());
	auto sig = signer->sign(image->insns);
	if (!sig)
		return report(sig.error());
	if (auto w = bpfsign::write_signed_object(o.object, o.out, *image, *sig); !w)
		return report(w.error());
	fmt::print("signed {} -> {}\n", o.object, o.out);
	fmt::print("loader:   {} instructions, data {} bytes (sha256 {})\n",
		   image->insns.size() / 8, image->data.size(),
		   to_hex(bpfsign::blob_sha256(image->data)));
	fmt::print("signer:   key id {}\n", to_hex(signer->subject_key_id()));
	print_manifest(image->manifest);
	return 0;
}

// Reads a signed object and checks everything but the signature: what verify and load
// both need before trusting the manifest's names.
Result<std::pair<bpfsign::UnverifiedSignedObject, bpfsign::LoaderManifest>>
read_checked(const std::string &path)
{
	auto obj = bpfsign::read_signed_object(path);
	if (!obj)
		return std::unexpected(obj.error());
	auto manifest = bpfsign::check_loader_image(obj->insns, obj->data);
	if (!manifest)
		return std::unexpected(Error{manifest.error().err, manifest.error().op,
					     path + ": " + manifest.error().context});
	return std::pair{std::move(*obj), std::move(*manifest)};
}

int cmd_verify(const BpfOptions &o)
{
	auto checked = read_checked(o.object);
	if (!checked)
		return report(checked.error());
	auto &[obj, manifest] = *checked;
	if (auto v = verify_pkcs7_detached(obj.insns, obj.signature, o.cert,
					   "loader signature of " + o.object);
	    !v)
		return report(v.error());
	auto skid = pkcs7_signer_key_id(obj.signature);
	fmt::print("{}: good signature by {} (key id {})\n", o.object, o.cert,
		   skid ? to_hex(*skid) : "?");
	fmt::print("loader:   {} instructions, data {} bytes (sha256 {}, checked by the loader)\n",
		   obj.insns.size() / 8, obj.data.size(), to_hex(bpfsign::blob_sha256(obj.data)));
	print_manifest(manifest);
	return 0;
}

using Configure =
	std::function<Result<void>(const bpfsign::LoadedObject &, bpfsign::SigningPath, std::int32_t)>;

// Loads a signed object the way this kernel allows: with its signature, checked by the
// kernel against a keyring (native, 6.18+), or checked here against a certificate and
// loaded by this process, a trusted loader (6.12-6.17). configure runs between loading and
// attaching; check refuses a manifest before anything is loaded.
int load_signed(const BpfOptions &o, bool attach, const Configure &configure,
		const std::function<Result<void>(const bpfsign::LoaderManifest &,
						 bpfsign::SigningPath)> &check = nullptr)
{
	auto path = bpfsign::probe_signing_path();
	if (!path)
		return report(path.error());
	auto file = bpfsign::read_signed_file(o.object);
	if (!file)
		return report(file.error());
	const auto &manifest = file->manifest;
	if (check)
		if (auto c = check(manifest, *path); !c)
			return report(c.error());
	auto signing = bpfsign::signing_context(*path, o.cert);
	if (*path == bpfsign::SigningPath::native) {
		auto k = o.keyring ? Result<std::int32_t>(*o.keyring) : bpfsign::default_keyring();
		if (!k)
			return report(k.error());
		signing.keyring = enforce::TrustedKeyring{.serial = *k};
	} else if (o.cert.empty()) {
		return report(Error{EINVAL, "load " + o.object,
				    "this kernel cannot check BPF signatures (trusted-loader "
				    "path): give --cert CERT.pem to check it against"});
	}
	auto pl = bpfsign::load_signed_file(*file, signing);
	if (!pl)
		return report(pl.error());
	std::int32_t keyring = signing.keyring ? signing.keyring->serial : 0;
	auto *loaded = &pl->loaded;
	const std::string &how = pl->how;
	if (configure)
		if (auto c = configure(*loaded, *path, keyring); !c)
			return report(c.error());
	if (attach)
		if (auto a = bpfsign::attach_programs(*loaded, manifest); !a)
			return report(a.error());
	if (!o.pin_dir.empty())
		if (auto p = bpfsign::pin_loaded_object(*loaded, o.pin_dir); !p)
			return report(p.error());
	std::string recorded;
	if (*path == bpfsign::SigningPath::trusted_loader) {
		std::string dir = o.policy_dir;
		struct stat st {};
		if (dir.empty() && ::stat(default_policy_dir, &st) == 0)
			dir = default_policy_dir;
		if (!dir.empty()) {
			if (auto r = bpfsign::record_trusted_tags(*loaded, dir); !r)
				return report(r.error());
			recorded = ", tags recorded in " + dir;
		}
	}
	fmt::print("loaded {} {}, loader tag {}): {} programs, {} maps{}{}{}\n", o.object, how,
		   loaded->loader_tag, loaded->programs.size(), loaded->maps.size(),
		   attach ? ", attached" : "",
		   o.pin_dir.empty() ? " (not pinned: released on exit)" : ", pinned in " + o.pin_dir,
		   recorded);
	for (const auto &[name, fd] : loaded->programs)
		if (auto tag = bpfsign::program_tag(fd.get()))
			fmt::print("program:  {} tag {}\n", name, to_hex({tag->data(), tag->size()}));
	std::fflush(stdout);
	return 0;
}

// Writes the pinned policy's refusals to the audit log: what is queued, or, with follow,
// until SIGTERM or SIGINT.
int write_audit(const BpfOptions &o, bool follow)
{
	auto log = enforce::AuditLog::open(o.audit_log);
	if (!log)
		return report(log.error());
	if (follow) {
		struct sigaction sa {};
		sa.sa_handler = on_stop_signal; // no SA_RESTART: the ring's epoll_wait returns EINTR
		::sigaction(SIGTERM, &sa, nullptr);
		::sigaction(SIGINT, &sa, nullptr);
		fmt::print("writing refused BPF loads to {} (stop with SIGTERM; enforcement stays "
			   "pinned)\n",
			   o.audit_log);
		std::fflush(stdout);
	}
	auto n = bpfsign::drain_policy_events(o.pin_dir, *log, follow, stop_requested);
	if (!n)
		return report(n.error());
	fmt::print("{} refused BPF loads written to {}\n", *n, o.audit_log);
	return 0;
}

// The func=BPF_CHECK rules of --policy FILE: their mode, scope and exceptions, with the
// flags that would say the same thing refused rather than silently overridden.
Result<policy::BpfCheckPolicy> read_bpf_check_policy(const BpfOptions &o)
{
	auto text = read_file(o.policy_file);
	if (!text)
		return std::unexpected(text.error());
	auto parsed = policy::parse_policy(*text, o.policy_file);
	if (!parsed)
		return std::unexpected(parsed.error());
	auto bpf = policy::bpf_check_policy(*parsed);
	if (!bpf)
		return std::unexpected(bpf.error());
	auto conflict = [&](const std::string &why) {
		return fail("bpf enforce:", "--policy " + o.policy_file + ": " + why);
	};
	if (bpf->mode == policy::BpfCheckPolicy::Mode::none)
		return conflict("no appraise or audit func=BPF_CHECK rule: nothing to enforce (e.g. "
				"appraise func=BPF_CHECK appraise_type=imasig)");
	std::string at = o.policy_file + ":" + std::to_string(bpf->line);
	if (o.audit)
		return conflict("--audit and a policy: the rule at " + at +
				" says enforce or audit (audit func=BPF_CHECK records only)");
	if (!o.trusted.empty())
		return conflict("--trust and a policy: trusted keyrings are the keyrings= of the "
				"rule at " + at);
	if (!o.cgroup.empty() && bpf->cgroup)
		return conflict("--cgroup and the cgroup= of the rule at " + at);
	return bpf;
}

int cmd_enforce(const BpfOptions &o)
{
	if (!o.audit_log.empty() && o.pin_dir.empty())
		return report(Error{EINVAL, "bpf enforce", "--audit-log needs --pin"});
	std::optional<policy::BpfCheckPolicy> rules;
	if (!o.policy_file.empty()) {
		auto r = read_bpf_check_policy(o);
		if (!r)
			return report(r.error());
		rules = std::move(*r);
	}
	int rc = load_signed(
		o, true,
		[&](const bpfsign::LoadedObject &loaded, bpfsign::SigningPath path,
		    std::int32_t keyring) {
			bpfsign::BpfPolicySettings s;
			s.path = path;
			s.audit = o.audit;
			s.cgroup = o.cgroup;
			s.trusted_keyrings = {keyring};
			s.trusted_keyrings.insert(s.trusted_keyrings.end(), o.trusted.begin(),
						  o.trusted.end());
			// The trusted loader is eima's own executable: `eima bpf load` checks a
			// signature before it loads anything (docs/signed-bpf.md).
			s.trusted_loaders = {"/proc/self/exe"};
			s.trusted_loaders.insert(s.trusted_loaders.end(), o.trusted_loaders.begin(),
						 o.trusted_loaders.end());
			if (rules) {
				std::string note;
				if (auto a = bpfsign::apply_bpf_check(*rules, s, note); !a)
					return a;
				if (!note.empty())
					fmt::print("note: {}\n", note);
			}
			return bpfsign::configure_bpf_policy(loaded, s);
		},
		bpfsign::check_policy_manifest);
	if (rc == 0 && rules)
		fmt::print("policy {}:{}: {}{}{}\n", o.policy_file, rules->line,
			   policy::bpf_check_mode_name(rules->mode),
			   rules->cgroup ? ", cgroup " + *rules->cgroup + " only" : std::string(),
			   rules->exceptions.empty()
				   ? std::string()
				   : fmt::format(", {} exception(s)", rules->exceptions.size()));
	if (rc != 0 || o.audit_log.empty())
		return rc;
	return write_audit(o, true);
}

} // namespace

void add_bpf_commands(CLI::App &app)
{
	auto *bpf = app.add_subcommand("bpf", "BPF objects signed for the kernel's signature check");
	bpf->require_subcommand(1);
	path_cmd = bpf->add_subcommand(
		"path", "which signed-BPF path this kernel takes: native (it checks signatures, "
			"6.18+) or trusted-loader (eima checks them)");
	sign_cmd = bpf->add_subcommand("sign", "sign a BPF object (a signed loader in its ELF)");
	sign_cmd->add_option("OBJ", opts.object, "a BPF object (.bpf.o)")->required()
		->check(CLI::ExistingFile);
	sign_cmd->add_option("--key", opts.key, "PEM private key")->required();
	sign_cmd->add_option("--cert", opts.cert, "PEM certificate of the key (with a subject key id)")
		->required();
	sign_cmd->add_option("-o,--output", opts.out, "the signed object to write")->required();
	verify_cmd = bpf->add_subcommand("verify", "check a signed BPF object offline");
	verify_cmd->add_option("OBJ", opts.object, "a signed BPF object")->required();
	verify_cmd->add_option("--cert", opts.cert, "PEM certificate of the expected signer")
		->required();
	load_cmd = bpf->add_subcommand("load", "load a signed BPF object: with its signature (6.18+) "
					       "or as the trusted loader (before)");
	load_cmd->add_option("OBJ", opts.object, "a signed BPF object")->required();
	load_cmd->add_option("--keyring", opts.keyring,
			     "key serial of the keyring holding the signer's certificate "
			     "(default: the \"eima\" keyring in the user keyring)");
	load_cmd->add_option("--pin", opts.pin_dir, "pin programs, maps and links in this bpffs DIR");
	load_cmd->add_flag("--attach", opts.attach, "attach the LSM and tracing programs");
	load_cmd->add_option("--cert", opts.cert,
			     "trusted-loader path (kernels before 6.18): PEM certificate the "
			     "signature is checked against");
	load_cmd->add_option("--policy", opts.policy_dir,
			     "trusted-loader path: record the loaded programs' tags in the policy "
			     "pinned in DIR (default: " +
				     std::string(default_policy_dir) + " when it exists)");
	enforce_cmd = bpf->add_subcommand(
		"enforce", "only signed BPF from here on: load, configure and attach the signed "
			   "policy program (bpf_policy.signed.bpf.o on 6.18+, "
			   "bpf_policy_tl.signed.bpf.o before)");
	enforce_cmd->add_option("OBJ", opts.object, "the signed bpf_policy object")->required();
	enforce_cmd->add_option("--keyring", opts.keyring,
				"keyring the policy object is checked against, and trusted "
				"(default: the \"eima\" keyring in the user keyring)");
	enforce_cmd->add_option("--trust", opts.trusted, "another trusted keyring (repeatable)");
	enforce_cmd->add_option("--cert", opts.cert,
				"trusted-loader path (kernels before 6.18): PEM certificate the "
				"policy object is checked against");
	enforce_cmd->add_option("--trust-loader", opts.trusted_loaders,
				"trusted-loader path: another executable whose processes may load "
				"BPF (eima's own always may; repeatable)")
		->check(CLI::ExistingFile);
	enforce_cmd->add_option("--audit-log", opts.audit_log,
				"after enforcing, stay and write each refused (or audited) load to "
				"this JSON-lines audit log until SIGTERM (needs --pin)");
	enforce_cmd->add_option("--pin", opts.pin_dir, "pin it in this bpffs DIR (else it ends "
						       "when eima exits)");
	enforce_cmd->add_flag("--audit", opts.audit, "count and record refusals, refuse nothing");
	enforce_cmd->add_option("--policy", opts.policy_file,
				"an IMA policy file: its func=BPF_CHECK rules say enforce or audit, "
				"the trusted keyrings, the cgroup and the exceptions "
				"(docs/signed-bpf.md)")
		->check(CLI::ExistingFile);
	enforce_cmd->add_option("--cgroup", opts.cgroup,
				"enforce only for the tasks of this cgroup v2 directory")
		->check(CLI::ExistingDirectory);
	drain_cmd = bpf->add_subcommand(
		"drain", "write the refusals queued in a pinned policy to an audit log (when no "
			 "eima bpf enforce --audit-log was writing them)");
	drain_cmd->add_option("--pin", opts.pin_dir, "the policy's bpffs DIR")->required();
	drain_cmd->add_option("--audit-log", opts.audit_log, "the JSON-lines audit log to append to")
		->required();
	drain_cmd->add_flag("--follow", drain_follow, "keep writing until SIGTERM");
}

std::optional<int> run_bpf_commands()
{
	if (sign_cmd && *sign_cmd)
		return cmd_sign(opts);
	if (verify_cmd && *verify_cmd)
		return cmd_verify(opts);
	if (load_cmd && *load_cmd)
		return load_signed(opts, opts.attach, nullptr);
	if (drain_cmd && *drain_cmd)
		return write_audit(opts, drain_follow);
	if (path_cmd && *path_cmd) {
		auto p = bpfsign::probe_signing_path();
		if (!p)
			return report(p.error());
		fmt::print("{}\n", bpfsign::signing_path_name(*p));
		return 0;
	}
	if (enforce_cmd && *enforce_cmd)
		return cmd_enforce(opts);
	return std::nullopt;
}

} // namespace eima::cli
