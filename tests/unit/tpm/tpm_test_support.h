// Shared by the TPM tests: a temporary directory per test, a real swtpm in it (never a
// mock), tpm2-tools run against it, and PCR arithmetic done here with OpenSSL directly so
// that the library's own hashing is not what checks it.
#pragma once

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <regex>
#include <string>

#include "common/hex.h"
#include "tpm/swtpm.h"
#include "tpm/tpm.h"

namespace eima::tpm::testing {

inline bool program_on_path(const std::string &name)
{
	return std::system(("command -v " + name + " >/dev/null 2>&1").c_str()) == 0;
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

// Each test gets its own swtpm. Manufacturing a TPM (swtpm_setup, ~0.6 s) happens once per
// test program; later tests start from a copy of that state, which swtpm resets to zero
// PCRs on start (startup-clear), as Swtpm::start does with a state it finds.
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
