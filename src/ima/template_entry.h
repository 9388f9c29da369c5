// IMA template entries: the kernel's template model (ima_template.c, ima_template_lib.c),
// the bytes each entry hashes to, and constructors for the entries eima writes.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "common/hex.h"
#include "ima/hash_algo.h"

namespace eima::ima {

inline constexpr std::uint32_t default_ima_pcr = 10;   // CONFIG_IMA_MEASURE_PCR_IDX
inline constexpr std::size_t sha1_digest_size = 20;    // TPM_DIGEST_SIZE, the header digest
inline constexpr std::size_t event_name_len_max = 255; // IMA_EVENT_NAME_LEN_MAX ('ima' names)
inline constexpr std::size_t template_name_len_max = 255; // TCG_EVENT_NAME_LEN_MAX
inline constexpr std::size_t template_fields_max = 15;    // IMA_TEMPLATE_NUM_FIELDS_MAX
inline constexpr std::string_view boot_aggregate_name = "boot_aggregate";

// One measurement. Everything here is UNTRUSTED when it came from a parser: the header digest
// is whatever the producer wrote, and nothing says the fields hash to it until a replay
// against quoted PCR values says so (see UnverifiedLog).
struct TemplateEntry {
	std::uint32_t pcr = default_ima_pcr;
	// The header digest as stored. Kernels store SHA-1 of the template data (20 bytes,
	// all zero for a violation); research kernels and some test fixtures store a longer
	// digest here (see HeaderDigestFormat), so the size is not fixed.
	Bytes template_hash_sha1;
	std::string template_name;
	// Raw field bytes as the kernel keeps them, without u32 length prefixes: a d-ng field is
	// "sha256:" '\0' digest, an n-ng field is the path plus its NUL. For the 'ima' template:
	// fields[0] = 20-byte digest, fields[1] = name plus NUL (the binary log omits the NUL).
	std::vector<Bytes> fields;

