#include "sbom/tree_blesser.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <unordered_map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "common/hex.h"
#include "common/unique_fd.h"
#include "sbom/blessing.h"

namespace eima::sbom {
namespace {

namespace fs = std::filesystem;

// What the SBOM says of one path, merged over every entry naming it (an SBOM may list a
// file once per package that owns it).
struct Claim {
	std::string sbom_path; // as first written, for the missing report
	std::vector<FileDigest> digests;
	bool seen = false;
};

struct WalkedFile {
	std::string key;      // normalised relative path
	std::string rel_path; // as found under the root
	fs::path full;
	std::uint64_t size = 0;
};

// The first bytes say whether an unlisted file is one that could run: ELF or a script.
bool is_executable_content(int fd)
{
	std::array<char, 4> head{};
	ssize_t n = ::pread(fd, head.data(), head.size(), 0);
	if (n >= 4 && head[0] == 0x7f && head[1] == 'E' && head[2] == 'L' && head[3] == 'F')
		return true;
	return n >= 2 && head[0] == '#' && head[1] == '!';
}

Result<void> set_xattr(int fd, const char *name, const Bytes &value, const std::string &what)
{
	if (::fsetxattr(fd, name, value.data(), value.size(), 0) != 0)
		return fail(errno, fmt::format("set {}", name), what);
	return {};
}

} // namespace

std::string_view bless_status_name(BlessStatus s)
{
	switch (s) {
	case BlessStatus::blessed:
		return "blessed";
	case BlessStatus::mismatched:
		return "mismatched";
	case BlessStatus::missing:
		return "missing";
	case BlessStatus::unlisted:
		return "unlisted";
	case BlessStatus::no_digest:
		return "no_digest";
	case BlessStatus::not_regular:
		return "not_regular";
	case BlessStatus::failed:
		return "failed";
	}
	return "?";
}

std::string choose_algo(const std::vector<FileDigest> &digests)
{
	for (std::string_view a : {"sha512", "sha384", "sha256", "sha1"})
		for (auto &d : digests)
			if (d.algo == a)
				return d.algo;
	return {};
}

namespace {

void add_claim(std::unordered_map<std::string, Claim> &claims, SbomFile &&f)
{
	std::string key = normalise_path(f.path);
	if (key.empty())
		return;
	auto [it, fresh] = claims.try_emplace(std::move(key));
	if (fresh)
		it->second.sbom_path = std::move(f.path);
	for (auto &d : f.digests)
		it->second.digests.push_back(std::move(d));
}

// What the claims' source means by several digests of one path: an SBOM that lists two
// does not say which content is good (mismatch); a known-good list ran both (either).
enum class Several : std::uint8_t { conflict, any_good };

Result<void> bless_claims(const BlessOptions &o, const BlessingSigner &signer,
			  std::unordered_map<std::string, Claim> &claims, Several several,
			  BlessReport &report, const BlessProgress &progress);

} // namespace

Result<BlessReport> bless_tree(const BlessOptions &o, const BlessProgress &progress)
{
	BlessReport report;
	// Key and certificate first: a run that cannot sign should fail before it reads a
	// large SBOM and tree, dry run included.
	auto signer = BlessingSigner::load(o.key_pem, o.cert_pem);
	if (!signer)
		return std::unexpected(signer.error());

	std::unordered_map<std::string, Claim> claims;
	auto summary = read_sbom(o.sbom_path,
				 [&](SbomFile &&f) { add_claim(claims, std::move(f)); });
	if (!summary)
		return std::unexpected(summary.error());
	report.sbom = *summary;
	if (auto r = bless_claims(o, *signer, claims, Several::conflict, report, progress); !r)
		return std::unexpected(r.error());
	return report;
}

Result<BlessReport> bless_tree_known_good(const BlessOptions &o, std::vector<SbomFile> known_good,
					  const BlessProgress &progress)
{
	BlessReport report;
	auto signer = BlessingSigner::load(o.key_pem, o.cert_pem);
	if (!signer)
		return std::unexpected(signer.error());
	std::unordered_map<std::string, Claim> claims;
	for (auto &f : known_good)
		add_claim(claims, std::move(f));
	if (auto r = bless_claims(o, *signer, claims, Several::any_good, report, progress); !r)
		return std::unexpected(r.error());
	return report;
}

namespace {

Result<void> bless_claims(const BlessOptions &o, const BlessingSigner &signer,
			  std::unordered_map<std::string, Claim> &claims, Several several,
			  BlessReport &report, const BlessProgress &progress)
{

	auto add = [&](BlessedFile f) {
		++report.counts[f.status];
		report.files.push_back(std::move(f));
	};
	// A file's failure is its status; the run goes on (hence a value, not an error).
	auto add_failed = [&](BlessedFile f, const Error &e) -> Result<void> {
		f.status = BlessStatus::failed;
		f.error = e.message();
		add(std::move(f));
		return {};
	};

	// The walk: regular files only, symlinks never followed (a link out of the root must
	// not get a file outside it blessed).
	std::error_code ec;
	fs::path root(o.root);
	if (!fs::is_directory(root, ec))
		return fail(ec ? ec.value() : ENOTDIR, "open root", o.root);
	std::vector<WalkedFile> walked;
	std::uint64_t bytes_total = 0;
	fs::recursive_directory_iterator it(root, fs::directory_options::none, ec), end;
	if (ec)
		return fail(ec.value(), "walk", o.root);
	for (; it != end; it.increment(ec)) {
		if (ec) // the iterator is at its end now: name the root
			return fail(ec.value(), "walk", o.root);
		fs::file_status st = it->symlink_status(ec);
		if (ec)
			return fail(ec.value(), "stat", it->path().string());
		std::string rel = it->path().lexically_relative(root).string();
		std::string key = normalise_path(rel);
		if (!fs::is_regular_file(st)) {
			// syft lists directories and symlinks too ("/bin", "/bin/sh"): reported as
			// not regular, never as missing.
			if (auto c = claims.find(key); c != claims.end()) {
				c->second.seen = true;
				add({.path = rel, .status = BlessStatus::not_regular});
			}
			continue;
		}
		std::uint64_t size = it->file_size(ec);
		if (claims.contains(key))
			bytes_total += ec ? 0 : size; // only listed files are hashed
		walked.push_back({std::move(key), std::move(rel), it->path(), size});
	}

	std::uint64_t bytes_done = 0;
	std::size_t files_done = 0;
	// One file; the error is the run's (a failure to sign), a file's trouble its status.
	auto bless_one = [&](const WalkedFile &w) -> Result<void> {
		BlessedFile out{.path = w.rel_path};
		std::string what = w.full.string();
		UniqueFd fd(::open(what.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY));
		auto claim = claims.find(w.key);
		if (!fd) {
			// Unlisted files need opening only to look for ELF or #!; listed ones fail.
			if (claim != claims.end()) {
				claim->second.seen = true;
				add_failed(std::move(out), Error{errno, "open", what});
			}
			return {};
		}
		if (claim == claims.end()) {
			if (is_executable_content(fd.get())) {
				out.status = BlessStatus::unlisted;
				add(std::move(out));
			}
			return {};
		}
		Claim &c = claim->second;
		c.seen = true;
		out.algo = choose_algo(c.digests);
		if (out.algo.empty()) {
			out.status = BlessStatus::no_digest;
			add(std::move(out));
			return {};
		}
		// Every claim in the chosen algorithm must agree when the source is an SBOM; a
		// known-good list may hold several good versions (matched below).
		std::vector<std::string> good;
		for (auto &d : c.digests)
			if (d.algo == out.algo) {
				if (several == Several::conflict && !out.expected.empty() &&
				    d.hex != out.expected)
					out.error = "the SBOM lists conflicting digests for this path";
				out.expected = d.hex;
				good.push_back(d.hex);
			}
		ima::HashAlgo sbom_algo = *ima::hash_algo_from_name(out.algo);
		// ima::hash_file reads ahead on large files; a second algorithm reads the file
		// again, from the page cache.
		auto sbom_digest = ima::hash_file(sbom_algo, fd.get(), what);
		report.bytes_hashed += w.size;
		if (!sbom_digest)
			return add_failed(std::move(out), sbom_digest.error());
		auto sign_digest = o.sign_algo == sbom_algo ? sbom_digest
							    : ima::hash_file(o.sign_algo, fd.get(), what);
		if (!sign_digest)
			return add_failed(std::move(out), sign_digest.error());
		out.actual = to_hex(*sbom_digest);
		if (several == Several::any_good &&
		    std::find(good.begin(), good.end(), out.actual) != good.end())
			out.expected = out.actual;
		else if (several == Several::any_good && good.size() > 1)
			out.expected = fmt::format("{}", fmt::join(good, ","));
		if (out.actual != out.expected || !out.error.empty()) {
			out.status = BlessStatus::mismatched;
			add(std::move(out));
			return {};
		}
		if (!o.dry_run) {
			auto ima_sig = signer.ima_signature(o.sign_algo, *sign_digest);
			auto blessing = signer.blessing(o.sign_algo, *sign_digest);
			if (!ima_sig || !blessing)
				return std::unexpected(!ima_sig ? ima_sig.error() : blessing.error());
			auto w1 = set_xattr(fd.get(), "security.ima", *ima_sig, what);
			auto w2 = w1 ? set_xattr(fd.get(), o.blessing_xattr.c_str(), *blessing, what) : w1;
			if (!w2)
				return add_failed(std::move(out), w2.error());
		}
		out.status = BlessStatus::blessed;
		add(std::move(out));
		return {};
	};
	for (auto &w : walked) {
		if (auto r = bless_one(w); !r)
			return std::unexpected(r.error());
		if (claims.contains(w.key))
			bytes_done += w.size; // as counted in bytes_total, hashed or not
		if (progress)
			progress(bytes_done, bytes_total, ++files_done, walked.size());
	}

	// In path order: the claims' map has none, and a report should not change run to run.
	std::vector<std::string> missing;
	for (auto &[key, c] : claims)
		if (!c.seen)
			missing.push_back(c.sbom_path);
	std::sort(missing.begin(), missing.end());
	for (auto &m : missing)
		add({.path = std::move(m), .status = BlessStatus::missing});
	return {};
}

} // namespace
} // namespace eima::sbom
