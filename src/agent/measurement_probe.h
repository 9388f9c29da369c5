// The kernel half of eimad: loads one of the two BPF measurement programs (BPF LSM hooks,
// or tracepoints where BPF LSM is absent), fills its policy map and exposes the maps the
// agent reads.
//
// Pinning (docs/restart.md): a probe may pin its links and maps under a directory on bpffs
// (pin()), so that when eimad is killed the programs stay attached and events queue in the
// ring buffer; the next eimad adopts that set (adopt()) when it is the one it would load,
// and reads the queued events first. Destroying a probe (a clean stop) detaches everything
// and removes the pins: a stopped service must not keep filling a ring nobody reads.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bpf/abi/event.h"
#include "bpf/abi/policy.h"
#include "bpfsign/signed_file.h"
#include "common/error.h"
#include "common/unique_fd.h"

struct bpf_object; // libbpf's

namespace eima::agent {

enum class ProbeMode { lsm, trace };
std::string_view probe_mode_name(ProbeMode mode);

struct ProbeOptions {
	std::uint64_t host_mntns = 0;
	std::uint32_t agent_tgid = 0; // eimad: its own opens are not FILE_CHECKed
	bool want_file_check = false; // lsm only: attach file_open work (FILE_CHECK rules)
	// Ring buffer size in bytes (a power of two, at least a page); 0 keeps the 4 MiB of
	// the BPF object. Small rings make overflow testable.
	std::uint32_t ring_bytes = 0;
	// lsm only: the sleepable hooks that hash each new file in the kernel
	// (bpf_ima_file_hash); false loads the hooks that only report it.
	bool kernel_digest = false;
	// lsm only, with kernel_digest: the hooks that refuse changes to blessed files
	// (bpf/lib/tamper.h), for a policy with appraise rules. They do nothing while
	// appraise_cfg says off.
	bool protect_blessed = false;
	// With protect_blessed: the unlink, link, rename and xattr hooks can read the blessing
	// themselves (KernelSupport::change_hooks_read_xattr; bpf/lib/tamper.h).
	bool dentry_xattr = false;
	// Load the measuring programs (measure_lsm or measure_trace, as the mode) from this
	// signed object (`*.signed.bpf.o`, docs/signed-bpf.md) rather than from the skeleton
	// eimad carries, on eimad's signing path: checked by the kernel against eimad's
	// keyring (6.18+) or by eimad against the signer's certificate (6.12-6.17). Its ring
	// size is the signed one.
	std::string signed_object;
	std::optional<bpfsign::SigningContext> signing;
};

// Why BPF LSM cannot be used here, or an empty string when it can be tried: "bpf" must be
// in /sys/kernel/security/lsm (lsm= on the kernel command line).
std::string bpf_lsm_unavailable_reason();

// What a pinned set is, and how far its owner got: the one value of the pinned "info" map
// (an array map eimad creates; the BPF programs never read it). Written by eimad only, so
// this layout is not kernel ABI; `layout` changes whenever it does.
struct PinnedSetInfo {
	static constexpr std::uint32_t current_layout = 1;
	std::uint32_t layout = 0;
	std::uint32_t mode = 0;			      // ProbeMode
	std::array<std::uint8_t, 32> object_sha256{}; // of the BPF object's ELF bytes
	std::uint64_t host_mntns = 0;		      // eima_probe_config.host_mntns
	std::uint32_t ring_bytes = 0;		      // the events ring's size
	std::uint8_t kernel_digest = 0;		      // lsm: the sleepable hooks that hash
	std::uint8_t want_file_check = 0;	      // lsm: file_open hooked
	std::uint8_t pad[2] = {};
	// Kept up to date by the eimad that owns the set:
	std::uint32_t owner_pid = 0;
	// 1 while events or drop counts taken from the kernel are not yet written to the list:
	// a kill then lost them, and the next eimad records an interruption instead.
	std::uint32_t uncommitted = 0;
	std::uint64_t unattributed_recorded = 0; // EIMA_CNT_DROPPED_UNATTRIBUTED already logged
};
static_assert(sizeof(PinnedSetInfo) == 72);

// Why a pinned set cannot be adopted by an eimad that wants `wanted` with these programs
// attached, or "" when it can. `found_links`: the programs of the links pinned with it.
std::string pinned_set_mismatch(const PinnedSetInfo &found, std::vector<std::string> found_links,
				const PinnedSetInfo &wanted,
				std::vector<std::string> wanted_programs);

// A pin directory on bpffs, held with an exclusive flock for as long as this lives, so that
// two eimads never share one ring buffer. Created (and bpffs mounted on /sys/fs/bpf) when
// missing.
class ProbePins {
public:
	static Result<ProbePins> open(const std::string &dir);
	const std::string &dir() const { return dir_; }
	std::string path(const std::string &name) const { return dir_ + "/" + name; }
	// The pinned set's description, when a complete set is pinned here.
	std::optional<PinnedSetInfo> info() const;
	// Makes `tgid` the process whose opens the pinned programs do not FILE_CHECK (the
	// "agent" map), if a set is pinned here. Called as soon as the directory is locked,
	// before eimad reads its run directory: whether the set is then adopted or detached,
	// this eimad is the only one that can own it, and its own opens are never measured.
	void claim_agent(std::uint32_t tgid) const;
	// Every pin removed (links unpinned detach once no fd holds them); the directory stays.
	void clear() const;
	// clear(), then the directory itself.
	void remove() const;

private:
	std::string dir_;
	UniqueFd lock_;
};

// Makes `tgid` the only process in the "agent" map (its start time is taken by the
// programs at its first open): the new entry first, then the others, so that no open of
// the new process is measured in between.
Result<void> set_agent_tgid(int agent_fd, std::uint32_t tgid);

// How an adoption went, for `eima status`.
struct Adoption {
	bool adopted = false;
	std::string detail;		// why not; or what was found
	std::uint32_t from_pid = 0;	// the eimad that pinned the set
	std::uint64_t queued_bytes = 0; // in the ring when it was adopted
	bool uncommitted = false;	// that eimad died holding events not yet in its list
	bool policy_changed = false;	// the measured cache was emptied
};

// One program of a set, for the host list's record of the code that measures
// (self_measurement.h): its name in the BPF object and a new fd of it.
struct ProbeProgram {
	std::string name;
	UniqueFd fd;
};

// Every loaded program of a libbpf object (autoloaded, with an fd), each as a new fd.
Result<std::vector<ProbeProgram>> loaded_program_fds(bpf_object *obj);
// SHA-256 of a skeleton's embedded ELF bytes: the object file it was generated from.
std::array<std::uint8_t, 32> elf_sha256(const void *elf, std::size_t size);

class MeasurementProbe {
public:
	static Result<std::unique_ptr<MeasurementProbe>> load(ProbeMode mode, const ProbeOptions &opts,
							      const eima_policy &policy);
	// The set a killed eimad left pinned in `pins`, when it is what load(mode, opts, policy)
	// would make now (pinned_set_mismatch); its policy map is rewritten. Otherwise the old
	// set is detached and unpinned, and the result is null with how.detail saying why.
	static Result<std::unique_ptr<MeasurementProbe>> adopt(ProbePins &pins, ProbeMode mode,
							       const ProbeOptions &opts,
							       const eima_policy &policy,
							       Adoption &how);
	virtual ~MeasurementProbe();

