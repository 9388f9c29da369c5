// Shared by the TPM tests: a temporary directory per test, a real swtpm in it (never a
// mock), tpm2-tools run against it, and PCR arithmetic done here with OpenSSL directly so
// that the library's own hashing is not what checks it.
#pragma once

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <vector>
#include <map>
#include <memory>
#include <regex>
#include <string>

#include "common/hex.h"
#include "tpm/swtpm.h"
#include "tpm/tpm.h"

namespace eima::tpm::testing {

// Where name resolves on PATH; empty if nowhere.
inline std::string program_path(const std::string &name)
{
	const char *path = std::getenv("PATH");
	std::string dirs = path ? path : "";
	std::size_t start = 0;
	while (start <= dirs.size()) {
		auto end = dirs.find(':', start);
		if (end == std::string::npos)
			end = dirs.size();
		std::string candidate = dirs.substr(start, end - start) + "/" + name;
		if (::access(candidate.c_str(), X_OK) == 0)
			return candidate;
		start = end + 1;
	}
	return {};
}

inline bool program_on_path(const std::string &name) { return !program_path(name).empty(); }

// Processes (not zombies) whose command line contains every one of the given words.
inline std::vector<pid_t> processes_with(const std::vector<std::string> &words)
{
	std::vector<pid_t> out;
	for (auto &entry : std::filesystem::directory_iterator("/proc")) {
		std::string name = entry.path().filename();
		if (name.find_first_not_of("0123456789") != std::string::npos)
			continue;
		std::ifstream in(entry.path() / "cmdline");
		std::string cmd((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
		if (cmd.empty()) // zombies and kernel threads have none
			continue;
		bool all = true;
		for (auto &w : words)
			all = all && cmd.find(w) != std::string::npos;
		if (all)
			out.push_back(static_cast<pid_t>(std::stol(name)));
	}
	return out;
}

// H(data) with OpenSSL's EVP under its own name for the algorithm ("SHA1", "SHA256").
inline Bytes openssl_digest(const char *name, const Bytes &data)
{
	unsigned char out[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	EXPECT_EQ(EVP_Digest(data.data(), data.size(), out, &len, EVP_get_digestbyname(name),
			     nullptr),
		  1);
	return Bytes(out, out + len);
}

inline const char *openssl_name(ima::HashAlgo a)
{
	return a == ima::HashAlgo::sha1 ? "SHA1" : a == ima::HashAlgo::sha256 ? "SHA256" : "?";
}

// PCR extend as the TPM defines it: new = H(old || digest).
inline Bytes pcr_extend(ima::HashAlgo bank, const Bytes &old, const Bytes &digest)
{
	Bytes data = old;
	data.insert(data.end(), digest.begin(), digest.end());
	return openssl_digest(openssl_name(bank), data);
}

struct CommandResult {
	int status = -1;
	std::string output; // stdout and stderr
};

// Runs a shell command line (bounded by `timeout 30`) and collects its output.
inline CommandResult run(const std::string &command)
{
	CommandResult r;
	FILE *p = ::popen(("timeout 30 " + command + " 2>&1").c_str(), "r");
	if (!p)
		return r;
	char buf[4096];
	std::size_t n;
	while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0)
		r.output.append(buf, n);
	int st = ::pclose(p);
	r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	return r;
}

// PCR values of one bank as tpm2_pcrread prints them ("  10: 0xABCD...").
inline std::map<std::uint32_t, Bytes> tpm2_pcrread(const std::string &tcti,
						     const std::string &selection)
{
	auto r = run("tpm2_pcrread --tcti '" + tcti + "' " + selection);
	EXPECT_EQ(r.status, 0) << r.output;
	std::map<std::uint32_t, Bytes> out;
	std::regex line(R"(^\s*(\d+)\s*:\s*0x([0-9A-Fa-f]+)\s*$)");
	std::size_t start = 0;
	while (start < r.output.size()) {
		auto end = r.output.find('\n', start);
		if (end == std::string::npos)
			end = r.output.size();
		std::smatch m;
		std::string l = r.output.substr(start, end - start);
		if (std::regex_match(l, m, line))
			out[static_cast<std::uint32_t>(std::stoul(m[1]))] = *from_hex(m[2].str());
		start = end + 1;
	}
	return out;
}

// True while a process with this pid exists (a zombie counts: it was not reaped).
inline bool process_exists(pid_t pid) { return pid > 0 && ::kill(pid, 0) == 0; }

class TempDir {
public:
	TempDir()
	{
		char tmpl[] = "/tmp/eima-tpm-XXXXXX";
		path_ = ::mkdtemp(tmpl);
	}
	~TempDir()
	{
		std::error_code ec;
		std::filesystem::remove_all(path_, ec);
	}
	const std::string &path() const { return path_; }

private:
	std::string path_;
};

// Each test gets its own swtpm, started from a copy of one state made (banks allocated) by
// the first test; swtpm resets PCRs to zero on start (startup-clear).
class SwtpmTest : public ::testing::Test {
protected:
	static std::string manufactured_state()
	{
		static TempDir dir;
		static bool made = false;
		if (!made) {
			auto sw = Swtpm::start(dir.path() + "/tpm");
			EXPECT_TRUE(sw) << sw.error().message();
			made = bool(sw);
		}
		return dir.path() + "/tpm/tpm2-00.permall";
	}

	void SetUp() override
	{
		if (!program_on_path("swtpm"))
			GTEST_SKIP() << "swtpm is not installed (apt-get install swtpm swtpm-tools)";
		std::string state = manufactured_state();
		std::filesystem::create_directories(dir_.path() + "/tpm");
		std::filesystem::copy_file(state, dir_.path() + "/tpm/tpm2-00.permall");
		auto sw = Swtpm::start(dir_.path() + "/tpm");
		ASSERT_TRUE(sw) << sw.error().message();
		swtpm_ = std::move(*sw);
	}

	TempDir dir_;
	std::unique_ptr<Swtpm> swtpm_;
};

} // namespace eima::tpm::testing
