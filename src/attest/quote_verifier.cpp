#include "attest/quote_verifier.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <tss2/tss2_mu.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string_view>

#include <fmt/format.h>

#include "attest/log_verifier.h"
#include "attest/runtime_policy.h"
#include "attest/vtpm_binding.h"
#include "ima/binary_log.h"
#include "ima/template_entry.h"

namespace eima::attest
{

namespace
{

struct PkeyFree {
	void operator()(EVP_PKEY *p) const { EVP_PKEY_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

PkeyPtr load_public_pem(const std::string &pem)
{
	BIO *bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
	if (!bio)
		return nullptr;
	PkeyPtr key(PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr));
	BIO_free(bio);
	return key;
}

// The digest a TPM algorithm id names; nullptr for one eima does not verify with.
const EVP_MD *md_for(TPM2_ALG_ID alg)
{
	switch (alg) {
	case TPM2_ALG_SHA1:
		return EVP_sha1();
	case TPM2_ALG_SHA256:
		return EVP_sha256();
	case TPM2_ALG_SHA384:
		return EVP_sha384();
	case TPM2_ALG_SHA512:
		return EVP_sha512();
	default:
		return nullptr;
	}
}

TPM2_ALG_ID alg_id(ima::HashAlgo a)
{
	switch (a) {
	case ima::HashAlgo::sha1:
		return TPM2_ALG_SHA1;
	case ima::HashAlgo::sha256:
		return TPM2_ALG_SHA256;
	case ima::HashAlgo::sha384:
		return TPM2_ALG_SHA384;
	case ima::HashAlgo::sha512:
		return TPM2_ALG_SHA512;
	case ima::HashAlgo::sm3_256:
		return TPM2_ALG_SM3_256;
	}
	return TPM2_ALG_ERROR;
}

// ECDSA (r, s) from the TPM as the DER ECDSA-Sig-Value OpenSSL verifies.
std::optional<Bytes> ecdsa_der(const TPMS_SIGNATURE_ECC &ecc)
{
	ECDSA_SIG *sig = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(ecc.signatureR.buffer, ecc.signatureR.size, nullptr);
	BIGNUM *s = BN_bin2bn(ecc.signatureS.buffer, ecc.signatureS.size, nullptr);
	if (!sig || !r || !s || ECDSA_SIG_set0(sig, r, s) != 1) {
		BN_free(r);
		BN_free(s);
		ECDSA_SIG_free(sig);
		return std::nullopt;
	}
	unsigned char *der = nullptr;
	int len = i2d_ECDSA_SIG(sig, &der);
	ECDSA_SIG_free(sig);
	if (len <= 0)
		return std::nullopt;
	Bytes out(der, der + len);
	OPENSSL_free(der);
	return out;
}

bool verify_signature(EVP_PKEY *key, const EVP_MD *md, std::span<const std::uint8_t> sig,
		      std::span<const std::uint8_t> data)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx)
		return false;
	bool ok = EVP_DigestVerifyInit(ctx, nullptr, md, nullptr, key) == 1 &&
		  EVP_DigestVerify(ctx, sig.data(), sig.size(), data.data(), data.size()) == 1;
	EVP_MD_CTX_free(ctx);
	return ok;
}

class Checks
{
public:
	Checks(QuoteReport &rep, std::string prefix = {}) : rep_(rep), prefix_(std::move(prefix)) {}
	void pass(const char *name, std::string note = {})
	{
		rep_.checks.push_back({prefix_ + name, CheckVerdict::pass, std::move(note)});
	}
	void fail(const char *name, std::string why)
	{
		rep_.checks.push_back({prefix_ + name, CheckVerdict::fail, std::move(why)});
	}
	void skip(const char *name, std::string why)
	{
		rep_.checks.push_back({prefix_ + name, CheckVerdict::skipped, std::move(why)});
	}
	void not_asked(const char *name, std::string why)
	{
		rep_.checks.push_back(
			{prefix_ + name, CheckVerdict::skipped, std::move(why), false});
	}
	bool passed(const char *name) const
	{
		auto *c = rep_.check(prefix_ + name);
		return c && c->verdict == CheckVerdict::pass;
	}

private:
	QuoteReport &rep_;
	std::string prefix_;
};

std::string pcr_list(const std::map<std::uint32_t, Bytes> &pcrs)
{
	std::vector<std::uint32_t> v;
	for (auto &[i, _] : pcrs)
		v.push_back(i);
	return fmt::format("{}", fmt::join(v, ","));
}

// signature, attest, nonce, pcr_digest, parse, template_hash, appended_entries, replay of
// one evidence object, named through `c`. `signer` is the key the signature must verify
// under (`signer_name` in messages; null: the signature fails with `no_signer`). Returns
// the entries parsed.
std::size_t check_quote(const Evidence &ev, std::span<const std::uint8_t> nonce, EVP_PKEY *signer,
			const std::string &signer_name, const std::string &no_signer, Checks &c)
{
	// signature: with the key the caller trusts (or will trust), whatever else the
	// evidence claims.
	TPMT_SIGNATURE sig{};
	std::size_t off = 0;
	const EVP_MD *sig_md = nullptr;
	if (Tss2_MU_TPMT_SIGNATURE_Unmarshal(ev.signature.data(), ev.signature.size(), &off,
					     &sig) != TSS2_RC_SUCCESS ||
	    off != ev.signature.size()) {
		c.fail("signature", "not a marshalled TPMT_SIGNATURE");
	} else if (sig.sigAlg == TPM2_ALG_ECDSA) {
		sig_md = md_for(sig.signature.ecdsa.hash);
		auto der = ecdsa_der(sig.signature.ecdsa);
		if (!sig_md || !der)
			c.fail("signature", fmt::format("unsupported ECDSA hash 0x{:x}",
							sig.signature.ecdsa.hash));
		else if (!signer)
			c.fail("signature", no_signer);
		else if (!verify_signature(signer, sig_md, *der, ev.attest))
			c.fail("signature", "the ECDSA signature over the attest blob does not "
					    "verify under " +
						    signer_name);
		else
			c.pass("signature");
	} else if (sig.sigAlg == TPM2_ALG_RSASSA) {
		sig_md = md_for(sig.signature.rsassa.hash);
		std::span<const std::uint8_t> raw(sig.signature.rsassa.sig.buffer,
						  sig.signature.rsassa.sig.size);
		if (!sig_md)
			c.fail("signature", "unsupported RSASSA hash");
		else if (!signer)
			c.fail("signature", no_signer);
		else if (!verify_signature(signer, sig_md, raw, ev.attest))
			c.fail("signature", "the RSASSA signature over the attest blob does not "
					    "verify under " +
						    signer_name);
		else
			c.pass("signature");
	} else {
		c.fail("signature", fmt::format("unsupported signature scheme 0x{:x}", sig.sigAlg));
	}

	// attest: the TPM made it (TPM_GENERATED_VALUE) and it is a quote. A TPM never signs
	// an external digest that starts with the magic, so a good signature over a blob with
	// it is a TPM's own statement.
	TPMS_ATTEST att{};
	off = 0;
	bool attest_ok = false;
	if (Tss2_MU_TPMS_ATTEST_Unmarshal(ev.attest.data(), ev.attest.size(), &off, &att) !=
	    TSS2_RC_SUCCESS)
		c.fail("attest", "not a marshalled TPMS_ATTEST");
	else if (off != ev.attest.size())
		c.fail("attest",
		       fmt::format("{} bytes after the TPMS_ATTEST", ev.attest.size() - off));
	else if (att.magic != TPM2_GENERATED_VALUE)
		c.fail("attest",
		       fmt::format("magic 0x{:08x} is not TPM_GENERATED_VALUE", att.magic));
	else if (att.type != TPM2_ST_ATTEST_QUOTE)
		c.fail("attest", fmt::format("type 0x{:04x} is not TPM_ST_ATTEST_QUOTE", att.type));
	else {
		attest_ok = true;
		c.pass("attest");
	}

	// nonce: freshness. Compared with the verifier's nonce, not the evidence's.
	if (!attest_ok) {
		c.skip("nonce", "the attest blob is not a quote");
	} else {
		std::span<const std::uint8_t> extra(att.extraData.buffer, att.extraData.size);
		if (!std::ranges::equal(extra, nonce))
			c.fail("nonce", "the quote's extraData " + to_hex(extra) +
						" is not the nonce " + to_hex(nonce));
		else
			c.pass("nonce");
	}

	// pcr_digest: the quoted values are the ones the TPM hashed. The TPM hashes the
	// selected PCRs in selection order (ascending within a bank) with the signing scheme's
	// hash.
	if (!attest_ok) {
		c.skip("pcr_digest", "the attest blob is not a quote");
	} else if (!sig_md) {
		c.skip("pcr_digest", "no signature hash to compute the digest with");
	} else {
		auto &q = att.attested.quote;
		std::string why;
		if (q.pcrSelect.count != 1) {
			why = fmt::format("the quote selects {} banks, the evidence one",
					  q.pcrSelect.count);
		} else {
			auto &s = q.pcrSelect.pcrSelections[0];
			std::map<std::uint32_t, Bytes> selected;
			if (s.hash != alg_id(ev.bank))
				why = fmt::format(
					"the quote's bank is 0x{:x}, the evidence says {}", s.hash,
					ima::hash_algo_name(ev.bank));
			for (std::uint32_t byte = 0; byte < s.sizeofSelect && byte < 4; ++byte)
				for (std::uint32_t bit = 0; bit < 8; ++bit)
					if (s.pcrSelect[byte] & (1u << bit))
						selected[byte * 8 + bit] = {};
			bool same = selected.size() == ev.pcrs.size() &&
				    std::ranges::equal(selected, ev.pcrs, [](auto &a, auto &b) {
					    return a.first == b.first;
				    });
			if (why.empty() && !same)
				why = "the quote selects PCRs " + pcr_list(selected) +
				      ", the evidence holds " + pcr_list(ev.pcrs);
		}
		if (why.empty()) {
			Bytes concat = ev.pcr_values_file();
			unsigned char md[EVP_MAX_MD_SIZE];
			unsigned int len = 0;
			if (EVP_Digest(concat.data(), concat.size(), md, &len, sig_md, nullptr) !=
			    1)
				why = "cannot hash the PCR values";
			else if (!std::ranges::equal(
					 std::span(md, len),
					 std::span(q.pcrDigest.buffer, q.pcrDigest.size)))
				why = "the quoted PCR values do not hash to the quote's pcrDigest";
		}
		if (why.empty())
			c.pass("pcr_digest");
		else
			c.fail("pcr_digest", why);
	}

	// The list: parsed, header digests, replayed in the quoted bank against the quoted
	// values (which are trusted only if the checks above passed; the verdict is the first
	// failure either way).
	ima::PcrValues given(ev.pcrs.begin(), ev.pcrs.end());
	LogReport log = verify_log_bytes(
		std::string_view(reinterpret_cast<const char *>(ev.list.data()), ev.list.size()),
		{{ev.bank, given}});
	if (log.parse_error)
		c.fail("parse", *log.parse_error);
	else if (log.entries != ev.entries)
		c.fail("parse", fmt::format("the list holds {} entries, the evidence says {}",
					    log.entries, ev.entries));
	else
		c.pass("parse");
	if (!c.passed("parse")) {
		c.skip("template_hash", "the list did not parse");
		c.skip("appended_entries", "the list did not parse");
		c.skip("replay", "the list did not parse");
		return log.entries;
	}
	if (!log.template_hash_errors.empty()) {
		auto &[i, why] = log.template_hash_errors.front();
		c.fail("template_hash", fmt::format("entry {}: {} ({} entries fail)", i, why,
						    log.template_hash_errors.size()));
	} else {
		c.pass("template_hash");
	}
	if (auto m = log.early_match.find(ev.bank); m != log.early_match.end())
		c.fail("appended_entries",
		       fmt::format("the {} PCRs already matched after entry {} of {}: entries were "
				   "appended after the quote",
				   ima::hash_algo_name(ev.bank), m->second, log.entries));
	else
		c.pass("appended_entries");

	const Bytes zeros(ima::digest_size(ev.bank), 0);
	auto replayed = log.replay.find(ev.bank);
	std::string why;
	if (replayed == log.replay.end()) {
		why = fmt::format("no replay in {}", ima::hash_algo_name(ev.bank));
	} else {
		std::vector<std::uint32_t> differ, unquoted;
		for (auto &[pcr, value] : ev.pcrs) {
			auto r = replayed->second.find(pcr);
			if ((r == replayed->second.end() ? zeros : r->second) != value)
				differ.push_back(pcr);
		}
		for (auto &[pcr, value] : replayed->second)
			if (!ev.pcrs.contains(pcr))
				unquoted.push_back(pcr);
		if (!differ.empty())
			why = fmt::format("the list replays to other {} values for PCRs {}",
					  ima::hash_algo_name(ev.bank), fmt::join(differ, ","));
		else if (!unquoted.empty())
			why = fmt::format("the list extends PCRs {} that the quote does not cover",
					  fmt::join(unquoted, ","));
	}
	if (why.empty())
		c.pass("replay");
	else
		c.fail("replay", why);
	return log.entries;
}

// The host evidence's checks, "host." + each name, against the trusted AK.
void check_host(const Evidence &host, std::span<const std::uint8_t> nonce, EVP_PKEY *trusted,
		Checks &c, std::size_t &entries)
{
	// ak: the evidence names the key that signed; it must be the one the verifier pinned.
	PkeyPtr claimed = load_public_pem(host.ak_pem);
	if (!claimed)
		c.fail("ak", "the evidence's AK is not a PEM public key");
	else if (EVP_PKEY_eq(claimed.get(), trusted) != 1)
		c.fail("ak", "the evidence was signed by another AK than the trusted one");
	else
		c.pass("ak");
	entries = check_quote(host, nonce, trusted, "the trusted AK", "", c);
}

// binding: the host list (verified: every host.* check passed) binds the container
// evidence's AK to its container id.
void check_binding(const Evidence &ev, Checks &c)
{
	auto log = ima::read_binary_log(ev.host->list, ima::BinaryHeaderMode::kernel);
	if (!log) { // host.parse passed: the same bytes parse
		c.fail("binding", "the host list: " + log.error().message());
		return;
	}
	// Only ima-buf entries: a file path "eima-vtpm:..." in an ima-ng entry binds nothing.
	std::vector<std::size_t> found;
	for (std::size_t i = 0; i < log->entries.size(); ++i) {
		auto &e = log->entries[i];
		auto name = ima::event_name(e);
		if (e.template_name == "ima-buf" && name && !ima::is_violation(e) &&
		    vtpm_binding_name(ev.container) == *name)
			found.push_back(i);
	}
	if (found.empty()) {
		c.fail("binding", "the host list holds no " + vtpm_binding_name(ev.container) +
					  " entry: nothing binds this vTPM to the host TPM");
		return;
	}
	std::size_t i = found.back();
	// A container whose vTPM was replaced has several; the latest is its vTPM now.
	std::string note;
	if (found.size() > 1)
		note = fmt::format(" ({} binding entries for {}, host list entries {}: the last "
				   "one counts)",
				   found.size(), ev.container, fmt::join(found, ", "));
	auto &e = log->entries[i];
	std::string where = fmt::format("host list entry {}", i);
	auto dig = ima::file_digest(e);
	if (e.fields.size() != 3 || !dig || !dig->algo) { // ima-buf: d-ng|n-ng|buf
		c.fail("binding", where + ": no buffer or no digest eima can check" + note);
		return;
	}
	std::span<const std::uint8_t> buf = e.fields[2];
	auto h = ima::digest(*dig->algo, buf);
	if (!h || !std::ranges::equal(*h, dig->digest)) {
		c.fail("binding", where + ": its digest is not the " + std::string(dig->algo_name) +
					  " of its buffer" + note);
		return;
	}
	auto b = parse_vtpm_binding(buf, where);
	if (!b) {
		c.fail("binding", b.error().message() + note);
		return;
	}
	if (b->container != ev.container) {
		c.fail("binding", where + ": named " + vtpm_binding_name(ev.container) +
					  " but its record is for container " + b->container +
					  note);
		return;
	}
	PkeyPtr bound = load_public_pem(b->ak_pem);
	PkeyPtr claimed = load_public_pem(ev.ak_pem);
	if (!bound)
		c.fail("binding", where + ": its \"ak\" is not a PEM public key" + note);
	else if (!claimed)
		c.fail("binding", "the container evidence's AK is not a PEM public key");
	else if (EVP_PKEY_eq(bound.get(), claimed.get()) != 1)
		c.fail("binding", "the container's quote was signed by another AK than the one " +
					  where + " binds to " + ev.container + note);
	else
		c.pass("binding", note.empty() ? "" : note.substr(2, note.size() - 3));
}

void check_policy(const Evidence &ev, const RuntimePolicy *policy, QuoteReport &rep, Checks &c)
{
	if (!policy) {
		c.not_asked("policy", "no policy given");
		return;
	}
	if (!c.passed("parse")) {
		c.skip("policy", "the list did not parse");
		return;
	}
	auto log = ima::read_binary_log(ev.list, ima::BinaryHeaderMode::kernel);
	if (!log) {
		c.skip("policy", "the list did not parse: " + log.error().message());
		return;
	}
	rep.policy_failures = evaluate(*policy, *log);
	if (rep.policy_failures.empty()) {
		c.pass("policy");
		return;
	}
	auto &f = rep.policy_failures.front();
	std::size_t n = rep.policy_failures.size();
	c.fail("policy",
	       fmt::format("{} {} not allowed, the first: entry {}: {} {}: {}", n,
			   n == 1 ? "entry" : "entries", f.entry, f.path, f.digest, f.reason));
}

} // namespace

