// A parsed measurement list. Parsing is not trusting (go-attestation): nothing in an
// UnverifiedLog may be acted on until a replay of its entries matches PCR values from a
// verified TPM quote (and the match is at its last entry: evmctl stops at the first match).
#pragma once

#include <optional>
#include <vector>

#include "ima/hash_algo.h"
#include "ima/template_entry.h"

namespace eima::ima {

// How records store their header (template) digest.
struct HeaderDigestFormat {
	// nullopt: the kernel's format, 20 raw bytes in binary and bare hex in ascii.
	// An algorithm: research kernels (the embrave ima-dep-cgn log) that write
	// `u32 size | digest` in binary and "sha256:hex" in ascii, hashing with that algorithm.
	std::optional<HashAlgo> typed;

	bool operator==(const HeaderDigestFormat &) const = default;
};

struct UnverifiedLog {
	// UNTRUSTED: as read from a file, a socket or another host.
	std::vector<TemplateEntry> entries;
	HeaderDigestFormat header;
};

} // namespace eima::ima
