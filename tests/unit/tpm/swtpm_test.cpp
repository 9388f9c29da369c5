// Swtpm: starts a real swtpm, gives a TCTI that reaches it, and never leaves it running.
#include <signal.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "tpm_test_support.h"

namespace eima::tpm::testing {
namespace {

using ima::HashAlgo;

std::string cmdline(pid_t pid)
{
	std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline");
	std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
	for (auto &c : s)
		if (c == '\0')
			c = ' ';
	return s;
}

class ScopedPath {
public:
	explicit ScopedPath(const char *value) : old_(std::getenv("PATH") ?: "")
	{
		::setenv("PATH", value, 1);
	}
	~ScopedPath() { ::setenv("PATH", old_.c_str(), 1); }

private:
	std::string old_;
};

bool skip_without_swtpm()
{
	return !program_on_path("swtpm");
}

TEST(Swtpm, FreshStateIsManufacturedWithTheAskedBanksAndStopsWithoutTrace)
{
	if (skip_without_swtpm())
		GTEST_SKIP() << "swtpm is not installed";
	TempDir dir;
	std::string state = dir.path() + "/run/tpm"; // parents are created too
	pid_t pid = -1;
	{
		auto sw = Swtpm::start(state);
		ASSERT_TRUE(sw) << sw.error().message();
		pid = (*sw)->pid();
		ASSERT_GT(pid, 0);
		EXPECT_TRUE(process_exists(pid));
		std::string cmd = cmdline(pid);
		EXPECT_NE(cmd.find("swtpm socket --tpm2"), std::string::npos) << cmd;
		EXPECT_NE(cmd.find("startup-clear"), std::string::npos) << cmd;
		EXPECT_EQ((*sw)->tcti(), "swtpm:path=" + state + "/sock");
		EXPECT_TRUE(std::filesystem::exists(state + "/tpm2-00.permall"));
		EXPECT_EQ(std::filesystem::status(state).permissions() & std::filesystem::perms::all,
			  std::filesystem::perms::owner_all);

		auto t = Tpm::open((*sw)->tcti());
		ASSERT_TRUE(t) << t.error().message();
		auto banks = t->active_banks();
		ASSERT_TRUE(banks) << banks.error().message();
		EXPECT_EQ(*banks, (std::vector<HashAlgo>{HashAlgo::sha1, HashAlgo::sha256}));
	}
	// Destroyed: terminated and reaped (kill(pid, 0) would succeed on a zombie).
	EXPECT_FALSE(process_exists(pid));
	EXPECT_FALSE(std::filesystem::exists(state + "/sock"));
	EXPECT_FALSE(std::filesystem::exists(state + "/sock.ctrl"));
	EXPECT_TRUE(processes_with({"swtpm", dir.path()}).empty());
}

TEST(Swtpm, OptionsChooseTheBanksOfANewTpm)
{
	if (skip_without_swtpm())
		GTEST_SKIP() << "swtpm is not installed";
	TempDir dir;
	SwtpmOptions options;
	options.banks = {HashAlgo::sha256, HashAlgo::sha384};
	auto sw = Swtpm::start(dir.path() + "/tpm", options);
	ASSERT_TRUE(sw) << sw.error().message();
	auto t = Tpm::open((*sw)->tcti());
	ASSERT_TRUE(t) << t.error().message();
	auto banks = t->active_banks();
	ASSERT_TRUE(banks) << banks.error().message();
	EXPECT_EQ(*banks, (std::vector<HashAlgo>{HashAlgo::sha256, HashAlgo::sha384}));
	auto sha1 = t->read_pcrs(HashAlgo::sha1, {10});
	ASSERT_FALSE(sha1);
	EXPECT_EQ(sha1.error().err, ENOENT) << sha1.error().message();
}

TEST(Swtpm, StopIsIdempotentAndTheTctiThenFails)
{
	if (skip_without_swtpm())
		GTEST_SKIP() << "swtpm is not installed";
	TempDir dir;
	auto sw = Swtpm::start(dir.path() + "/tpm");
	ASSERT_TRUE(sw) << sw.error().message();
	pid_t pid = (*sw)->pid();
	std::string tcti = (*sw)->tcti();
	(*sw)->stop();
	EXPECT_FALSE(process_exists(pid));
	EXPECT_EQ((*sw)->pid(), -1);
	(*sw)->stop();
	auto t = Tpm::open(tcti);
	if (t) { // the swtpm TCTI may connect lazily: then the first command fails
		auto r = t->read_pcrs(HashAlgo::sha256, {0});
		EXPECT_FALSE(r);
	}
}

// eimad blocks SIGTERM for its signalfd; swtpm must not inherit that, or SIGTERM (from
// stop() or the parent-death signal) would not end it.
TEST(Swtpm, StarterBlockingSigtermDoesNotBlockItInSwtpm)
{
	if (skip_without_swtpm())
		GTEST_SKIP() << "swtpm is not installed";
	sigset_t term, old;
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &term, &old);
	TempDir dir;
	auto sw = Swtpm::start(dir.path() + "/tpm");
	pthread_sigmask(SIG_SETMASK, &old, nullptr);
	ASSERT_TRUE(sw) << sw.error().message();
	std::ifstream status("/proc/" + std::to_string((*sw)->pid()) + "/status");
	std::string line, blocked;
	while (std::getline(status, line))
		if (line.starts_with("SigBlk:"))
			blocked = line.substr(line.find_first_not_of(" \t", 7));
	EXPECT_EQ(blocked, "0000000000000000");
	auto t0 = std::chrono::steady_clock::now();
	(*sw)->stop();
	// SIGTERM ends it at once; the SIGKILL fallback would take 3 s.
	EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
}

TEST(Swtpm, RestartOnTheSameStateKeepsBanksAndStartsFromZeroPcrs)
{
	if (skip_without_swtpm())
		GTEST_SKIP() << "swtpm is not installed";
	TempDir dir;
	std::string state = dir.path() + "/tpm";
	Bytes digest(32, 0xab);
	{
		auto sw = Swtpm::start(state);
		ASSERT_TRUE(sw) << sw.error().message();
		auto t = Tpm::open((*sw)->tcti());
		ASSERT_TRUE(t) << t.error().message();
		ASSERT_TRUE(t->extend(10, {{HashAlgo::sha256, digest}}));
		auto v = t->read_pcrs(HashAlgo::sha256, {10});
		ASSERT_TRUE(v);
		EXPECT_EQ((*v)[10], pcr_extend(HashAlgo::sha256, Bytes(32, 0), digest));
	}
	auto sw = Swtpm::start(state);
	ASSERT_TRUE(sw) << sw.error().message();
	auto t = Tpm::open((*sw)->tcti());
	ASSERT_TRUE(t) << t.error().message();
	auto v = t->read_pcrs(HashAlgo::sha256, {10});
	ASSERT_TRUE(v) << v.error().message();
	EXPECT_EQ((*v)[10], Bytes(32, 0));
	auto banks = t->active_banks();
	ASSERT_TRUE(banks);
	EXPECT_EQ(*banks, (std::vector<HashAlgo>{HashAlgo::sha1, HashAlgo::sha256}));
	t = std::unexpected(Error{});
	sw->reset();

	// Asked for other banks, the same state is reallocated.
	SwtpmOptions only256;
	only256.banks = {HashAlgo::sha256};
	sw = Swtpm::start(state, only256);
	ASSERT_TRUE(sw) << sw.error().message();
	t = Tpm::open((*sw)->tcti());
	ASSERT_TRUE(t) << t.error().message();
	banks = t->active_banks();
	ASSERT_TRUE(banks);
	EXPECT_EQ(*banks, (std::vector<HashAlgo>{HashAlgo::sha256}));
}

TEST(Swtpm, UnimplementedBankIsAnError)
{
	if (skip_without_swtpm())
		GTEST_SKIP() << "swtpm is not installed";
	TempDir dir;
	SwtpmOptions options;
	options.banks = {HashAlgo::sha256, HashAlgo::sm3_256};
	auto sw = Swtpm::start(dir.path() + "/tpm", options);
	ASSERT_FALSE(sw);
	EXPECT_EQ(sw.error().err, ENOTSUP) << sw.error().message();
	EXPECT_NE(sw.error().message().find("sm3_256"), std::string::npos);
	EXPECT_TRUE(processes_with({"swtpm", dir.path()}).empty());
}

TEST(Swtpm, MissingBinaryIsAClearError)
{
	TempDir dir;
	ScopedPath path(dir.path().c_str()); // an empty directory: no swtpm, no swtpm_setup
	auto sw = Swtpm::start(dir.path() + "/tpm");
	ASSERT_FALSE(sw);
	EXPECT_EQ(sw.error().err, ENOENT);
	EXPECT_NE(sw.error().message().find("swtpm is not on PATH"), std::string::npos)
		<< sw.error().message();
}

TEST(Swtpm, SwtpmThatExitsAtOnceReportsItsStderr)
{
	TempDir dir;
	// A stand-in "swtpm" that fails the way a real one does on a bad state: exits non-zero
	// after printing to stderr.
	std::string bin = dir.path() + "/bin";
	std::filesystem::create_directories(bin);
	{
		std::ofstream script(bin + "/swtpm");
		script << "#!/bin/sh\necho 'swtpm: cannot open state: corrupt' >&2\nexit 3\n";
	}
	std::filesystem::permissions(bin + "/swtpm", std::filesystem::perms::owner_all);
	std::filesystem::create_directories(dir.path() + "/tpm");
	std::ofstream(dir.path() + "/tpm/tpm2-00.permall") << "x";
	ScopedPath path((bin + ":/usr/bin:/bin").c_str());
	auto sw = Swtpm::start(dir.path() + "/tpm");
	ASSERT_FALSE(sw);
	std::string m = sw.error().message();
	EXPECT_NE(m.find("exited with 3"), std::string::npos) << m;
	EXPECT_NE(m.find("cannot open state: corrupt"), std::string::npos) << m;
}

TEST(Swtpm, StateDirThatCannotBeCreatedFails)
{
	auto sw = Swtpm::start("/dev/null/tpm");
	ASSERT_FALSE(sw);
	EXPECT_NE(sw.error().message().find("/dev/null/tpm"), std::string::npos)
		<< sw.error().message();
}

TEST(Swtpm, SocketPathTooLongFails)
{
	TempDir dir;
	auto sw = Swtpm::start(dir.path() + "/" + std::string(120, 'd'));
	ASSERT_FALSE(sw);
	EXPECT_EQ(sw.error().err, ENAMETOOLONG) << sw.error().message();
}

} // namespace
} // namespace eima::tpm::testing