bool QuoteReport::ok() const
{
	return !checks.empty() && std::all_of(checks.begin(), checks.end(), [](auto &c) {
		return c.verdict == CheckVerdict::pass ||
		       (c.verdict == CheckVerdict::skipped && !c.asked);
	});
}

std::string QuoteReport::first_failure() const
{
	for (auto &c : checks)
		if (c.verdict == CheckVerdict::fail ||
		    (c.verdict == CheckVerdict::skipped && c.asked))
			return c.name;
	return {};
}

const QuoteCheck *QuoteReport::check(std::string_view name) const
{
	for (auto &c : checks)
		if (c.name == name)
			return &c;
	return nullptr;
}

nlohmann::json QuoteReport::to_json() const
{
	nlohmann::json j;
	j["ok"] = ok();
	j["first_failure"] = first_failure();
	j["source"] = source;
	if (!container.empty()) {
		j["container"] = container;
		j["host_entries"] = host_entries;
	}
	j["entries"] = entries;
	j["checks"] = nlohmann::json::object();
	j["check_order"] = nlohmann::json::array();
	for (auto &c : checks) {
		const char *v = c.verdict == CheckVerdict::pass	  ? "pass"
				: c.verdict == CheckVerdict::fail ? "fail"
								  : "skipped";
		j["checks"][c.name] = {{"result", v}, {"why", c.why}};
		j["check_order"].push_back(c.name);
	}
	j["policy_failures"] = policy_failures_json(policy_failures);
	return j;
}

