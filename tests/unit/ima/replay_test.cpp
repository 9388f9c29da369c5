#include "ima/replay.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <sys/wait.h>

#include "ima/binary_log.h"
#include "test_files.h"

namespace eima::ima {
namespace {

TEST(Replay, ExtendsFromZerosPerPcr)
{
	auto a = *make_ima_ng(HashAlgo::sha256, Bytes(32, 1), "/a");
	auto b = *make_ima_ng(HashAlgo::sha256, Bytes(32, 2), "/b", 11);
	auto v = *make_violation("ima-ng", HashAlgo::sha256, "/log");
	std::vector<TemplateEntry> entries{a, b, v};
	for (HashAlgo bank : all_hash_algos) {
		auto pcrs = replay(entries, bank);
		ASSERT_TRUE(pcrs) << pcrs.error().message();
		ASSERT_EQ(pcrs->size(), 2u);
		const std::size_t n = digest_size(bank);
		// PCR10 = H(H(0 || th(a)) || ff..ff); PCR11 = H(0 || th(b)).
		Bytes step = Bytes(n, 0);
		auto th_a = *template_hash(a, bank);
		step.insert(step.end(), th_a.begin(), th_a.end());
		Bytes pcr10 = *digest(bank, step);
		pcr10.insert(pcr10.end(), n, 0xff);
		EXPECT_EQ(pcrs->at(10), *digest(bank, pcr10)) << hash_algo_name(bank);
		Bytes s11(n, 0);
		auto th_b = *template_hash(b, bank);
		s11.insert(s11.end(), th_b.begin(), th_b.end());
		EXPECT_EQ(pcrs->at(11), *digest(bank, s11)) << hash_algo_name(bank);
	}
	EXPECT_TRUE(replay({}, HashAlgo::sha1)->empty());
}

TEST(Replay, PcrFileRoundTrip)
{
	PcrValues values{{10, Bytes(32, 0xab)}, {0, Bytes(32, 1)}};
	std::string text = format_pcr_file(values, HashAlgo::sha256);
	EXPECT_EQ(text.substr(0, 8), "PCR-00: ");
	EXPECT_NE(text.find("PCR-10: " + to_hex(Bytes(32, 0xab)) + "\n"), std::string::npos);
	EXPECT_NE(text.find("PCR-23: " + std::string(64, '0') + "\n"), std::string::npos);
	auto back = parse_pcr_file(text, HashAlgo::sha256);
	ASSERT_TRUE(back) << back.error().message();
	EXPECT_EQ(back->size(), 24u);
	EXPECT_EQ(back->at(10), Bytes(32, 0xab));

	// TPM 1.2 sysfs style: bytes separated by spaces, upper case.
	auto sysfs = parse_pcr_file("PCR-00: 0A 0B 0C 0D 0E 0F 10 11 12 13 14 15 16 17 18 19 1A 1B 1C 1D\n",
				    HashAlgo::sha1);
	ASSERT_TRUE(sysfs) << sysfs.error().message();
	EXPECT_EQ(sysfs->at(0)[0], 0x0a);

	auto err = [](std::string_view t) {
		auto r = parse_pcr_file(t, HashAlgo::sha1);
		return r ? std::string("(parsed)") : r.error().message();
	};
	EXPECT_NE(err("PCR-00: " + std::string(40, '0') + "\nPCR-01: 00\n").find("line 2: expected 20 bytes"),
		  std::string::npos);
	EXPECT_NE(err("PCR-99: " + std::string(40, '0')).find("line 1: bad PCR index"), std::string::npos);
	EXPECT_NE(err("pcr0 = 00").find("line 1: expected 'PCR-NN: HEX'"), std::string::npos);
	EXPECT_NE(err("PCR-01: " + std::string(40, '0') + "\nPCR-01: " + std::string(40, '0'))
		      .find("listed twice"),
		  std::string::npos);
}

int run(const std::string &cmd)
{
	int status = std::system((cmd + " >/dev/null 2>&1").c_str());
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// evmctl (ima-evm-utils) is the reference reader of binary lists: a list eima writes, with
// PCR values eima replays, must validate, and any flipped byte must not.
TEST(Replay, EvmctlAcceptsOurListAndPcrs)
{
	if (run("command -v evmctl") != 0)
		GTEST_SKIP() << "evmctl (ima-evm-utils) is not installed";
	test::TempDir dir;
	ASSERT_FALSE(dir.path().empty());

	UnverifiedLog log;
	log.entries.push_back(*make_boot_aggregate(HashAlgo::sha256, Bytes(32, 0)));
	for (const char *p : {"/bin/true", "/bin/sh", "/usr/bin/env"}) {
		auto d = hash_path(HashAlgo::sha256, p);
		ASSERT_TRUE(d) << d.error().message();
		log.entries.push_back(*make_ima_ng(HashAlgo::sha256, *d, p));
	}
	log.entries.push_back(*make_violation("ima-ng", HashAlgo::sha256, "/var/log/open-writer"));
	log.entries.push_back(*make_ima_sig(HashAlgo::sha256, Bytes(32, 0x5a), "/usr/bin/signed",
					    Bytes{0x03, 0x02, 0x04, 0x01, 0x02, 0x03, 0x04, 0x00, 0x00}));
	log.entries.push_back(*make_ima_buf(HashAlgo::sha256, Bytes(32, 0x77), "kexec-cmdline",
					    Bytes{'q', 'u', 'i', 'e', 't'}));
	auto bin = write_binary_log(log);
	ASSERT_TRUE(bin);
	const std::string log_path = dir.file("binary_runtime_measurements");
	test::write_text(log_path, test::as_string(*bin));

	const std::string p1 = dir.file("pcrs-sha1"), p256 = dir.file("pcrs-sha256");
	test::write_text(p1, format_pcr_file(*replay(log.entries, HashAlgo::sha1), HashAlgo::sha1));
	test::write_text(p256,
			 format_pcr_file(*replay(log.entries, HashAlgo::sha256), HashAlgo::sha256));
	// evmctl 1.4 replays a violation (zero header digest) as the kernel extends it, 0xFF..,
	// only with --ignore-violations; without it, it extends zeros so that a list with a
	// violation fails (src/evmctl.c extend_tpm_banks). Both confirm our 0xFF replay.
	const std::string cmd =
	    "evmctl ima_measurement --ignore-violations --pcrs sha1," + p1 + " --pcrs sha256," + p256;
	EXPECT_EQ(run(cmd + " " + log_path), 0) << "evmctl rejected our list: " << cmd;
	EXPECT_NE(run("evmctl ima_measurement --pcrs sha1," + p1 + " --pcrs sha256," + p256 + " " +
		      log_path),
		  0)
	    << "evmctl accepted a violation without --ignore-violations";

	// A flipped byte in the last entry's data: evmctl fails.
	Bytes flipped = *bin;
	flipped[flipped.size() - 3] ^= 0x01;
	test::write_text(dir.file("flipped"), test::as_string(flipped));
	EXPECT_NE(run(cmd + " " + dir.file("flipped")), 0);

	// A flipped byte in the sha256 PCR value: evmctl fails.
	std::string pcrs = format_pcr_file(*replay(log.entries, HashAlgo::sha256), HashAlgo::sha256);
	std::size_t at = pcrs.find("PCR-10: ") + 8;
	pcrs[at] = pcrs[at] == '0' ? '1' : '0';
	test::write_text(dir.file("pcrs-bad"), pcrs);
	EXPECT_NE(run("evmctl ima_measurement --ignore-violations --pcrs sha1," + p1 +
		      " --pcrs sha256," + dir.file("pcrs-bad") + " " + log_path),
		  0);
}

} // namespace
} // namespace eima::ima
