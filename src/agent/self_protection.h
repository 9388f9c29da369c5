// Self-protection (eimad --protect, lsm mode; docs/self-protection.md): eimad loads
// bpf/self_protect.bpf.c, pins it beside the measurement set, and tells it which BPF
// objects, pin directories, keys and process are eima's. From then on no other process,
// root included, may detach or update them, unpin them, remove or change the keyring, or
// signal or ptrace eimad; PID 1 may, and so may a restarted eimad once the owner is gone.
// Lifting it (a clean stop: SIGTERM from PID 1, or `eima stop`) is eimad's own act.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/measurement_probe.h"
#include "bpfsign/bpf_policy.h"
#include "bpfsign/signed_file.h"
#include "common/error.h"
#include "enforce/trusted_keyring.h"

namespace eima::agent {

// Where the protection programs come from. Given how eimad loads signed objects (eimad
// --bpf-cert), from the signed object the build made (self_protect.signed.bpf.o in
// objects_dir), loaded on this kernel's signing path (docs/signed-bpf.md): native, checked
// by the kernel against eimad's keyring, shared with its other signed loads;
// trusted-loader, checked by eimad against the certificate. Without, from the skeleton
// eimad carries, unsigned, and said so.
struct ProtectObject {
	std::string objects_dir;
	std::optional<bpfsign::SigningContext> signing;
};

struct ProtectRequest {
	std::string pin_dir;		   // the measurement set's pins: all of it is protected
	std::vector<std::int32_t> key_serials; // eimad's keyring and the keys in it
	std::uint64_t test_kill_cgroup = 0;	   // tests only (EIMA_TEST_BYPASS): see bpf/abi
	// Other pin directories of eimad's (the BPF policy's, signed_bpf_policy.h): all of each.
	std::vector<std::string> extra_pin_dirs;
	ProtectObject object;
	// Where its refusals go as audit records (mechanism "self_protection", operation the
	// kind: docs/self-protection.md), as eimad's loop reads them (events_fd(), drain()),
	// those a crashed eimad's set still holds first; on destruction what is queued. Unset:
	// they stay in the ring.
	bpfsign::PolicyRecordSink sink;
};

class SelfProtection {
public:
	// Loads and attaches the hooks, pins them under PIN_DIR/protect_<pid>, fills their maps
	// and turns them on; then removes the protect_* sets an earlier (crashed) eimad left,
	// so protection never lapses across a restart.
	static Result<std::unique_ptr<SelfProtection>> start(const ProtectRequest &req);
	// Lifts protection: off first, then the hooks detach and their pins go.
	~SelfProtection();
	SelfProtection(const SelfProtection &) = delete;
	SelfProtection &operator=(const SelfProtection &) = delete;

	// Its programs, for the host list (self_measurement.h): each as a new fd, the object
	// they come from (self_protect.bpf.o, the skeleton's; self_protect.signed.bpf.o) and
	// that object's SHA-256, and who signed them ("" when they were loaded unsigned).
	Result<std::vector<ProbeProgram>> program_fds() const;
	const std::string &object_name() const;
	static constexpr const char *unsigned_object = "self_protect.bpf.o";
	static constexpr const char *signed_object = "self_protect.signed.bpf.o";
	std::array<std::uint8_t, 32> object_sha256() const;
	const std::string &signer() const;

	// Its refusals' ring, for eimad's loop (-1 without a sink); drain() writes what is
	// queued to the request's sink.
	int events_fd() const;
	Result<std::uint64_t> drain();

	// For `eima status`: what is protected, and the refusals counted so far.
	nlohmann::json status() const;

	struct Impl;

private:
	explicit SelfProtection(std::unique_ptr<Impl> impl);
	std::unique_ptr<Impl> impl_;
};

// What `eima stop --force-cleanup` removed, or why it removed nothing.
struct CleanupReport {
	std::vector<std::string> removed_pins; // directories emptied and removed
	std::vector<std::int32_t> unlinked_keyrings;
	std::vector<std::string> problems; // what could not be removed, and why
};

// Removes every eima pin directory under `pin_parent` (and `extra_dirs`), protection sets
// included, and unlinks every "eima:*" keyring from the user keyring. Refuses, removing
// nothing, while an eimad holds any of those directories (it is running: `eima stop`).
// Must run as eimad's executable when a crashed eimad left protection on.
Result<CleanupReport> force_cleanup(const std::string &pin_parent,
				    const std::vector<std::string> &extra_dirs);

} // namespace eima::agent
