// How many entries of a measurement list a quote covers. A list read after a quote may be
// longer than what the quoted PCRs hold: the kernel (and eimad) keep appending while the TPM
// signs, and the kernel adds an entry to its list before it extends the TPM. The quote
// covers the shortest prefix whose replay gives the quoted values.
#pragma once

#include <cstdint>
#include <map>
#include <span>

#include "common/error.h"
#include "common/hex.h"
#include "ima/hash_algo.h"

namespace eima::attest
{

// The number of leading entries of a binary list (kernel format) whose replay in `bank`
// (ima/replay.h: H(template data) per entry, 0xFF.. for a violation) equals every value in
// `quoted` (PCR -> value; a PCR no entry of the prefix touches is zeros) — the shortest such
// prefix, 0 when the quoted values are all zeros. When no prefix matches, the list's whole
// entry count: the verifier then reports the replay failure rather than this. Entries after
// the match are not read. Errors name the entry and byte offset of a record that does not
// parse before a match, or a quoted value that is not `bank`-sized.
Result<std::size_t> quoted_prefix(std::span<const std::uint8_t> list, ima::HashAlgo bank,
				  const std::map<std::uint32_t, Bytes> &quoted);

} // namespace eima::attest
