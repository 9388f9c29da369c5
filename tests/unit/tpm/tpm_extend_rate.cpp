// Not a test: how many TPM2_PCR_Extend per second eimad can push into a TPM.
//   tpm_extend_rate [COUNT] [TCTI]
// Without TCTI it starts its own swtpm in a temporary directory (and stops it). Prints the
// rate for one bank (sha256) and for two banks in one command (sha1+sha256, what eimad
// sends), and the rate of TPM2_PCR_Read for comparison.
#include <stdlib.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include "tpm/swtpm.h"
#include "tpm/tpm.h"

using namespace eima;
using ima::HashAlgo;

namespace {

template <typename F>
int measure(const char *what, long count, F &&op)
{
	auto start = std::chrono::steady_clock::now();
	for (long i = 0; i < count; ++i) {
		auto r = op(i);
		if (!r) {
			std::fprintf(stderr, "%s #%ld: %s\n", what, i, r.error().message().c_str());
			return 1;
		}
	}
	double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
	std::printf("%-32s %8ld in %6.2f s: %9.0f /s (%.1f us each)\n", what, count, s, count / s,
		    s * 1e6 / count);
	return 0;
}

} // namespace

int main(int argc, char **argv)
{
	long count = argc > 1 ? std::atol(argv[1]) : 20000;
	if (count <= 0)
		count = 20000;
	std::string tcti = argc > 2 ? argv[2] : "";
	std::string dir;
	std::unique_ptr<tpm::Swtpm> sw;
	if (tcti.empty()) {
		char tmpl[] = "/tmp/eima-tpm-rate-XXXXXX";
		if (!::mkdtemp(tmpl)) {
			std::perror("mkdtemp");
			return 1;
		}
		dir = tmpl;
		auto s = tpm::Swtpm::start(dir + "/tpm");
		if (!s) {
			std::fprintf(stderr, "%s\n", s.error().message().c_str());
			std::filesystem::remove_all(dir);
			return 1;
		}
		sw = std::move(*s);
		tcti = sw->tcti();
	}
	int rc = 0;
	{
		auto t = tpm::Tpm::open(tcti);
		if (!t) {
			std::fprintf(stderr, "%s\n", t.error().message().c_str());
			rc = 1;
		} else {
			std::printf("TCTI %s\n", tcti.c_str());
			Bytes d1(20, 0x11), d256(32, 0x22);
			rc |= measure("extend sha256", count, [&](long i) {
				d256[0] = static_cast<std::uint8_t>(i);
				return t->extend(10, {{HashAlgo::sha256, d256}});
			});
			rc |= measure("extend sha1+sha256", count, [&](long i) {
				d1[0] = d256[0] = static_cast<std::uint8_t>(i);
				return t->extend(10, {{HashAlgo::sha1, d1}, {HashAlgo::sha256, d256}});
			});
			rc |= measure("read sha256 PCR 10", count / 4, [&](long) {
				return t->read_pcrs(HashAlgo::sha256, {10});
			});
		}
	}
	sw.reset();
	if (!dir.empty())
		std::filesystem::remove_all(dir);
	return rc;
}
