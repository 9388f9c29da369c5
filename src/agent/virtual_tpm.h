// A container's own TPM (the seed's "vTPM per container"): a swtpm that eimad starts when it
// first sees the container, with its state under the container's directory, into whose
// PCRs that container's list entries are extended, so a quote from it covers exactly that
// container's list. Its identity (EK and AK) goes into the host list as a binding entry
// (attest/vtpm_binding.h), which is what lets a verifier that trusts only the host TPM
// trust this one.
//
// Like the host's swtpm, it outlives eimad (docs/restart.md): killed, eimad leaves it
// running with its PCRs; stopped cleanly while the container still runs, it saves its
// state. Only a retired container's vTPM (discard_state) leaves nothing behind. A restarted eimad that finds the container running again reopens it
// with the container's resumed list: the vTPM is adopted or restarted from its saved state,
// and the tail of the list it does not hold is extended before anything new.
//
// Starting swtpm takes tens of milliseconds, so it starts on the vTPM's own thread: the
// constructor returns at once, entries submitted meanwhile are queued, and quotes wait.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "agent/measurement_list.h"
#include "agent/tpm_extender.h"
#include "tpm/swtpm.h"
#include "tpm/tpm.h"

namespace eima::agent {

class VirtualTpm {
public:
	// A new container's vTPM (a state directory with nothing running there starts clear),
	// backed by the container's binary list at list_path as the host TPM is by the host's
	// (tpm_extender.h): at most a few thousand records wait in memory, and an swtpm that
	// dies is restarted and caught up from the list. `name` is for what is logged.
	VirtualTpm(std::string state_dir, std::string list_path, std::string name);
	// A resumed container's: `records` are its list's, in order; the vTPM holds a prefix of
	// them (entries are written before they are extended) and gets the rest first. One that
	// holds no prefix (its state was damaged or replaced) is restarted clear and gets all
	// of them, so its PCRs are the list's replay either way; resume_state() says which.
	VirtualTpm(std::string state_dir, std::string list_path, std::string name,
		   std::vector<ExtendRecord> records);
	// Extends what is queued and stops swtpm, which saves its state for the next eimad;
	// after discard_state() the state goes instead.
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
	// The container has exited and its final quote is taken: the destructor removes the
	// TPM's state (its seeds), which nothing needs any more.
	void discard_state() { discard_ = true; }
	// For a resumed vTPM once it is up: how it came back and how much it was extended.
	std::string resume_state() const;

private:
	Result<std::unique_ptr<tpm::Tpm>> open();
	// After a failed extend, on the extender's thread: swtpm started again if it died.
	Result<std::unique_ptr<tpm::Tpm>> reopen();
	void back_with_list(std::string list_path, std::string name, std::uint64_t held);
	Result<std::unique_ptr<tpm::Tpm>> start_swtpm(bool clear);
	// Brings a resumed vTPM up to its list; may restart it clear.
	Result<std::unique_ptr<tpm::Tpm>> catch_up(std::unique_ptr<tpm::Tpm> t);
	std::string state_dir_;
	bool discard_ = false;
	std::optional<std::vector<ExtendRecord>> resume_; // a resumed container's list
	mutable std::mutex mu_;
	std::unique_ptr<tpm::Swtpm> swtpm_; // written by open(), on the extender's thread
	std::optional<tpm::Identity> identity_;
	std::string resume_state_;
	std::unique_ptr<TpmExtender> extender_; // last: destroyed (joined) before swtpm_
};

} // namespace eima::agent
