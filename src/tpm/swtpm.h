// A software TPM that eimad starts and owns (the default when the host has no /dev/tpmrm0,
// and one per container later): `swtpm socket --tpm2` on a Unix socket under a state
// directory the caller gives. tpm2-tss 3.2.1's swtpm TCTI reaches it with
// "swtpm:path=DIR/sock" (it derives the control socket as DIR/sock.ctrl), so no TCP port is
// opened at all.
//
// Lifetime: the destructor stops swtpm (SIGTERM, SIGKILL after 3 s) and reaps it, so no
// swtpm outlives its Swtpm. If eimad itself dies without running destructors, swtpm gets
// SIGTERM from PR_SET_PDEATHSIG. That signal fires when the *thread* that called start()
// exits, so call start() from a thread that lives as long as the Swtpm (eimad's main
// thread). swtpm runs in a process group of its own so that a terminal's Ctrl-C reaches
// only eimad, which then drains its queue into a TPM that is still there.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/error.h"
#include "ima/hash_algo.h"

namespace eima::tpm {

struct SwtpmOptions {
	// PCR banks allocated when the state directory is new (swtpm_setup --pcr-banks). A
	// state directory that already holds a TPM keeps the banks it has: its NV (keys) is
	// reused, and its PCRs start from zero anyway (--flags startup-clear).
	std::vector<ima::HashAlgo> banks = {ima::HashAlgo::sha1, ima::HashAlgo::sha256};
	// Bound on swtpm_setup plus swtpm coming up; past it start() fails and kills them.
	std::chrono::milliseconds start_timeout{15000};
};

class Swtpm {
public:
	// Creates state_dir (mode 0700) if needed, manufactures the TPM state with
	// swtpm_setup when the directory has none, starts swtpm and waits until both its
	// sockets accept connections. Errors name the step and carry the tail of swtpm's
	// stderr and log; ENOENT when swtpm or swtpm_setup is not on PATH.
	static Result<std::unique_ptr<Swtpm>> start(const std::string &state_dir,
						    const SwtpmOptions &options = {});
	~Swtpm(); // stop(): TERM, then KILL after 3 s; always reaped

	Swtpm(const Swtpm &) = delete;
	Swtpm &operator=(const Swtpm &) = delete;

	// Stops swtpm now (idempotent). The TCTI string no longer reaches anything after.
	void stop();

	// tctildr configuration for Tpm::open: "swtpm:path=DIR/sock".
	std::string tcti() const { return "swtpm:path=" + socket_; }
	const std::string &socket_path() const { return socket_; }
	const std::string &state_dir() const { return state_dir_; }
	pid_t pid() const { return pid_; }

private:
	Swtpm() = default;
	pid_t pid_ = -1;
	std::string state_dir_, socket_, ctrl_socket_;
};

} // namespace eima::tpm
