// `eima bless`: walks a root file system, matches each regular file to its SBOM entry by
// path, hashes it with the SBOM's algorithm, and where the content is what the SBOM
// declares writes security.ima (IMA signature v2) and the eima blessing (blessing.h).
//
// The SBOM's digest decides whether a file is blessed; the signatures carry the digest in
// the signing algorithm (IMA's, sha256 by default), because that is the digest the kernel
// computes when it checks them. A file whose SBOM algorithm differs is hashed in both.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/error.h"
#include "ima/hash_algo.h"
#include "sbom/sbom.h"

namespace eima::sbom {

struct BlessOptions {
	std::string sbom_path;
	std::string root;
	std::string key_pem;
	std::string cert_pem;
	bool dry_run = false; // hash and compare, write nothing (key and cert still checked)
	ima::HashAlgo sign_algo = ima::HashAlgo::sha256;
	// user.eima: what BPF may read on 6.12; security.bpf.eima from 6.13.
	std::string blessing_xattr = "user.eima";
};

enum class BlessStatus : std::uint8_t {
	blessed,     // content matches the SBOM; signatures written (or would be: dry run)
	mismatched,  // content differs from the SBOM's digest: never blessed
	missing,     // in the SBOM, not under the root
	unlisted,    // an ELF or #! file under the root that the SBOM does not list
	no_digest,   // listed, present, but the SBOM gives no digest eima can check
	not_regular, // listed, but a directory, symlink or device under the root
	failed,      // could not be read or its xattrs written (error says why)
};

std::string_view bless_status_name(BlessStatus s);

struct BlessedFile {
	std::string path; // as found under the root (relative) or as the SBOM wrote it (missing)
	BlessStatus status = BlessStatus::blessed;
	std::string algo;     // the SBOM's algorithm the file was compared in
	std::string expected; // the SBOM's digest (hex)
	std::string actual;   // the file's digest (hex)
	std::string error;    // failed: why
};

struct BlessReport {
	std::vector<BlessedFile> files; // every file with a status, in walk order, then missing
	std::map<BlessStatus, std::size_t> counts;
	std::uint64_t bytes_hashed = 0;
	SbomSummary sbom;

	std::size_t count(BlessStatus s) const
	{
		auto it = counts.find(s);
		return it == counts.end() ? 0 : it->second;
	}
	bool ok() const { return count(BlessStatus::mismatched) + count(BlessStatus::failed) == 0; }
};

// Called after each hashed file: bytes and files done, of the totals found by the walk.
using BlessProgress = std::function<void(std::uint64_t bytes_done, std::uint64_t bytes_total,
					 std::size_t files_done, std::size_t files_total)>;

// Errors are about the whole run (SBOM unreadable, key, root); a single file's trouble is
// its status in the report.
Result<BlessReport> bless_tree(const BlessOptions &o, const BlessProgress &progress = {});

// Blesses a tree the SBOM does not cover from known-good digests per path (a measurement
// list of a known-good host, an allowlist): o.sbom_path is not read. A path may have
// several good digests (a list holds every version that ran): its file is blessed when
// its content has any of them, in the strongest algorithm listed for it; the report's
// statuses, counts and exit rules are bless_tree's (report.sbom stays empty).
Result<BlessReport> bless_tree_known_good(const BlessOptions &o, std::vector<SbomFile> known_good,
					  const BlessProgress &progress = {});

// The strongest algorithm of the entry's digests that eima hashes (sha512 > sha384 > sha256
// > sha1); empty when none.
std::string choose_algo(const std::vector<FileDigest> &digests);

} // namespace eima::sbom
