// The parts of union bpf_attr and struct bpf_map_info that Linux 6.18 added for signed
// programs, which Debian 12's kernel headers (6.1) do not have. Written from the 6.18 UAPI
// (include/uapi/linux/bpf.h): the fields up to what the installed header has are checked
// against it below, the new ones by offset.
#pragma once

#include <linux/bpf.h>

#include <cstddef>
#include <cstdint>

namespace eima::bpfsign {

// BPF_MAP_CREATE, through excl_prog_hash: the map can be used only by the program whose
// digest (SHA-256 of its instructions) is excl_prog_hash.
struct MapCreateAttr {
	std::uint32_t map_type;
	std::uint32_t key_size;
	std::uint32_t value_size;
	std::uint32_t max_entries;
	std::uint32_t map_flags;
	std::uint32_t inner_map_fd;
	std::uint32_t numa_node;
	char map_name[BPF_OBJ_NAME_LEN];
	std::uint32_t map_ifindex;
	std::uint32_t btf_fd;
	std::uint32_t btf_key_type_id;
	std::uint32_t btf_value_type_id;
	std::uint32_t btf_vmlinux_value_type_id;
	std::uint64_t map_extra;
	std::int32_t value_type_btf_obj_fd;
	std::int32_t map_token_fd;
	std::uint64_t excl_prog_hash;
	std::uint32_t excl_prog_hash_size;
	std::uint32_t pad_;
};
static_assert(offsetof(MapCreateAttr, map_extra) == offsetof(bpf_attr, map_extra));
static_assert(offsetof(MapCreateAttr, excl_prog_hash) == 80);

// BPF_PROG_LOAD, through keyring_id.
struct ProgLoadAttr {
	std::uint32_t prog_type;
	std::uint32_t insn_cnt;
	std::uint64_t insns;
	std::uint64_t license;
	std::uint32_t log_level;
	std::uint32_t log_size;
	std::uint64_t log_buf;
	std::uint32_t kern_version;
	std::uint32_t prog_flags;
	char prog_name[BPF_OBJ_NAME_LEN];
	std::uint32_t prog_ifindex;
	std::uint32_t expected_attach_type;
	std::uint32_t prog_btf_fd;
	std::uint32_t func_info_rec_size;
	std::uint64_t func_info;
	std::uint32_t func_info_cnt;
	std::uint32_t line_info_rec_size;
	std::uint64_t line_info;
	std::uint32_t line_info_cnt;
	std::uint32_t attach_btf_id;
	std::uint32_t attach_prog_fd;
	std::uint32_t core_relo_cnt;
	std::uint64_t fd_array;
	std::uint64_t core_relos;
	std::uint32_t core_relo_rec_size;
	std::uint32_t log_true_size;
	std::int32_t prog_token_fd;
	std::uint32_t fd_array_cnt; // 6.14: the maps in fd_array are bound to the program
	std::uint64_t signature;    // 6.18: a PKCS#7 signature of the instructions
	std::uint32_t signature_size;
	std::int32_t keyring_id; // the keyring whose keys may have made it (a key serial)
};
static_assert(offsetof(ProgLoadAttr, core_relo_rec_size) ==
	      offsetof(bpf_attr, core_relo_rec_size));
static_assert(offsetof(ProgLoadAttr, signature) == 152);
static_assert(sizeof(ProgLoadAttr) == 168);

// BPF_OBJ_GET_INFO_BY_FD on a map, with 6.18's hash: the kernel computes the SHA-256 of a
// frozen map's value into bpf_map->sha (and here) when hash is set.
struct MapInfoWithHash {
	bpf_map_info info;
	std::uint64_t hash;
	std::uint32_t hash_size;
	std::uint32_t pad_;
};
static_assert(offsetof(MapInfoWithHash, hash) == 88);

} // namespace eima::bpfsign
