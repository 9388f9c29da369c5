// Attestation rounds from one long-lived process, as a verifier on the node (or Keylime's,
// which keeps running) makes them: each round is a fresh nonce, a quote through eimad's
// control socket with the lists it covers (attest::request_evidence, what `eima quote`
// does) and the whole check of that evidence against the pinned AK
// (attest::verify_evidence, what `eima verify` does), with CLIENTS threads at once. What a
// round costs without two process starts (bench/attest_rate.sh measures both).
//   usage: eima-bench-attest RUN AK.pem ROUNDS CLIENTS [CONTAINER]
// Prints "ROUNDS rounds in S s: R/s"; exits 1 at the first round that fails, naming why.
#include <openssl/rand.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "attest/eimad_evidence.h"
#include "attest/quote_verifier.h"
#include "common/file_io.h"

using namespace eima;

namespace {

struct Job {
	std::string run_dir, ak_pem, container;
	int rounds = 0;
	std::atomic<int> next{0};
	std::mutex failure_lock;
	std::string failure;
};

// Rounds until the job's count is taken or one fails; returns false on a failure.
bool attest_rounds(Job &job)
{
	auto failed = [&](const std::string &why) {
		std::lock_guard lock(job.failure_lock);
		if (job.failure.empty())
			job.failure = why;
		return false;
	};
	while (job.next.fetch_add(1) < job.rounds) {
		Bytes nonce(16);
		if (RAND_bytes(nonce.data(), static_cast<int>(nonce.size())) != 1)
			return failed("RAND_bytes");
		auto ev = attest::request_evidence(
			{.run_dir = job.run_dir,
			 .nonce = nonce,
			 .pcrs = job.container.empty() ? std::vector<std::uint32_t>{10, 11}
						       : std::vector<std::uint32_t>{10},
			 .container = job.container});
		if (!ev)
			return failed("quote: " + ev.error().message());
		auto report = attest::verify_evidence(*ev, nonce, job.ak_pem);
		if (!report)
			return failed("verify: " + report.error().message());
		if (!report->ok())
			return failed("verify: check " + report->first_failure() + " failed");
		{
			std::lock_guard lock(job.failure_lock);
			if (!job.failure.empty())
				return false;
		}
	}
	return true;
}

} // namespace

int main(int argc, char **argv)
{
	if (argc != 5 && argc != 6) {
		std::fprintf(stderr,
			     "usage: eima-bench-attest RUN AK.pem ROUNDS CLIENTS [CONTAINER]\n");
		return 2;
	}
	Job job;
	job.run_dir = argv[1];
	auto ak = read_file(argv[2]);
	if (!ak) {
		std::fprintf(stderr, "eima-bench-attest: %s\n", ak.error().message().c_str());
		return 2;
	}
	job.ak_pem = *ak;
	job.rounds = std::atoi(argv[3]);
	int clients = std::atoi(argv[4]);
	if (argc == 6)
		job.container = argv[5];
	if (job.rounds < 1 || clients < 1) {
		std::fprintf(stderr, "eima-bench-attest: ROUNDS and CLIENTS must be at least 1\n");
		return 2;
	}

	auto start = std::chrono::steady_clock::now();
	std::vector<std::thread> threads;
	for (int i = 0; i < clients; ++i)
		threads.emplace_back([&job] { attest_rounds(job); });
	for (auto &t : threads)
		t.join();
	double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
	if (!job.failure.empty()) {
		std::fprintf(stderr, "eima-bench-attest: %s\n", job.failure.c_str());
		return 1;
	}
	std::printf("%d rounds in %.2f s: %.1f/s\n", job.rounds, seconds, job.rounds / seconds);
	return 0;
}