Result<QuoteReport> verify_evidence(const Evidence &ev, std::span<const std::uint8_t> nonce,
				    const std::string &trusted_ak_pem, const RuntimePolicy *policy)
{
	PkeyPtr trusted = load_public_pem(trusted_ak_pem);
	if (!trusted)
		return fail("verify", "the trusted AK is not a PEM public key");
	QuoteReport rep;
	rep.source = ev.source;
	Checks c(rep);
	if (ev.source != evidence_source_container) {
		check_host(ev, nonce, trusted.get(), c, rep.entries);
		check_policy(ev, policy, rep, c);
		return rep;
	}

	if (!ev.host || ev.host->source != evidence_source_host || ev.container.empty())
		return fail("verify", "container evidence without its id or host evidence");
	rep.container = ev.container;
	Checks hc(rep, "host.");
	check_host(*ev.host, nonce, trusted.get(), hc, rep.host_entries);
	bool host_ok = std::all_of(rep.checks.begin(), rep.checks.end(),
				   [](auto &k) { return k.verdict == CheckVerdict::pass; });

	// The container's quote under its own AK: a good signature says only that this key
	// signed; `binding` then says whether the host TPM vouches for the key.
	PkeyPtr own = load_public_pem(ev.ak_pem);
	rep.entries = check_quote(ev, nonce, own.get(), "the container evidence's AK",
				  "the container evidence's AK is not a PEM public key", c);
	if (!host_ok)
		c.skip("binding", "the host evidence did not verify (" + rep.first_failure() +
					  " failed): its list binds nothing");
	else
		check_binding(ev, c);
	check_policy(ev, policy, rep, c);
	return rep;
}

} // namespace eima::attest
