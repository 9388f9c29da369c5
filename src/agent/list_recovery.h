// Bringing a list and its TPM back into agreement after eimad restarts (or was killed).
//
// eimad writes every host entry to its list before it extends it (HostRecorder::flush), so
// after any stop the TPM holds the extends of a prefix of the list: all of it after a
// clean stop, less after a kill. The length of that prefix is found by replaying the list
// against the TPM's PCRs; the rest is extended on resuming. If no prefix replays to the
// TPM (the TPM was reset: a new boot, a cleared swtpm, or a damaged list), the list
// cannot be verified any more and is set aside for a new one. See docs/restart.md.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "agent/measurement_list.h"
#include "common/error.h"
#include "ima/hash_algo.h"
#include "ima/template_entry.h"
#include "tpm/tpm.h"

namespace eima::agent {

using PcrBanks = std::map<ima::HashAlgo, std::map<std::uint32_t, Bytes>>;

// How many leading records the TPM holds: the first k whose replay from zero equals the
// TPM's value of every PCR the list extends, in every bank given. nullopt when none does.
std::optional<std::size_t> extended_prefix(const std::vector<ExtendRecord> &records,
					   const PcrBanks &tpm);

// The violation entry for a span during which eimad measured nothing (it was not
// running): named "eima-interrupted:<from>-<to>" in nanoseconds since the epoch, so that
// every exec in between is covered by a record that says so.
Result<ima::TemplateEntry> interruption_entry(std::string_view template_name,
					      ima::HashAlgo algo, std::uint32_t pcr,
					      std::uint64_t from_ns, std::uint64_t to_ns);

// PCRs 0..23 of each bank, read in one go.
Result<PcrBanks> read_all_pcrs(tpm::Tpm &t, const std::vector<ima::HashAlgo> &banks);

// Nanoseconds since the epoch (CLOCK_REALTIME): the unit of drained_at_ns and of the
// interruption entry's span.
std::uint64_t wall_ns(std::chrono::system_clock::time_point t);

} // namespace eima::agent
