// Replay of a measurement list into PCR values, and the PCR files evmctl reads.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>

#include "common/error.h"
#include "ima/hash_algo.h"
#include "ima/template_entry.h"

namespace eima::ima {

// PCR index -> value of one bank.
using PcrValues = std::map<std::uint32_t, Bytes>;

inline constexpr std::uint32_t pcr_count = 24; // PCRs of a PC-client TPM

// Extends entries one at a time (streaming verifiers): PCR = H(PCR || template_hash), each
// PCR starting from zeros of the bank size; a violation extends 0xFF..FF. One hasher is
// reused, so a million entries cost two digests each and no allocation per entry.
class Replayer {
public:
	static Result<Replayer> create(HashAlgo bank);

	Result<void> extend(const TemplateEntry &entry);
	HashAlgo bank() const { return hasher_.algo(); }
	const PcrValues &values() const { return values_; }

private:
	explicit Replayer(Hasher h) : hasher_(std::move(h)) {}
	Hasher hasher_;
	PcrValues values_;
};

// PCRs that no entry touched are absent from the result.
Result<PcrValues> replay(std::span<const TemplateEntry> entries, HashAlgo bank);

// The PCR file of `evmctl ima_measurement --pcrs ALGO,FILE`: lines "PCR-NN: HEX" for
// NN = 00, 01, ... in order (evmctl reads them sequentially and stops at the first gap).
// Formats PCR-00..PCR-23, absent PCRs as zeros.
std::string format_pcr_file(const PcrValues &values, HashAlgo bank);
// Accepts contiguous hex or the TPM 1.2 sysfs form with a space between bytes; blank lines
// are skipped; errors name the line.
Result<PcrValues> parse_pcr_file(std::string_view text, HashAlgo bank);

} // namespace eima::ima