	// Pins this probe's links and maps in `pins` (emptied first) and owns them from now on.
	Result<void> pin(ProbePins pins);
	// Where the set is pinned, or "" when it is not.
	std::string pin_dir() const { return pins_ ? pins_->dir() : std::string(); }
	// With a pinned set: records in it that events are being taken from the kernel and not
	// yet written (true), or that all taken so far are written (false).
	void note_uncommitted(bool uncommitted, std::uint64_t unattributed_recorded);
	// Unattributed drops the set's earlier owners logged already (0 for a fresh set): the
	// kernel's counter counts from the set's load.
	std::uint64_t unattributed_recorded() const { return info_.unattributed_recorded; }

	ProbeMode mode() const { return mode_; }
	// Events carry the file's digest, taken in the hook (ProbeOptions::kernel_digest).
	bool kernel_digest() const { return kernel_digest_; }
	int events_fd() const { return events_fd_; }
	int measured_fd() const { return measured_fd_; }
	int known_mntns_fd() const { return known_mntns_fd_; }
	int dropped_fd() const { return dropped_fd_; }
	int counters_fd() const { return counters_fd_; }
	int policy_fd() const { return policy_fd_; }
	// Names of the attached programs, for `eima status`.
	const std::vector<std::string> &programs() const { return programs_; }
	// The attached programs as fds (an adopted set's through its pinned links).
	virtual Result<std::vector<ProbeProgram>> program_fds() const = 0;
	// The BPF object the programs were loaded from: its file name ("measure_lsm.bpf.o",
	// "measure_lsm.signed.bpf.o") and SHA-256 of its ELF bytes (an adopted set's is the
	// same: adopt() checks it).
	const std::string &object_name() const { return object_name_; }
	// The subject of the certificate its signature was checked against, or "" for the
	// skeleton eimad carries (unsigned).
	const std::string &signer() const { return signer_; }
	// How it was loaded, for `eima status`: the signing path and keyring, or "skeleton".
	const std::string &load_detail() const { return load_detail_; }
	const std::array<std::uint8_t, 32> &object_sha256() const { return info_.object_sha256; }
	// A map of the set by its name in the BPF object (e.g. lsm mode's "appraise_cfg",
	// which src/enforce/ drives), as a new fd; ENOENT when this set has no such map.
	virtual Result<UniqueFd> open_map(const std::string &name) const = 0;

