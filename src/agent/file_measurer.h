// The digest of one file version, the way kernel IMA would record it.
//
// Three sources, best first:
// - the kernel: a sleepable LSM hook hashed the file while the exec or mmap was under way
//   (EIMA_EVF_KERNEL_DIGEST). This is the content that ran, even if the process, its
//   container and the file are gone by the time eimad reads the event;
// - the cache: the same version (dev, inode, cookie) was hashed before, for any namespace;
// - the file itself, opened beneath a root the process saw (its own, or its container's
//   held open), checked to be the version the kernel reported before and after hashing.
// When none of them works the result is an error, which the caller records as a violation.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "agent/agent_config.h"
#include "agent/measurement_cache.h"
#include "bpf/abi/event.h"
#include "common/error.h"
#include "common/unique_fd.h"
#include "ima/hash_algo.h"
#include "ima/template_entry.h"

namespace eima::agent {

// The kernel's enum hash_algo (include/uapi/linux/hash_info.h) of a digest taken in a hook;
// nullopt for algorithms eima does not record.
std::optional<ima::HashAlgo> from_kernel_hash_algo(std::int32_t kernel_algo);

// security.ima of an open file (its IMA signature), or empty when it has none.
Bytes read_ima_signature(int fd);

// The list entry of a measured file in the given template: a violation when digest is an
// error; sig goes into ima-sig entries only.
Result<ima::TemplateEntry> make_file_entry(TemplateKind tmpl, ima::HashAlgo algo,
					   const Result<Bytes> &digest, const Bytes &sig,
					   const std::string &name, std::uint32_t pcr);

struct Measurement {
	Result<Bytes> digest;
	Bytes signature; // security.ima, when asked for and present
	enum class Source { kernel, cache, file, none } source = Source::none;
};

class FileMeasurer {
public:
	explicit FileMeasurer(MeasurementCache &cache) : cache_(cache) {}

	// What the entry for this event records. algo: the digest the template needs;
	// want_signature: ima-sig (security.ima is read from the file, which must then be
	// reachable: an entry whose file is gone carries no signature). roots: O_PATH
	// directories to resolve the path beneath, in order (-1 entries are skipped).
	Measurement measure(const eima_event_head &head, const std::string &path, ima::HashAlgo algo,
			    bool want_signature, std::span<const int> roots);

	// Whether measure() will have to open the file: no cached digest, no usable one from
	// the kernel, or a signature to read. Lets the caller skip finding a root.
	bool needs_file(const eima_event_head &head, ima::HashAlgo algo, bool want_signature) const;

	// Digests taken in the kernel that eimad could use / could not (another algorithm
	// than the list's), for `eima status`.
	std::uint64_t kernel_digests_used() const { return kernel_used_; }
	std::uint64_t kernel_digests_unusable() const { return kernel_unusable_; }

private:
	static bool kernel_digest_usable(const eima_event_head &head, ima::HashAlgo algo);
	Result<UniqueFd> open_file(const std::string &path, const eima_file_id &file,
				   std::span<const int> roots) const;

	MeasurementCache &cache_;
	std::uint64_t kernel_used_ = 0, kernel_unusable_ = 0;
};

} // namespace eima::agent
