#include "cli/enroll_commands.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include "attest/enrollment.h"
#include "attest/json_input.h"
#include "cli/report.h"
#include "common/file_io.h"
#include "common/json_text.h"
#include "control/control_protocol.h"
#include "tpm/tpm.h"

namespace eima::cli {

namespace {

struct Options {
	std::string tpm = "device:/dev/tpmrm0";
	std::string run_dir; // set: ask eimad, which owns the TPM, over its control socket
	bool as_json = false;
	std::string identity, ek_ca, out, secret, challenge, response;
	std::string ek = "rsa2048";
};
Options opts;
CLI::App *identity_cmd = nullptr, *challenge_cmd = nullptr, *activate_cmd = nullptr,
	 *finish_cmd = nullptr;

// Writes text to path ("-" or "": stdout); private files (the verifier's secret) get 0600
// before anything is in them.
Result<void> output(const std::string &path, const std::string &text, bool secret = false)
{
	if (path.empty() || path == "-") {
		fmt::print("{}", text);
		return {};
	}
	if (secret) {
		int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0)
			return fail(errno, "open", path);
		::close(fd);
	}
	return write_file(path, text);
}

Result<tpm::Tpm> open_tpm() { return tpm::Tpm::open(opts.tpm); }

Result<attest::NodeIdentity> read_identity(const std::string &path)
{
	auto text = read_file(path);
	if (!text)
		return std::unexpected(text.error());
	return attest::parse_identity(*text, path);
}

// The node's identity from its TPM, or from eimad (checked as a verifier checks it: eimad's
// reply is parsed, and printed from what was parsed).
Result<attest::NodeIdentity> node_identity()
{
	if (!opts.run_dir.empty()) {
		auto reply = control::control_request(opts.run_dir, {{"cmd", "identity"}});
		if (!reply)
			return std::unexpected(reply.error());
		return attest::parse_identity(json_dump(*reply), "eimad's identity reply");
	}
	auto t = open_tpm();
	if (!t)
		return std::unexpected(t.error());
	return attest::node_identity(*t);
}

int cmd_identity()
{
	auto id = node_identity();
	if (!id)
		return report(id.error());
	auto j = attest::identity_json(*id);
	std::string text = json_dump(j, 2) + "\n";
	if (!opts.as_json) {
		text.clear();
	for (auto &[type, ek] : j["ek"].items()) {
		text += fmt::format("EK {}:\n{}", type, ek["pem"].get<std::string>());
		text += ek["certificate"].is_null() ? "  certificate: none\n"
						    : "  certificate:\n" +
							      ek["certificate"].get<std::string>();
	}
		text += fmt::format("AK (name {}):\n{}", j["ak"]["name"].get<std::string>(),
				    j["ak"]["pem"].get<std::string>());
	}
	if (auto r = output(opts.out, text); !r)
		return report(r.error());
	return 0;
}

// The verifier's side: checks the node's EK certificate and AK, makes the credential, keeps
// the secret (with the AK name it is for) in opts.secret.
int cmd_challenge()
{
	auto id = read_identity(opts.identity);
	if (!id)
		return report(id.error());
	auto type = opts.ek == tpm::ek_type_name(tpm::EkType::rsa2048) ? tpm::EkType::rsa2048
									: tpm::EkType::ecc_p256;
	const tpm::EndorsementKey *ek = id->ek(type);
	if (!ek)
		return report(Error{0, "enroll challenge", opts.identity + ": no " + opts.ek + " EK"});
	auto ca = read_file(opts.ek_ca);
	if (!ca)
		return report(ca.error());
	if (auto r = attest::check_ek_certificate(*ek, *ca, opts.ek_ca); !r)
		return report(r.error());
	if (auto r = attest::check_attestation_key(id->ak_public); !r)
		return report(r.error());
	auto name = tpm::public_name(id->ak_public);
	if (!name)
		return report(name.error());
	Bytes secret(32);
	if (RAND_bytes(secret.data(), static_cast<int>(secret.size())) != 1)
		return report(Error{0, "enroll challenge", "RAND_bytes"});
	auto credential = attest::make_credential(ek->public_area, *name, secret);
	if (!credential)
		return report(credential.error());
	nlohmann::json state = {{"version", attest::challenge_version},
				{"secret", to_hex(secret)},
				{"ak_name", to_hex(*name)}};
	OPENSSL_cleanse(secret.data(), secret.size());
	if (auto r = output(opts.secret, json_dump(state) + "\n", true); !r)
		return report(r.error());
	attest::Challenge c{type, *name, std::move(*credential)};
	if (auto r = output(opts.out, json_dump(attest::challenge_json(c), 2) + "\n"); !r)
		return report(r.error());
	return 0;
}

// The node's side: the TPM unwraps the secret only if it holds both the EK and the AK.
int cmd_activate()
{
	auto text = read_file(opts.challenge);
	if (!text)
		return report(text.error());
	auto c = attest::parse_challenge(*text, opts.challenge);
	if (!c)
		return report(c.error());
	if (!opts.run_dir.empty()) {
		auto reply = control::control_request(
			opts.run_dir, {{"cmd", "activate"}, {"challenge", attest::challenge_json(*c)}});
		if (!reply)
			return report(reply.error());
		auto secret = attest::parse_response(json_dump(*reply), "eimad's activate reply");
		if (!secret)
			return report(secret.error());
		if (auto r = output(opts.out, json_dump(attest::response_json(*secret)) + "\n"); !r)
			return report(r.error());
		return 0;
	}
	auto t = open_tpm();
	if (!t)
		return report(t.error());
	auto secret = t->activate_credential(c->ek, c->credential);
	if (!secret)
		return report(Error{secret.error().err, "enroll activate",
				    secret.error().message() + attest::activate_failed_hint});
	if (auto r = output(opts.out, json_dump(attest::response_json(*secret)) + "\n"); !r)
		return report(r.error());
	return 0;
}

// The verifier again: the AK is pinned (its PEM written) only if the secret came back.
int cmd_finish()
{
	const char *op = "enroll finish";
	auto id = read_identity(opts.identity);
	if (!id)
		return report(id.error());
	auto state_text = read_file(opts.secret);
	if (!state_text)
		return report(state_text.error());
	auto state = json_parse(*state_text, opts.secret);
	if (!state || !state->is_object() || !(*state)["secret"].is_string() ||
	    !(*state)["ak_name"].is_string())
		return report(Error{0, op, opts.secret + ": not a secret written by enroll challenge"});
	auto expected = from_hex((*state)["secret"].get<std::string>());
	auto challenged_name = from_hex((*state)["ak_name"].get<std::string>());
	if (!expected || expected->size() != 32 || !challenged_name)
		return report(Error{0, op, opts.secret + ": not a secret written by enroll challenge"});
	auto name = tpm::public_name(id->ak_public);
	if (!name)
		return report(name.error());
	if (*name != *challenged_name)
		return report(Error{0, op, opts.identity + ": its AK is not the one challenged"});
	auto response = read_file(opts.response);
	if (!response)
		return report(response.error());
	auto got = attest::parse_response(*response, opts.response);
	if (!got)
		return report(got.error());
	if (got->size() != expected->size() ||
	    CRYPTO_memcmp(got->data(), expected->data(), expected->size()) != 0)
		return report(Error{0, op, opts.response +
						   ": wrong secret: the AK is not in the TPM of the "
						   "certified EK; not pinned"});
	auto pem = attest::check_attestation_key(id->ak_public);
	if (!pem)
		return report(pem.error());
	if (auto r = output(opts.out, *pem); !r)
		return report(r.error());
	fmt::print(stderr, "eima: AK {} enrolled\n", to_hex(*name));
	return 0;
}

} // namespace

