// One measurement list on disk, in the kernel's two formats side by side
// (ascii_runtime_measurements, binary_runtime_measurements), as eimad keeps for the host
// and for every container. Entries are appended in order and written at flush(), which
// eimad calls at the end of every batch of events; the files are never rewritten.
//
// A write that fails (a full disk, a read-only run directory) keeps what was not written
// and retries it at the next flush, from the byte where it stopped: the files hold whole
// records again once it succeeds (and a kill meanwhile leaves a torn last record, which a
// resume cuts off). While writes fail, at most 8 MiB (set_max_unwritten) wait in memory; entries
// beyond are lost, counted, and never extended, and once the list is written again one
// violation entry says how many ("eima-lost:N:why"), as kernel IMA records what it could
// not measure. See docs/failure-modes.md.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/hex.h"
#include "common/unique_fd.h"
#include "ima/hash_algo.h"
#include "ima/template_entry.h"

namespace eima::agent {

// Template hashes of one entry, per PCR bank, in the order of the list's banks: what is
// extended into the TPM for it.
struct ExtendRecord {
	std::uint32_t pcr = 0;
	std::vector<std::pair<ima::HashAlgo, Bytes>> digests;
};

// The record of entry in these banks.
Result<ExtendRecord> extend_record(const ima::TemplateEntry &entry,
				   const std::vector<ima::HashAlgo> &banks);

class MeasurementList;

// A list reopened after eimad stopped (or was killed): what it holds, and what the TPM
// should hold for it.
struct ResumedList;

class MeasurementList {
public:
	// Creates dir and empty list files in it (an existing list is replaced).
	static Result<MeasurementList> create(const std::string &dir, std::vector<ima::HashAlgo> banks);
	// Reopens the list in dir to append to it. The binary list is the record: a torn last
	// record (eimad killed mid-write) is cut off, and the ascii list is rewritten from the
	// binary one so the two agree. Fails when there is no list to read.
	static Result<ResumedList> resume(const std::string &dir, std::vector<ima::HashAlgo> banks);

	MeasurementList(MeasurementList &&) = default;
	MeasurementList &operator=(MeasurementList &&) = default;

	// Appends an entry; returns what to extend for it. ENOSPC: not appended, counted as
	// lost (writes have been failing and max_unwritten bytes wait already).
	Result<ExtendRecord> append(const ima::TemplateEntry &entry);
	// Writes what was appended. Logs when writes start failing and when they work again.
	Result<void> flush();
	// Once everything is written again after entries were lost: appends the violation that
	// says how many, and returns its record (then flush again). nullopt when there is
	// nothing to say yet.
	Result<std::optional<ExtendRecord>> record_lost();
	// Entries lost so far (reported by a violation or still to be).
	std::uint64_t lost() const { return lost_total_; }
	// Why writes fail now; empty while they work.
	const std::string &write_error() const { return write_error_; }
	// Bytes that may wait unwritten (8 MiB: ~30 000 entries) before entries are lost.
	void set_max_unwritten(std::size_t bytes) { max_unwritten_ = bytes; }

	std::size_t entries() const { return entries_; }
	std::size_t violations() const { return violations_; }
	const std::string &dir() const { return dir_; }
	// DIR/binary_runtime_measurements: what a vTPM's extender reads back, what a final
	// quote's nonce is taken over.
	std::string binary_path() const { return dir_ + "/binary_runtime_measurements"; }
	// PCR values the list replays to (from zero), per bank: what a TPM extended with
	// exactly this list holds.
	std::map<std::uint32_t, Bytes> replayed_pcrs(ima::HashAlgo bank) const;

private:
	MeasurementList() = default;
	std::string dir_;
	std::vector<ima::HashAlgo> banks_;
	UniqueFd ascii_fd_, binary_fd_;
	std::string ascii_pending_;
	Bytes binary_pending_;
	std::size_t entries_ = 0, violations_ = 0;
	std::size_t max_unwritten_ = 8u << 20;
	std::uint64_t lost_ = 0, lost_total_ = 0; // not yet reported, and in all
	std::string write_error_;
	int write_errno_ = 0;
	std::string lost_reason_; // the errno's name when the first was lost: ENOSPC, EROFS
	// The template, digest algorithm and PCR of the first entry lost: the violation's.
	std::string lost_template_;
	ima::HashAlgo lost_algo_ = ima::HashAlgo::sha1;
	std::uint32_t lost_pcr_ = 0;
	std::map<ima::HashAlgo, std::map<std::uint32_t, Bytes>> pcrs_;
};

struct ResumedList {
	MeasurementList list;
	// What to extend for each entry, in list order: the caller finds the prefix its TPM
	// already holds and extends the rest.
	std::vector<ExtendRecord> records;
	std::size_t torn_bytes = 0; // cut off the end of the binary list (kept in .torn)
	std::string torn_reason;    // why they did not parse
};

} // namespace eima::agent
