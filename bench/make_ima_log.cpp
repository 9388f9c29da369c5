// Writes a synthetic binary measurement list and the PCR files that match it, for timing
// verifiers (bench/log_verify_bench.sh) on lists larger than any real one at hand:
//   eima-bench-make-ima-log N LOG SHA1_PCRS SHA256_PCRS
// The list is what a kernel with ima_template=ima-ng ima_hash=sha256 writes: boot_aggregate
// (zeros: no TPM), then N-1 ima-ng entries on PCR 10 with paths shaped like a distribution's
// files and pseudo-random sha256 digests (a fixed seed, so runs are repeatable). The PCR files
// are evmctl's `PCR-NN: HEX` lines (ima::format_pcr_file), replayed with ima::Replayer.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "ima/binary_log.h"
#include "ima/replay.h"
#include "ima/template_entry.h"

using namespace eima;

namespace
{

std::uint64_t splitmix(std::uint64_t &s)
{
	std::uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

const char *const dirs[] = {"/usr/bin/",	 "/usr/sbin/",	  "/usr/lib/x86_64-linux-gnu/",
			    "/usr/lib/systemd/", "/usr/libexec/", "/usr/lib/python3/dist-packages/",
			    "/usr/share/perl5/", "/etc/"};
const char *const stems[] = {"libssl",	  "libcrypto", "systemd-journald", "bash",
			     "python3",	  "libc",      "ld-linux",	   "sshd",
			     "coreutils", "libgcc_s"};
const char *const suffixes[] = {"", ".so", ".so.3", ".so.6", ".py", ".conf"};

int fail_with(const Error &e)
{
	std::fprintf(stderr, "make_ima_log: %s\n", e.message().c_str());
	return 1;
}

bool write_text(const char *path, const std::string &text)
{
	std::ofstream out(path, std::ios::binary | std::ios::trunc);
	out << text;
	return static_cast<bool>(out);
}

} // namespace

int main(int argc, char **argv)
{
	if (argc != 5) {
		std::fprintf(stderr, "usage: %s N LOG SHA1_PCRS SHA256_PCRS\n", argv[0]);
		return 2;
	}
	const std::size_t n = std::strtoull(argv[1], nullptr, 10);
	if (n == 0)
		return std::fprintf(stderr, "make_ima_log: N must be at least 1\n"), 2;
	std::ofstream log(argv[2], std::ios::binary | std::ios::trunc);
	if (!log)
		return std::perror(argv[2]), 1;
	auto sha1 = ima::Replayer::create(ima::HashAlgo::sha1);
	auto sha256 = ima::Replayer::create(ima::HashAlgo::sha256);
	if (!sha1 || !sha256)
		return fail_with(!sha1 ? sha1.error() : sha256.error());

	std::uint64_t seed = 0x5eed;
	Bytes out;
	std::uint8_t digest[32];
	std::string path;
	for (std::size_t i = 0; i < n; ++i) {
		Result<ima::TemplateEntry> e;
		if (i == 0) {
			e = ima::make_boot_aggregate(ima::HashAlgo::sha256, Bytes(32, 0));
		} else {
			for (std::size_t k = 0; k < sizeof digest; k += 8) {
				std::uint64_t r = splitmix(seed);
				for (std::size_t b = 0; b < 8; ++b)
					digest[k + b] = static_cast<std::uint8_t>(r >> (8 * b));
			}
			std::uint64_t r = splitmix(seed);
			path = dirs[r % std::size(dirs)];
			path += stems[(r >> 8) % std::size(stems)];
			path += '-';
			path += std::to_string(i);
			path += suffixes[(r >> 16) % std::size(suffixes)];
			e = ima::make_ima_ng(ima::HashAlgo::sha256, digest, path);
		}
		if (!e)
			return fail_with(e.error());
		if (auto r = ima::append_binary_entry(out, *e); !r)
			return fail_with(r.error());
		if (auto r = sha1->extend(*e); !r)
			return fail_with(r.error());
		if (auto r = sha256->extend(*e); !r)
			return fail_with(r.error());
		// Write in ~1 MiB chunks: a million entries is ~130 MB.
		if (out.size() >= (1u << 20) || i + 1 == n) {
			log.write(reinterpret_cast<const char *>(out.data()),
				  static_cast<std::streamsize>(out.size()));
			out.clear();
		}
	}
	if (!log.flush())
		return std::perror(argv[2]), 1;
	if (!write_text(argv[3], ima::format_pcr_file(sha1->values(), ima::HashAlgo::sha1)) ||
	    !write_text(argv[4], ima::format_pcr_file(sha256->values(), ima::HashAlgo::sha256)))
		return std::perror("write PCR file"), 1;
	return 0;
}
