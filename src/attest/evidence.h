// Attestation evidence: a TPM2 quote (as signed, with the AK that signed it and the PCR
// values it covers) and exactly the measurement-list entries those PCRs cover, in one JSON
// document that `eima quote` writes and `eima verify` checks. Everything in it is UNTRUSTED
// until attest/quote_verifier.h has checked it against an AK the verifier trusts and a nonce
// it chose. docs/evidence.md describes the format for other verifiers.
//
// The JSON (format "eima-evidence", version 1):
//   {"format": "eima-evidence", "version": 1, "source": "host", "run_dir": "/run/eima",
//    "hostname": "...", "nonce": HEX,
//    "quote": {"attest": HEX, "signature": HEX, "bank": "sha256", "pcrs": {"10": HEX, ...}},
//    "ak": {"pem": "-----BEGIN PUBLIC KEY-----...", "public": HEX},
//    "list": {"format": "binary", "encoding": "base64", "entries": N, "data": BASE64}}
// attest is the TPMS_ATTEST exactly as signed, signature a marshalled TPMT_SIGNATURE, ak.public
// the AK's marshalled TPM2B_PUBLIC, list.data the first `entries` records of the list.
// Instead of encoding and data, a list may name a file whose first `entries` records it is:
//    "list": {"format": "binary", "entries": N, "file": PATH}
// eimad's final evidence refers to the host list so (it is shared by every container's and
// only grows); load_list_files() reads it before verification. The quote still
// authenticates the list: a changed file fails the replay.
//
// "source" says whose list and which TPM:
//   "host"       eimad's host list, quoted by the host TPM;
//   "kernel"     the kernel's own IMA list, quoted by the TPM (no eimad);
//   "container"  a container's list, quoted by its vTPM. It adds
//                  "container": ID,
//                  "host": {a complete evidence object with source "host"}
//                the host TPM's quote (same nonce) over the host list that binds the vTPM's
//                AK to ID (attest/vtpm_binding.h): the vTPM's AK is trusted only through it.
// "container" and "host" appear in container evidence only.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/hex.h"
#include "ima/hash_algo.h"
#include "tpm/tpm.h"

namespace eima::attest
{

inline constexpr std::string_view evidence_format = "eima-evidence";
inline constexpr int evidence_version = 1;

inline constexpr std::string_view evidence_source_host = "host";
inline constexpr std::string_view evidence_source_kernel = "kernel";
inline constexpr std::string_view evidence_source_container = "container";

struct Evidence {
	std::string source = "host"; // "host", "kernel" or "container" (see above)
	// source "container": the container's id and the host evidence that binds its vTPM.
	// Immutable once built, so copies of container evidence can share it: to tamper with
	// the host part (tests), build a new one and point `host` at it.
	std::string container;
	std::shared_ptr<const Evidence> host;
	std::string run_dir; // eimad's run directory on the attested machine
	std::string hostname;
	Bytes nonce;	 // as the quote was asked for (the verifier checks its own)
	Bytes attest;	 // TPMS_ATTEST as signed
	Bytes signature; // TPMT_SIGNATURE marshalled
	ima::HashAlgo bank = ima::HashAlgo::sha256;
	std::map<std::uint32_t, Bytes> pcrs; // quoted PCRs: values read right after the quote
	std::string ak_pem;		     // SubjectPublicKeyInfo PEM
	Bytes ak_public;		     // TPM2B_PUBLIC marshalled (may be empty)
	std::size_t entries = 0;	     // records in `list`
	Bytes list; // binary list, kernel format, exactly `entries` records
	// Set when the list is not embedded: its first `entries` records are in this file, and
	// `list` stays empty until load_list_files() reads them.
	std::string list_file;

	// The PCR values concatenated in ascending PCR order: tpm2_checkquote's -f file for
	// -l BANK:LIST.
	Bytes pcr_values_file() const;
};

// The first `entries` records of a binary list (kernel format): ENODATA-style error when it
// holds fewer, a parse error naming the entry and offset when a record before them is bad.
Result<Bytes> cut_binary_list(std::span<const std::uint8_t> list, std::size_t entries);

// Builds evidence from eimad's reply to {"cmd":"quote"} (agent/quote_service.cpp) and the
// host's binary list read AFTER that reply (it only grows; it is cut to the reply's
// `entries`).
Result<Evidence> evidence_from_quote_reply(const nlohmann::json &reply,
					   std::span<const std::uint8_t> host_list);

// Host evidence (source "host"; the caller may say otherwise) from a quote and the list it
// covers: the list is cut to its first `entries` records, errors naming list_name.
Result<Evidence> evidence_from_quote(tpm::Quote q, std::span<const std::uint8_t> nonce,
				     std::size_t entries, std::span<const std::uint8_t> list,
				     const std::string &list_name);

// eimad's reply to {"cmd":"quote"} for a quote covering `entries` list records: what
// evidence_from_quote_reply reads back.
nlohmann::json quote_reply(const tpm::Quote &q, std::span<const std::uint8_t> nonce,
			   std::size_t entries);

// Builds container evidence from eimad's reply to {"cmd":"quote","container":ID}:
//   {"container": ID, "log_dir": DIR, <the vTPM's quote: the fields of a host reply>,
//    "host": {<a host reply: the host TPM's quote, same nonce>}}
// and both binary lists read AFTER that reply, each cut to its own `entries`. The names
// (paths) label the lists in errors.
Result<Evidence>
evidence_from_container_quote_reply(const nlohmann::json &reply,
				    std::span<const std::uint8_t> container_list,
				    std::span<const std::uint8_t> host_list,
				    const std::string &container_list_name = "container list",
				    const std::string &host_list_name = "host list");

// Sets run_dir on the evidence and on the host evidence nested in it.
void set_run_dir(Evidence &e, const std::string &run_dir);

// Container evidence from eimad's reply and the lists on disk under run_dir, read AFTER the
// reply (they only grow): <reply's log_dir>/binary_runtime_measurements and
// <run_dir>/host/binary_runtime_measurements. What `eima quote --container` writes
// (embedded) and eimad keeps as a container's final evidence (by_file: the host list is
// named, not read, so writing it costs the same however long the host list has grown).
enum class HostList { embedded, by_file };
Result<Evidence> read_container_evidence(const nlohmann::json &reply, const std::string &run_dir,
					 HostList host_list = HostList::embedded);

// Reads the lists that evidence (and the host evidence nested in it) refers to by file, each
// cut to its `entries`; host_list_file, when given, stands in for the host list's file (the
// verifier's copy). Errors name the file.
Result<void> load_list_files(Evidence &e, const std::string &host_list_file = "");

nlohmann::json evidence_to_json(const Evidence &e);
// Parses and checks the shape (not the meaning) of evidence JSON; errors name `source` (a
// path) and the member's dotted path ("ev.json: host.quote.attest: not non-empty hex").
// Lengths are bounded by the text itself.
Result<Evidence> parse_evidence(std::string_view text, const std::string &source);
Result<Evidence> evidence_from_json(const nlohmann::json &j, const std::string &source);

std::string base64_encode(std::span<const std::uint8_t> bytes);
// Standard alphabet with '=' padding, no whitespace; nullopt on anything else.
std::optional<Bytes> base64_decode(std::string_view text);

} // namespace eima::attest
