#include "agent/quote_service.h"

#include <openssl/crypto.h>

#include "agent/container_registry.h"
#include "agent/host_recorder.h"
#include "agent/list_recovery.h"
#include "agent/tpm_extender.h"
#include "attest/enrollment.h"
#include "attest/evidence.h"

namespace eima::agent {

namespace {

bool is_ready(auto &future, bool wait)
{
	return wait || future.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
}

// PCRs 0..23 of each bank as {bank: {pcr: hex}}, read in one go on the extender's thread
// behind every record queued so far.
std::future<Result<nlohmann::json>> read_all_pcrs_later(TpmExtender &tpm,
							 std::vector<ima::HashAlgo> banks)
{
	return tpm.later<nlohmann::json>([banks = std::move(banks)](tpm::Tpm &t) -> Result<nlohmann::json> {
		auto pcrs = read_all_pcrs(t, banks);
		if (!pcrs)
			return std::unexpected(pcrs.error());
		nlohmann::json out;
		for (auto &[bank, values] : *pcrs)
			for (auto &[pcr, value] : values)
				out[std::string(ima::hash_algo_name(bank))][std::to_string(pcr)] =
					to_hex(value);
		return out;
	});
}

// The answer to a PCR read from a TPM: its banks, the source, and how many list entries
// they cover.
ControlAnswer pcrs_answer(std::future<Result<nlohmann::json>> read, std::string source,
			  std::size_t entries, std::string context)
{
	return [read = std::move(read), source = std::move(source), entries,
		context = std::move(context)](bool wait) mutable -> std::optional<nlohmann::json> {
		if (!is_ready(read, wait))
			return std::nullopt;
		auto banks = read.get();
		if (!banks)
			return nlohmann::json{{"error", context + banks.error().message()}};
		return nlohmann::json{{"banks", std::move(*banks)}, {"source", source},
				      {"entries", entries}};
	};
}

// The answer of work queued on a TPM's thread: its JSON, or an error saying what failed.
ControlAnswer later_answer(std::future<Result<nlohmann::json>> work, std::string context)
{
	return [work = std::move(work), context = std::move(context)](
		       bool wait) mutable -> std::optional<nlohmann::json> {
		if (!is_ready(work, wait))
			return std::nullopt;
		auto r = work.get();
		if (!r)
			return nlohmann::json{{"error", context + r.error().message()}};
		return std::move(*r);
	};
}

} // namespace

QuoteService::QuoteService(Site site) : s_(std::move(site)) {}

ControlAnswer QuoteService::host_quote(ima::HashAlgo bank, std::vector<std::uint32_t> pcrs,
				       Bytes nonce)
{
	// Queued behind every entry appended so far, so the list prefix of `entries` records
	// is what the PCRs cover.
	if (!s_.host_tpm)
		return answer_now({{"error", "eimad runs without a TPM (--tpm none)"}});
	s_.flush_all(); // every entry counted below is written, hence queued for the TPM
	auto q = s_.host_tpm->quote_later(bank, std::move(pcrs), nonce);
	return [q = std::move(q), nonce = std::move(nonce),
		entries = s_.host->entries()](bool wait) mutable -> std::optional<nlohmann::json> {
		if (!is_ready(q, wait))
			return std::nullopt;
		auto r = q.get();
		if (!r)
			return nlohmann::json{{"error", r.error().message()}};
		return attest::quote_reply(*r, nonce, entries);
	};
}

ControlAnswer QuoteService::container_quote(Container &c, ima::HashAlgo bank,
					    std::vector<std::uint32_t> pcrs, Bytes nonce)
{
	ContainerQuote q{bank, std::move(pcrs), std::move(nonce), {}, {}, {}, 0, 0};
	if (auto refused = start_quote(c, q))
		return answer_now(std::move(*refused));
	// By key: the container may retire (and move) before the quotes are in.
	return [this, key = c.key, q = std::move(q)](bool wait) mutable {
		return step_quote(s_.find_container(key), q, wait);
	};
}

std::optional<nlohmann::json> QuoteService::start_quote(Container &c, ContainerQuote &q)
{
	if (!c.vtpm)
		return nlohmann::json{
			{"error", "container " + c.id + " has no vTPM (eimad runs with --vtpm none)"}};
	if (!c.list)
		return nlohmann::json{{"error", "container " + c.id + " has no list"}};
	if (!s_.host_tpm)
		return nlohmann::json{{"error", "a container's quote needs the host TPM to bind its "
						"vTPM, and eimad runs without one (--tpm none)"}};
	// Queued behind the vTPM's start and every entry so far (written first: a container's
	// entries reach its vTPM only once they are in its list).
	flush_container(c);
	q.vtpm = c.vtpm->extender().quote_later(q.bank, q.pcrs, q.nonce);
	q.reply = {{"container", c.id}, {"log_dir", c.list->dir()}};
	q.entries = c.list->entries();
	return std::nullopt;
}

std::optional<nlohmann::json> QuoteService::step_quote(Container *c, ContainerQuote &q, bool wait)
{
	if (q.vtpm.valid()) {
		if (!is_ready(q.vtpm, wait))
			return std::nullopt;
		auto vq = q.vtpm.get();
		if (!vq)
			return nlohmann::json{
				{"error", "container " + q.reply["container"].get<std::string>() +
						  ": vTPM: " + vq.error().message()}};
		q.reply.update(attest::quote_reply(*vq, q.nonce, q.entries));
		// The vTPM is up, so its binding goes in now if it has not yet; the host quote,
		// queued behind it (written, so extended), covers it.
		if (c)
			bind_vtpm(*c, *s_.host, s_.hash, s_.container_pcr);
		s_.flush_all();
		q.host_entries = s_.host->entries();
		q.host = s_.host_tpm->quote_later(q.bank, {s_.host_pcr, s_.container_pcr}, q.nonce);
	}
	if (!is_ready(q.host, wait))
		return std::nullopt;
	auto hq = q.host.get();
	if (!hq)
		return nlohmann::json{{"error", "host quote: " + hq.error().message()}};
	q.reply["host"] = attest::quote_reply(*hq, q.nonce, q.host_entries);
	return std::move(q.reply);
}

ControlAnswer QuoteService::quote(const nlohmann::json &req)
{
	auto bank = ima::hash_algo_from_name(req.value("bank", "sha256"));
	auto nonce = from_hex(req.value("nonce", ""));
	if (!bank || !nonce || nonce->empty() || nonce->size() > 64)
		return answer_now({{"error", "quote needs a bank and a nonce of 1 to 64 bytes in hex"}});
	std::vector<std::uint32_t> pcrs;
	if (req.contains("pcrs") && req["pcrs"].is_array())
		for (auto &p : req["pcrs"])
			if (p.is_number_unsigned())
				pcrs.push_back(p.get<std::uint32_t>());
	std::string id = req.value("container", "");
	if (id.empty()) {
		if (pcrs.empty())
			pcrs = {s_.host_pcr, s_.container_pcr};
		return host_quote(*bank, pcrs, *nonce);
	}
	if (pcrs.empty())
		pcrs = {ima::default_ima_pcr};
	for (auto &[key, c] : s_.registry->live())
		if (c.id == id && c.list)
			return container_quote(c, *bank, pcrs, *nonce);
	if (s_.registry->retiring(id))
		return answer_now({{"error", "container " + id + " has exited; its final "
							      "evidence is being taken"}});
	if (auto *e = s_.registry->find_exited(id))
		return answer_now({{"error", "container " + id + " has exited; its final evidence: " +
						     e->final_evidence}});
	return answer_now({{"error", "no such container: " + id}});
}

ControlAnswer QuoteService::pcrs(const nlohmann::json &req)
{
	// "banks": [...] (or one "bank") are read in one go: with "entries", the number of
	// list entries they cover, a client can cut a consistent snapshot of the list.
	std::vector<ima::HashAlgo> banks;
	std::vector<std::string> names = req.contains("banks") && req["banks"].is_array()
						 ? req["banks"].get<std::vector<std::string>>()
						 : std::vector<std::string>{req.value("bank", "sha256")};
	for (auto &n : names) {
		auto b = ima::hash_algo_from_name(n);
		if (!b)
			return answer_now({{"error", "unknown bank: " + n}});
		banks.push_back(*b);
	}
	std::string id = req.value("container", "");
	if (id.empty()) {
		if (!s_.host_tpm)
			return answer_now({{"error", "eimad runs without a TPM (--tpm none)"}});
		s_.flush_all(); // the entries counted are written, hence queued before the read
		return pcrs_answer(read_all_pcrs_later(*s_.host_tpm, std::move(banks)), "tpm",
				   s_.host->entries(), "");
	}
	Container *found = s_.registry->find_id(id);
	if (!found || !found->list)
		return answer_now({{"error", "no such container: " + id}});
	flush_container(*found); // the entries counted are written, hence queued before the read
	if (found->vtpm)
		return pcrs_answer(read_all_pcrs_later(found->vtpm->extender(), std::move(banks)),
				   "vtpm", found->list->entries(), "container " + id + ": vTPM: ");
	// --vtpm none: the values its list replays to.
	nlohmann::json out;
	for (auto bank : banks) {
		auto &j = out["banks"][std::string(ima::hash_algo_name(bank))];
		j = nlohmann::json::object();
		for (auto &[pcr, value] : found->list->replayed_pcrs(bank))
			j[std::to_string(pcr)] = to_hex(value);
	}
	out["source"] = "replay";
	out["entries"] = found->list->entries();
	return answer_now(std::move(out));
}

ControlAnswer QuoteService::identity(const nlohmann::json &)
{
	if (!s_.host_tpm)
		return answer_now({{"error", "eimad runs without a TPM (--tpm none): no identity"}});
	return later_answer(s_.host_tpm->later<nlohmann::json>(
				    [](tpm::Tpm &t) -> Result<nlohmann::json> {
					    auto id = attest::node_identity(t);
					    if (!id)
						    return std::unexpected(id.error());
					    return attest::identity_json(*id);
				    }),
			    "identity: ");
}

ControlAnswer QuoteService::activate(const nlohmann::json &req)
{
	// Checked here, off the TPM's thread: a malformed challenge costs the TPM nothing.
	auto it = req.find("challenge");
	if (it == req.end() || !it->is_object())
		return answer_now({{"error", "activate needs \"challenge\": the object "
					     "eima enroll challenge wrote"}});
	auto c = attest::parse_challenge(it->dump(), "control request");
	if (!c)
		return answer_now({{"error", c.error().message()}});
	if (!s_.host_tpm)
		return answer_now({{"error", "eimad runs without a TPM (--tpm none): nothing to activate"}});
	return later_answer(s_.host_tpm->later<nlohmann::json>(
				    [c = std::move(*c)](tpm::Tpm &t) -> Result<nlohmann::json> {
					    auto secret = t.activate_credential(c.ek, c.credential);
					    if (!secret)
						    return fail(secret.error().err, "enroll activate",
								secret.error().message() +
									attest::activate_failed_hint);
					    auto j = attest::response_json(*secret);
					    OPENSSL_cleanse(secret->data(), secret->size());
					    return j;
				    }),
			    "");
}

} // namespace eima::agent
