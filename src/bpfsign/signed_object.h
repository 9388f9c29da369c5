// A signed BPF object on disk: the original ELF object, unchanged, with three sections
// added (docs/signed-bpf.md says why in the object and not beside it):
//   .eima.loader       the loader program's instructions, as signed
//   .eima.loader.data  the loader's data blob, whose SHA-256 the instructions check
//   .eima.sig          the detached DER PKCS#7 signature of .eima.loader
// The sections are not allocated and libbpf skips sections it does not know, so the file
// stays an ordinary object for libbpf, bpftool and llvm-objdump.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "bpfsign/loader_image.h"
#include "common/error.h"
#include "common/hex.h"

namespace eima::bpfsign {

inline constexpr const char *loader_section = ".eima.loader";
inline constexpr const char *loader_data_section = ".eima.loader.data";
inline constexpr const char *signature_section = ".eima.sig";

// What read_signed_object found. Unverified: nothing here is trusted until the signature
// is checked (verify) or the kernel checked it (load).
struct UnverifiedSignedObject {
	Bytes insns;
	Bytes data;
	Bytes signature;
};

// Writes object_path with the three sections added to out_path (through a temporary file
// beside it, renamed into place). Refuses an object that already has any of them.
Result<void> write_signed_object(const std::string &object_path, const std::string &out_path,
				 const LoaderImage &image, const Bytes &signature);

// Reads the three sections; each must be present once, non-empty and within the file.
Result<UnverifiedSignedObject> read_signed_object(const std::string &path);
// The same from the file's bytes, read already; path names it in errors.
Result<UnverifiedSignedObject> parse_signed_object(std::span<const std::uint8_t> bytes,
						   const std::string &path);

} // namespace eima::bpfsign