	// Summed per-CPU counters, indexed by enum eima_counter.
	Result<std::vector<std::uint64_t>> counters() const;
	// One of them (EIMA_CNT_*): a map lookup, where counters() makes one per counter.
	Result<std::uint64_t> counter(std::uint32_t index) const;
	Result<void> set_policy(const eima_policy &policy);
	// Forget a file version so the next access reports it again (after a failed measurement).
	void forget(const eima_measured_key &key);
	// eimad has set up this namespace (by mntns_id): its events no longer wake eimad at once.
	void mark_known(std::uint64_t mntns_id);
	// The cgroup v2 path ("/a/b", up to EIMA_CGROUP_DEPTH innermost components) the hook
	// saw at a new namespace's first event, taken out of the kernel's map; nullopt when it
	// has none (a host event, or one it was not taken for).
	std::optional<std::string> take_cgroup_path(std::uint64_t mntns_id);
	// The namespace is gone: nothing recorded for it may carry over to the next one under
	// its inode number (its lost-event count, and measured files where mntns_id is the
	// inode too); its known mark and cgroup path go too, so the maps do not fill.
	void forget_mntns(std::uint64_t mntns_inode, std::uint64_t mntns_id);

protected:
	MeasurementProbe() = default;
	// Pins the loaded links and maps (a loaded set only).
	virtual Result<void> pin_objects(const ProbePins &) { return {}; }
	// Sets the fds of the maps every set has from open(name) (the object's map names,
	// which are also their pin names), and returns the "agent" map's fd.
	Result<int> bind_maps(const std::function<Result<int>(const char *name)> &open);
	ProbeMode mode_ = ProbeMode::trace;
	bool kernel_digest_ = false;
	int events_fd_ = -1, measured_fd_ = -1, known_mntns_fd_ = -1, dropped_fd_ = -1,
	    counters_fd_ = -1, policy_fd_ = -1, cgroup_fd_ = -1;
	std::vector<std::string> programs_;
	std::string object_name_, signer_, load_detail_ = "unsigned: the skeleton eimad carries";
	std::optional<ProbePins> pins_;
	UniqueFd info_fd_;
	PinnedSetInfo info_;
};

} // namespace eima::agent
