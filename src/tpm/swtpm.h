// A software TPM that eimad starts and owns (the default when the host has no /dev/tpmrm0,
// and one per container later): `swtpm socket --tpm2` on a Unix socket under a state
// directory the caller gives. tpm2-tss 3.2.1's swtpm TCTI reaches it with
// "swtpm:path=DIR/sock" (it derives the control socket as DIR/sock.ctrl), so no TCP port is
// opened at all.
//
// Lifetime: the destructor stops swtpm (SIGTERM, SIGKILL after 3 s) and reaps it, so no
// swtpm outlives its Swtpm (a persistent one saves its state first, see SwtpmOptions). If eimad itself dies without running destructors, swtpm gets
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
	// The PCR banks the TPM has, all 24 PCRs each (swtpm implements sha1, sha256, sha384,
	// sha512). A state directory that already holds a TPM keeps its NV (so the same
	// attestation key), is reallocated if its banks differ, and starts from zero PCRs
	// anyway (--flags startup-clear).
	std::vector<ima::HashAlgo> banks = {ima::HashAlgo::sha1, ima::HashAlgo::sha256};
	// Bound on swtpm coming up (twice when banks change); past it start() fails.
	std::chrono::milliseconds start_timeout{10000};
	// The host's TPM: its PCRs outlive its owner, as a device TPM's outlive a restarted
	// eimad. swtpm runs in a session of its own with no parent-death signal (so a killed
	// eimad leaves it running), its pid in STATE_DIR/swtpm.pid; start() adopts a swtpm
	// still running there; stop() saves its state (TPM2_Shutdown(STATE)) so the next
	// start resumes with the same PCRs.
	bool persistent = false;
	// With persistent: stop whatever runs there and start with zeroed PCRs.
	bool fresh = false;
};

class Swtpm {
public:
	// Creates state_dir (mode 0700) if needed, starts swtpm, waits until both its sockets
	// accept connections, and allocates the asked PCR banks (restarting swtpm once if that
	// changed them). Errors name the step and carry the tail of swtpm's stderr and log;
	// ENOENT when swtpm is not on PATH.
	static Result<std::unique_ptr<Swtpm>> start(const std::string &state_dir,
						    const SwtpmOptions &options = {});
	~Swtpm(); // stop(): TERM, then KILL after 3 s; always reaped

	Swtpm(const Swtpm &) = delete;
	Swtpm &operator=(const Swtpm &) = delete;

	// Stops swtpm now (idempotent). The TCTI string no longer reaches anything after.
	void stop();
	// If swtpm died (killed, crashed), starts it again on the same state: its PCRs are
	// what it last saved, or zero (a killed swtpm saved nothing). A stopped (SIGSTOP) or
	// slow one is left alone. For the extender's recovery (docs/failure-modes.md).
	Result<void> restart_if_dead();

	// tctildr configuration for Tpm::open: "swtpm:path=DIR/sock".
	std::string tcti() const { return "swtpm:path=" + socket_; }
	const std::string &socket_path() const { return socket_; }
	const std::string &state_dir() const { return state_dir_; }
	pid_t pid() const { return pid_; }
	// It was running already (SwtpmOptions::persistent): its PCRs are the earlier owner's.
	bool adopted() const { return adopted_; }

private:
	Swtpm() = default;
	Result<void> launch(std::chrono::steady_clock::time_point deadline, bool clear = false);
	pid_t pid_ = -1;
	bool persistent_ = false;
	bool adopted_ = false; // started by an earlier owner
	std::string program_, state_dir_, socket_, ctrl_socket_;
};

// Stops a persistent swtpm an earlier owner left running on state_dir (its pid file names a
// live swtpm on that directory), without saving its state: for a TPM whose lists are
// discarded (a container's vTPM on --fresh). Nothing runs there: nothing to do.
void stop_left_running(const std::string &state_dir);

} // namespace eima::tpm
