#include "cli/bpf_commands.h"

#include <functional>

#include <fmt/format.h>

#include "bpfsign/bpf_policy.h"
#include "bpfsign/loader_image.h"
#include "bpfsign/signed_loader.h"
#include "bpfsign/signed_object.h"
#include "cli/report.h"
#include "common/pkcs7_signature.h"

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
	bool audit = false;
	std::string cgroup;
};

BpfOptions opts;
CLI::App *sign_cmd = nullptr;
CLI::App *verify_cmd = nullptr;
CLI::App *load_cmd = nullptr;
CLI::App *enforce_cmd = nullptr;

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

// Loads a signed object with its signature; configure runs between loading and attaching.
int load_signed(const BpfOptions &o, bool attach,
		const std::function<Result<void>(const bpfsign::LoadedObject &, std::int32_t)> &configure)
{
	// No check of the data's hash here: the signed loader makes it in the kernel, which is
	// what load trusts (and what kernel618.signed_bpf tests).
	auto obj = bpfsign::read_signed_object(o.object);
	if (!obj)
		return report(obj.error());
	auto manifest = bpfsign::read_loader_manifest(obj->data);
	if (!manifest)
		return report(manifest.error());
	std::int32_t keyring = 0;
	if (o.keyring) {
		keyring = *o.keyring;
	} else {
		auto k = bpfsign::default_keyring();
		if (!k)
			return report(k.error());
		keyring = *k;
	}
	auto loaded = bpfsign::load_signed_object(*obj, *manifest, keyring, o.object);
	if (!loaded)
		return report(loaded.error());
	if (configure)
		if (auto c = configure(*loaded, keyring); !c)
			return report(c.error());
	if (attach)
		if (auto a = bpfsign::attach_programs(*loaded, *manifest); !a)
			return report(a.error());
	if (!o.pin_dir.empty())
		if (auto p = bpfsign::pin_loaded_object(*loaded, o.pin_dir); !p)
			return report(p.error());
	fmt::print("loaded {} with its signature (keyring {}, loader tag {}): {} programs, {} maps"
		   "{}{}\n",
		   o.object, keyring, loaded->loader_tag, loaded->programs.size(),
		   loaded->maps.size(), attach ? ", attached" : "",
		   o.pin_dir.empty() ? " (not pinned: released on exit)" : ", pinned in " + o.pin_dir);
	return 0;
}

int cmd_enforce(const BpfOptions &o)
{
	return load_signed(o, true, [&](const bpfsign::LoadedObject &loaded, std::int32_t keyring) {
		bpfsign::BpfPolicySettings s{{keyring}, o.audit, o.cgroup};
		s.trusted_keyrings.insert(s.trusted_keyrings.end(), o.trusted.begin(), o.trusted.end());
		return bpfsign::configure_bpf_policy(loaded, s);
	});
}

} // namespace

void add_bpf_commands(CLI::App &app)
{
	auto *bpf = app.add_subcommand("bpf", "BPF objects signed for the kernel's signature check");
	bpf->require_subcommand(1);
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
	load_cmd = bpf->add_subcommand("load", "load a signed BPF object with its signature (6.18+)");
	load_cmd->add_option("OBJ", opts.object, "a signed BPF object")->required();
	load_cmd->add_option("--keyring", opts.keyring,
			     "key serial of the keyring holding the signer's certificate "
			     "(default: the \"eima\" keyring in the user keyring)");
	load_cmd->add_option("--pin", opts.pin_dir, "pin programs, maps and links in this bpffs DIR");
	load_cmd->add_flag("--attach", opts.attach, "attach the LSM and tracing programs");
	enforce_cmd = bpf->add_subcommand(
		"enforce", "only signed BPF from here on: load, configure and attach the signed "
			   "policy program (bpf_policy.signed.bpf.o, 6.18+)");
	enforce_cmd->add_option("OBJ", opts.object, "the signed bpf_policy object")->required();
	enforce_cmd->add_option("--keyring", opts.keyring,
				"keyring the policy object is checked against, and trusted "
				"(default: the \"eima\" keyring in the user keyring)");
	enforce_cmd->add_option("--trust", opts.trusted, "another trusted keyring (repeatable)");
	enforce_cmd->add_option("--pin", opts.pin_dir, "pin it in this bpffs DIR (else it ends "
						       "when eima exits)");
	enforce_cmd->add_flag("--audit", opts.audit, "count and record refusals, refuse nothing");
	enforce_cmd->add_option("--cgroup", opts.cgroup,
				"enforce only for the tasks of this cgroup v2 directory")
		->check(CLI::ExistingDirectory);
}

std::optional<int> run_bpf_commands()
{
	if (sign_cmd && *sign_cmd)
		return cmd_sign(opts);
	if (verify_cmd && *verify_cmd)
		return cmd_verify(opts);
	if (load_cmd && *load_cmd)
		return load_signed(opts, opts.attach, nullptr);
	if (enforce_cmd && *enforce_cmd)
		return cmd_enforce(opts);
	return std::nullopt;
}

} // namespace eima::cli