	bool operator==(const TemplateEntry &) const = default;
};

// How a field is encoded and printed in the ascii list (ima_template_lib.c data_formats).
enum class FieldKind : std::uint8_t {
	digest,		// 'd': raw digest, printed as hex
	digest_ng,	// 'd-ng', 'd-modsig', 'd-ngv2': "<prefix>:" '\0' digest, printed prefix:hex
	string,		// 'n', 'n-ng', 'xattrnames': text + NUL, printed up to the NUL
	hex,		// 'sig', 'buf', 'modsig', 'evmsig', 'xattrlengths', 'xattrvalues'
	uint,		// 'iuid', 'igid' (4 bytes), 'imode' (2 bytes): printed in decimal
};

struct FieldSpec {
	std::string_view id;
	FieldKind kind = FieldKind::hex;
	std::uint8_t uint_size = 0; // for FieldKind::uint: its width in bytes
};

struct TemplateLayout {
	std::array<FieldSpec, template_fields_max> fields{};
	std::size_t count = 0;
	std::span<const FieldSpec> specs() const { return {fields.data(), count}; }
	// Index of the first field with this id, or nullopt.
	std::optional<std::size_t> index_of(std::string_view id) const;
};

// Field layout of a template: the kernel's builtin names (ima, ima-ng, ima-sig, ima-ngv2,
// ima-sigv2, ima-buf, ima-modsig, evm-sig), a format string such as "d-ng|n-ng|sig" (the
// kernel shows the format as the name of a template defined by ima_template_fmt=), and the
// research template "ima-dep-cgn" (dep|cgn|d-ng|n-ng) of the embrave corpus log.
Result<TemplateLayout> template_layout(std::string_view template_name);

bool is_ima_template(const TemplateEntry &entry); // the legacy 'ima' template
// A violation (ToMToU, open-writers) has an all-zero header digest; its PCR banks were
// extended with 0xFF..FF instead of the template hash.
bool is_violation(const TemplateEntry &entry);

// The bytes the template hash covers: for every template but 'ima', the sequence of
// `u32 len (LE) | field`; for 'ima', `20-byte digest | name padded with NULs to 256 bytes`.
Bytes template_data(const TemplateEntry &entry);
// Feeds template_data(entry) to h without building it.
void hash_template_data(const TemplateEntry &entry, Hasher &h);

// Value extended into the given bank: H_bank(template data), or 0xFF.. of the bank's size
// for a violation.
Result<Bytes> template_hash(const TemplateEntry &entry, HashAlgo bank);
// Same with a caller-owned hasher (bank = h.algo()); writes h.size() bytes to out.
Result<void> template_hash(const TemplateEntry &entry, Hasher &h, std::span<std::uint8_t> out);

// The header digest a kernel would store: zeros for a violation, else SHA-1 of the template
// data (or H_algo for a HeaderDigestFormat with a typed algorithm).
Result<Bytes> expected_header_digest(const TemplateEntry &entry, HashAlgo header_algo = HashAlgo::sha1);

// A parsed d-ng (or d-modsig, d-ngv2) field, viewing the entry's bytes.
struct DigestView {
	std::string_view prefix;		// "sha256" or, for d-ngv2, "ima:sha256"
	std::string_view algo_name;		// "sha256"
	std::optional<HashAlgo> algo;		// nullopt for kernel algorithms eima does not hash with
	std::span<const std::uint8_t> digest;
};
Result<DigestView> parse_digest_ng(std::span<const std::uint8_t> field);
// The file digest of an entry: its d-ng field, or for 'ima' its 'd' field (sha1).
Result<DigestView> file_digest(const TemplateEntry &entry);
// The event name (path, "boot_aggregate", ima-buf's buffer name): n-ng/n up to its NUL.
Result<std::string_view> event_name(const TemplateEntry &entry);
// The sig field of ima-sig/ima-sigv2/ima-modsig (empty when the file had no signature).
Result<std::span<const std::uint8_t>> signature(const TemplateEntry &entry);

// Constructors for the entries eima writes, exactly as the kernel would build them: spaces
// in names become '_' (the kernel's rule, so the ascii list stays splittable), the header
// digest is SHA-1 of the template data. Errors when a digest does not match its algorithm.
Result<TemplateEntry> make_ima_ng(HashAlgo algo, std::span<const std::uint8_t> digest,
				  std::string_view path, std::uint32_t pcr = default_ima_pcr);
Result<TemplateEntry> make_ima_sig(HashAlgo algo, std::span<const std::uint8_t> digest,
				   std::string_view path, std::span<const std::uint8_t> sig,
				   std::uint32_t pcr = default_ima_pcr);
// Legacy 'ima' template: SHA-1 digest only; a name over 255 bytes is replaced by its last
// path component, as the kernel does with the file's dentry name.
Result<TemplateEntry> make_ima(std::span<const std::uint8_t> sha1_digest, std::string_view path,
			       std::uint32_t pcr = default_ima_pcr);
Result<TemplateEntry> make_ima_buf(HashAlgo algo, std::span<const std::uint8_t> digest,
				   std::string_view name, std::span<const std::uint8_t> buf,
				   std::uint32_t pcr = default_ima_pcr);
// A violation record of the given template ('ima', 'ima-ng', 'ima-sig', 'ima-buf', ...):
// header digest zero; its d-ng field is "algo:" '\0' followed by 20 zero bytes whatever
// the algorithm (the kernel reserves IMA_DIGEST_SIZE for the missing digest); other fields
// than the digest and name are empty.
Result<TemplateEntry> make_violation(std::string_view template_name, HashAlgo algo,
				     std::string_view path, std::uint32_t pcr = default_ima_pcr);
// The first entry: "boot_aggregate" with the given digest (zeros when there is no TPM).
Result<TemplateEntry> make_boot_aggregate(HashAlgo algo, std::span<const std::uint8_t> digest,
					  std::string_view template_name = "ima-ng");
// boot_aggregate digest from PCR values of one bank: H(PCR0 || .. || PCR7), and for banks
// other than sha1 also PCR8 and PCR9 (ima_crypto.c). pcrs[i] is PCR i, bank-sized.
Result<Bytes> compute_boot_aggregate(HashAlgo bank, std::span<const Bytes> pcrs);

// Sets the header digest of an entry built field by field to SHA-1 of its template data.
Result<void> seal_header_digest(TemplateEntry &entry);

} // namespace eima::ima
