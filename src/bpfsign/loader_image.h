// A BPF object turned into what the kernel can verify a signature of (docs/signed-bpf.md).
//
// The kernel (6.18+) checks a PKCS#7 signature over the instructions of one BPF_PROG_LOAD,
// exactly as submitted. The instructions of an ordinary object are not stable: libbpf
// writes map fds into them and relocates CO-RE accesses for the running kernel. So, as
// upstream's light skeletons do, eima signs a *loader*: a BPF_PROG_TYPE_SYSCALL program
// that libbpf's gen_loader writes for the object, which creates the maps and loads the
// programs itself (the kernel doing CO-RE), reading every attribute, instruction and
// initial value from one data blob. The loader's instructions are fixed: map fds are
// indexes into fd_array. The blob is what the signature does not cover, so eima prepends
// to the loader a check that the blob's SHA-256, as the kernel computed it for the frozen
// map that carries it (bpf_map->sha), is the value written into the signed instructions.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/hex.h"

namespace eima::bpfsign {

struct LoaderProgram {
	std::string name;
	std::string section;
	std::uint32_t type = 0;        // enum bpf_prog_type
	std::uint32_t attach_type = 0; // enum bpf_attach_type (expected_attach_type)
};

struct LoaderMap {
	std::string name;
	std::uint32_t type = 0; // enum bpf_map_type
};

// What a loader creates, in the order of its context's map and program descriptors. It
// travels at the end of the data blob, so the blob's hash covers it.
struct LoaderManifest {
	std::string object;    // the file name it was made from
	std::vector<LoaderProgram> programs;
	std::vector<LoaderMap> maps;
};

struct LoaderImage {
	Bytes insns; // the loader program: what the kernel verifies the signature of
	Bytes data;  // the blob: gen_loader's data, then the manifest
	LoaderManifest manifest;
};

using Sha256 = std::array<std::uint8_t, 32>;

// Runs libbpf's gen_loader on a BPF object file and returns the hardened, hash-checked
// loader. Nothing is loaded into the kernel. Errors carry libbpf's own warnings.
Result<LoaderImage> make_loader_image(const std::string &object_path);

// The checks `eima bpf verify` makes on a loader read from a signed object, short of the
// signature: the hash check is eima's prologue and names this data's SHA-256; the loader
// reads nothing from its context that could replace signed values; the manifest parses.
// Returns the manifest.
Result<LoaderManifest> check_loader_image(std::span<const std::uint8_t> insns,
					  std::span<const std::uint8_t> data);

// The loader without eima's hash prologue, for kernels without bpf_map->sha (before
// 6.18), where the trusted loader has made the prologue's check in user space
// (check_loader_image) and then loads this. gen_loader's code follows the prologue
// unchanged and never jumps back into it. insns must have passed check_loader_image.
std::span<const std::uint8_t> loader_body(std::span<const std::uint8_t> insns);

// Only the manifest at the end of a loader's data, for names to pin by: no check of the
// data's hash (the loader itself makes it, in the kernel, when it runs).
Result<LoaderManifest> read_loader_manifest(std::span<const std::uint8_t> data);

// The SHA-256 the kernel computes for a one-element array map holding data (its value
// rounded up to 8 bytes, bpf_map->sha): eima's blobs are always a multiple of 8 bytes.
Sha256 blob_sha256(std::span<const std::uint8_t> data);
Sha256 sha256(std::span<const std::uint8_t> bytes);

// The loader context libbpf's loaders read and write (skel_internal.h's bpf_loader_ctx,
// then one bpf_map_desc per map, one bpf_prog_desc per program): its size, and where the
// loader leaves each map's and program's fd.
std::size_t loader_ctx_size(const LoaderManifest &m);
std::size_t loader_ctx_map_fd_offset(std::size_t map_index);
std::size_t loader_ctx_prog_fd_offset(const LoaderManifest &m, std::size_t prog_index);

} // namespace eima::bpfsign