void add_enroll_commands(CLI::App &app)
{
	auto tpm_option = [](CLI::App *c) {
		auto *tpm = c->add_option("--tpm", opts.tpm,
					  "the TPM as a TCTI (default device:/dev/tpmrm0; swtpm:path=SOCK)");
		c->add_option("--run-dir", opts.run_dir,
			      "ask the eimad of this run directory (it owns the TPM) instead")
			->excludes(tpm);
	};
	identity_cmd = app.add_subcommand("identity", "the TPM's EKs (and certificates) and eima's AK");
	tpm_option(identity_cmd);
	identity_cmd->add_flag("--json", opts.as_json, "the JSON that eima enroll challenge reads");
	identity_cmd->add_option("-o,--output", opts.out, "write here instead of stdout");

	auto *enroll = app.add_subcommand("enroll", "pin a node's AK by a credential challenge to its EK");
	enroll->require_subcommand(1);
	challenge_cmd = enroll->add_subcommand("challenge", "verifier: check the EK certificate, make the credential");
	challenge_cmd->add_option("--identity", opts.identity, "the node's `eima identity --json`")
		->required();
	challenge_cmd->add_option("--ek-ca", opts.ek_ca, "PEM certificates the EK certificate must chain to")
		->required();
	challenge_cmd->add_option("--ek", opts.ek, "which EK (rsa2048 or ecc-p256; default rsa2048)")
		->check(CLI::IsMember({"rsa2048", "ecc-p256"}));
	challenge_cmd->add_option("-o,--output", opts.out, "the challenge for the node")->required();
	challenge_cmd->add_option("--secret-out", opts.secret, "the verifier's secret (kept, mode 0600)")
		->required();

	activate_cmd = enroll->add_subcommand("activate", "node: TPM2_ActivateCredential with the EK and AK");
	activate_cmd->add_option("CHALLENGE", opts.challenge)->required();
	tpm_option(activate_cmd);
	activate_cmd->add_option("-o,--output", opts.out, "the response for the verifier")->required();

	finish_cmd = enroll->add_subcommand("finish", "verifier: pin the AK if the secret came back");
	finish_cmd->add_option("--identity", opts.identity, "the identity the challenge was made from")
		->required();
	finish_cmd->add_option("--response", opts.response)->required();
	finish_cmd->add_option("--secret", opts.secret, "what --secret-out wrote")->required();
	finish_cmd->add_option("-o,--output", opts.out, "the pinned AK (PEM), for eima verify --ak")
		->required();
}

std::optional<int> run_enroll_commands()
{
	if (identity_cmd && *identity_cmd)
		return cmd_identity();
	if (challenge_cmd && *challenge_cmd)
		return cmd_challenge();
	if (activate_cmd && *activate_cmd)
		return cmd_activate();
	if (finish_cmd && *finish_cmd)
		return cmd_finish();
	return std::nullopt;
}

} // namespace eima::cli