namespace eima::tpm::testing {
namespace {

// The host's swtpm keeps its PCRs like a device TPM: across a clean stop and start (state
// saved), across its owner dying (adopted while it runs), and loses them only with fresh.
TEST(Swtpm, PersistentKeepsItsPcrsAcrossOwners)
{
	if (!program_on_path("swtpm"))
		GTEST_SKIP() << "swtpm is not installed";
	TempDir dir;
	std::string state = dir.path() + "/tpm";
	SwtpmOptions opts;
	opts.persistent = true;
	Bytes one(32, 0x01);
	auto pcr10 = [](Swtpm &sw) {
		auto t = Tpm::open(sw.tcti());
		EXPECT_TRUE(t) << t.error().message();
		auto v = t->read_pcrs(HashAlgo::sha256, {10});
		EXPECT_TRUE(v) << v.error().message();
		return v ? v->at(10) : Bytes{};
	};
	Bytes extended;
	{
		auto sw = Swtpm::start(state, opts);
		ASSERT_TRUE(sw) << sw.error().message();
		EXPECT_FALSE((*sw)->adopted());
		auto t = Tpm::open((*sw)->tcti());
		ASSERT_TRUE(t);
		ASSERT_TRUE(t->extend(10, {{HashAlgo::sha256, one}}));
		extended = pcr10(**sw);
		EXPECT_NE(extended, Bytes(32, 0));
	} // a clean stop: state saved, swtpm gone
	pid_t running = -1;
	{
		auto sw = Swtpm::start(state, opts);
		ASSERT_TRUE(sw) << sw.error().message();
		EXPECT_EQ(pcr10(**sw), extended) << "the saved state came back";
		running = (*sw)->pid();
		// Its owner dies without stopping it (kill -9 of eimad): it keeps running.
		// No destructor runs. The object stays reachable from a plain static pointer (no
		// destructor of its own, unlike a container, which exit would free before
		// LeakSanitizer looks), so it does not report what the test abandons on purpose.
		[[maybe_unused]] static Swtpm *volatile abandoned = nullptr; // volatile: kept
		abandoned = (*sw).release();
	}
	ASSERT_TRUE(process_exists(running));
	{
		auto sw = Swtpm::start(state, opts);
		ASSERT_TRUE(sw) << sw.error().message();
		EXPECT_TRUE((*sw)->adopted());
		EXPECT_EQ((*sw)->pid(), running);
		EXPECT_EQ(pcr10(**sw), extended) << "the running swtpm was adopted";
	}
	EXPECT_FALSE(process_exists(running)); // the adopter stopped it
	{
		opts.fresh = true;
		auto sw = Swtpm::start(state, opts);
		ASSERT_TRUE(sw) << sw.error().message();
		EXPECT_EQ(pcr10(**sw), Bytes(32, 0)) << "fresh starts clear";
	}
}

} // namespace
} // namespace eima::tpm::testing
