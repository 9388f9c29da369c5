// A container's own TPM (the seed's "vTPM per container"): a swtpm that eimad starts when it
// first sees the container, with its state under the container's directory, into whose
// PCRs that container's list entries are extended, so a quote from it covers exactly that
// container's list. Its identity (EK and AK) goes into the host list as a binding entry
// (attest/vtpm_binding.h), which is what lets a verifier that trusts only the host TPM
// trust this one.
//
// Starting swtpm takes tens of milliseconds, so it starts on the vTPM's own thread: the
// constructor returns at once, entries submitted meanwhile are queued, and quotes wait.
#pragma once

#include <sys/types.h>

#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "agent/tpm_extender.h"
#include "tpm/swtpm.h"
#include "tpm/tpm.h"

namespace eima::agent {

class VirtualTpm {
public:
	explicit VirtualTpm(std::string state_dir);
	// Extends what is queued, stops swtpm and removes its state (the TPM's seeds: nothing
	// needs them once the final quote is taken).
	~VirtualTpm();

	VirtualTpm(const VirtualTpm &) = delete;
	VirtualTpm &operator=(const VirtualTpm &) = delete;

	TpmExtender &extender() { return *extender_; }
	TpmExtender::State state() const { return extender_->state(); }
	// Set once the vTPM is running.
	std::optional<tpm::Identity> identity() const;
	// Why it failed to start; empty otherwise.
	std::string error() const;
	const std::string &state_dir() const { return state_dir_; }
	pid_t pid() const;

private:
	Result<std::unique_ptr<tpm::Tpm>> open();
	std::string state_dir_;
	mutable std::mutex mu_;
	std::unique_ptr<tpm::Swtpm> swtpm_; // written once by open(), on the extender's thread
	std::optional<tpm::Identity> identity_;
	std::unique_ptr<TpmExtender> extender_; // last: destroyed (joined) before swtpm_
};

} // namespace eima::agent
