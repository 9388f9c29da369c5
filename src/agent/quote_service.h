// Quotes and PCR reads for `eima quote` and `eima pcrs`, and the final quote of a container
// that exited. None of them blocks the event loop: each is queued on its TPM's own thread
// behind the entries before it, and the answer (ControlAnswer) is looked in on until it is
// in.
#pragma once

#include <cstdint>
#include <functional>
#include <future>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/control_server.h"
#include "common/error.h"
#include "common/hex.h"
#include "ima/hash_algo.h"
#include "tpm/tpm.h"

namespace eima::agent {

struct Container;
class ContainerRegistry;
class HostRecorder;
class TpmExtender;

// A container's quote, in two steps: its vTPM's quote, then (the vTPM being up, its binding
// now in the host list) the host's. Each waits its turn on that TPM's own thread behind the
// entries before it, so the caller may go on meanwhile and look in later.
struct ContainerQuote {
	ima::HashAlgo bank = ima::HashAlgo::sha256;
	std::vector<std::uint32_t> pcrs;
	Bytes nonce;
	std::future<Result<tpm::Quote>> vtpm, host;
	nlohmann::json reply;         // the vTPM part, once its quote is in
	std::size_t entries = 0;      // container list entries the vTPM quote covers
	std::size_t host_entries = 0; // host list entries the host quote covers
};

// Taking a container's quote (what retirement needs of quotes).
class ContainerQuotes {
public:
	virtual ~ContainerQuotes() = default;
	// Queues the vTPM's quote; an error reply when there is nothing to quote.
	virtual std::optional<nlohmann::json> start_quote(Container &c, ContainerQuote &q) = 0;
	// The reply once both quotes are in (or one failed); nullopt while waiting, unless
	// wait. c: the container, null once it is gone (its quotes still finish).
	virtual std::optional<nlohmann::json> step_quote(Container *c, ContainerQuote &q,
							 bool wait) = 0;
};

class QuoteService : public ContainerQuotes {
public:
	struct Site {
		TpmExtender *host_tpm = nullptr; // null: --tpm none
		HostRecorder *host = nullptr;
		ContainerRegistry *registry = nullptr;
		ima::HashAlgo hash = ima::HashAlgo::sha256; // of binding entries
		std::uint32_t host_pcr = 10, container_pcr = 11;
		// A live or retiring container by key.
		std::function<Container *(std::uint64_t)> find_container;
		// Writes every list (so what a reply counts is on disk, hence queued for the TPM).
		std::function<void()> flush_all;
	};
	explicit QuoteService(Site site);

	// {"cmd":"quote", "nonce":HEX, "bank", "pcrs", "container"}
	ControlAnswer quote(const nlohmann::json &req);
	// {"cmd":"pcrs", "banks"|"bank", "container"}
	ControlAnswer pcrs(const nlohmann::json &req);
	// {"cmd":"identity"}: the host TPM's EKs, their certificates and the AK, as
	// `eima identity --json` prints them.
	ControlAnswer identity(const nlohmann::json &req);
	// {"cmd":"activate", "challenge": CHALLENGE}: TPM2_ActivateCredential of an
	// `eima enroll challenge` file with the host TPM's EK and the AK eimad quotes with;
	// the answer is `eima enroll activate`'s response.
	ControlAnswer activate(const nlohmann::json &req);

	std::optional<nlohmann::json> start_quote(Container &c, ContainerQuote &q) override;
	std::optional<nlohmann::json> step_quote(Container *c, ContainerQuote &q, bool wait) override;

private:
	ControlAnswer host_quote(ima::HashAlgo bank, std::vector<std::uint32_t> pcrs, Bytes nonce);
	// The container's vTPM quote and the host quote that binds it, as eimad's quote reply.
	ControlAnswer container_quote(Container &c, ima::HashAlgo bank,
				      std::vector<std::uint32_t> pcrs, Bytes nonce);
	Site s_;
};

} // namespace eima::agent
