#include "bpfsign/loader_image.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <bpf/skel_internal.h>
#include <linux/bpf.h>
#include <openssl/evp.h>

#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/json_text.h"

namespace eima::bpfsign {
namespace {

// --- instructions --------------------------------------------------------------------

constexpr std::uint8_t op_ld_imm64 = BPF_LD | BPF_IMM | BPF_DW;
constexpr std::uint8_t op_ldx_dw = BPF_LDX | BPF_MEM | BPF_DW;
constexpr std::uint8_t op_jne_reg = BPF_JMP | BPF_JNE | BPF_X;
constexpr std::uint8_t op_ja = BPF_JMP | BPF_JA;
constexpr std::uint8_t op_mov64_imm = BPF_ALU64 | BPF_MOV | BPF_K;
constexpr std::uint8_t op_mov64_reg = BPF_ALU64 | BPF_MOV | BPF_X;
constexpr std::uint8_t op_exit = BPF_JMP | BPF_EXIT;

bpf_insn insn(std::uint8_t code, std::uint8_t dst, std::uint8_t src, std::int16_t off,
	      std::int32_t imm)
{
	bpf_insn i{};
	i.code = code;
	i.dst_reg = dst & 0xf;
	i.src_reg = src & 0xf;
	i.off = off;
	i.imm = imm;
	return i;
}

bool same(const bpf_insn &a, const bpf_insn &b)
{
	return std::memcmp(&a, &b, sizeof(a)) == 0;
}

// The prologue: compare the 32 bytes at the start of struct bpf_map (bpf_map->sha, which
// the kernel fills with the SHA-256 of a frozen map's value when BPF_OBJ_GET_INFO_BY_FD
// asks for its hash) of fd_array[0], the blob, with the hash written here; on any
// difference return -EBADMSG before the loader runs a single command. The layout:
//   0-1   r2 = &fd_array[0]  (ld_imm64, BPF_PSEUDO_MAP_IDX: a pointer to struct bpf_map)
//   then for each 8 bytes k: r3 = *(u64 *)(r2 + 8k); r4 = expected (ld_imm64);
//         if r3 != r4 goto fail                                   (4 instructions each)
//   18    goto +2 (over fail)
//   19    fail: r0 = -EBADMSG   20  exit
// r1, the loader's context, is left alone for gen_loader's first instruction (r6 = r1).
constexpr std::size_t prologue_insns = 21;
constexpr std::size_t prologue_fail = 19;
// Where the kernel keeps a map's hash: offset 0 of struct bpf_map from 6.18 on, pinned
// there by a BUILD_BUG_ON upstream because signed loaders read it at a fixed offset.
constexpr std::int16_t bpf_map_sha_offset = 0;

std::vector<bpf_insn> hash_prologue(const Sha256 &hash)
{
	std::vector<bpf_insn> p;
	p.push_back(insn(op_ld_imm64, BPF_REG_2, BPF_PSEUDO_MAP_IDX, 0, 0));
	p.push_back(insn(0, 0, 0, 0, 0));
	for (int k = 0; k < 4; k++) {
		std::uint64_t dw = 0;
		std::memcpy(&dw, hash.data() + 8 * k, 8); // as the kernel's u64 load reads it
		p.push_back(insn(op_ldx_dw, BPF_REG_3, BPF_REG_2,
				 static_cast<std::int16_t>(bpf_map_sha_offset + 8 * k), 0));
		p.push_back(insn(op_ld_imm64, BPF_REG_4, 0, 0, static_cast<std::int32_t>(dw)));
		p.push_back(insn(0, 0, 0, 0, static_cast<std::int32_t>(dw >> 32)));
		auto at = static_cast<std::int16_t>(p.size());
		p.push_back(insn(op_jne_reg, BPF_REG_3, BPF_REG_4,
				 static_cast<std::int16_t>(prologue_fail - (at + 1)), 0));
	}
	p.push_back(insn(op_ja, 0, 0, 2, 0));
	p.push_back(insn(op_mov64_imm, BPF_REG_0, 0, 0, -EBADMSG));
	p.push_back(insn(op_exit, 0, 0, 0, 0));
	return p;
}

// gen_loader keeps its context in r6 for the whole program (its first instruction is
// r6 = r1). Reads from the context below this offset are bpf_loader_ctx's own fields (size,
// flags, the verifier log); reads above are per-map max_entries and initial_value, with
// which whoever runs the loader could resize maps or replace their signed initial values
// (a const volatile configuration): libbpf 1.1 reads them whenever they are non-zero.
constexpr std::int16_t ctx_header_size = sizeof(bpf_loader_ctx);

bool reads_ctx_descriptor(const bpf_insn &i)
{
	return BPF_CLASS(i.code) == BPF_LDX && BPF_MODE(i.code) == BPF_MEM &&
	       i.src_reg == BPF_REG_6 && i.off >= ctx_header_size;
}

// Whether an instruction may change r6 itself (then the reads above could not be told).
bool writes_r6(const bpf_insn &i)
{
	std::uint8_t cls = BPF_CLASS(i.code);
	if ((cls == BPF_ALU || cls == BPF_ALU64 || cls == BPF_LD || cls == BPF_LDX) &&
	    i.dst_reg == BPF_REG_6)
		return true;
	// An atomic with BPF_FETCH writes its source register.
	return cls == BPF_STX && BPF_MODE(i.code) == BPF_ATOMIC && i.src_reg == BPF_REG_6 &&
	       (i.imm & BPF_FETCH);
}

std::vector<bpf_insn> as_insns(std::span<const std::uint8_t> bytes)
{
	std::vector<bpf_insn> v(bytes.size() / sizeof(bpf_insn));
	std::memcpy(v.data(), bytes.data(), v.size() * sizeof(bpf_insn));
	return v;
}

// --- manifest ------------------------------------------------------------------------

// The last 16 bytes of the blob: magic, then the manifest's offset and length (LE u32).
constexpr char manifest_magic[8] = {'E', 'I', 'M', 'A', 'M', 'A', 'N', '1'};
constexpr std::size_t trailer_size = 16;

nlohmann::json manifest_json(const LoaderManifest &m)
{
	nlohmann::json j{{"object", m.object},
			 {"programs", nlohmann::json::array()},
			 {"maps", nlohmann::json::array()}};
	for (auto &p : m.programs)
		j["programs"].push_back({{"name", p.name},
					 {"section", p.section},
					 {"type", p.type},
					 {"attach_type", p.attach_type}});
	for (auto &mp : m.maps)
		j["maps"].push_back({{"name", mp.name}, {"type", mp.type}});
	return j;
}

void append_manifest(Bytes &data, const LoaderManifest &m)
{
	data.resize((data.size() + 7) / 8 * 8, 0);
	std::string text = json_dump(manifest_json(m));
	auto off = static_cast<std::uint32_t>(data.size());
	auto len = static_cast<std::uint32_t>(text.size());
	data.insert(data.end(), text.begin(), text.end());
	data.resize((data.size() + 7) / 8 * 8, 0);
	data.insert(data.end(), manifest_magic, manifest_magic + 8);
	for (std::uint32_t v : {off, len})
		for (int b = 0; b < 4; b++)
			data.push_back(static_cast<std::uint8_t>(v >> (8 * b)));
}

std::uint32_t le32(const std::uint8_t *p)
{
	return p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}

Result<std::string> json_string(const nlohmann::json &j, const char *key, const std::string &where)
{
	if (!j.is_object() || !j.contains(key) || !j[key].is_string())
		return fail("read loader manifest", where + ": no string \"" + key + "\"");
	return j[key].get<std::string>();
}

Result<std::uint32_t> json_u32(const nlohmann::json &j, const char *key, const std::string &where)
{
	if (!j.is_object() || !j.contains(key) || !j[key].is_number_unsigned() ||
	    j[key].get<std::uint64_t>() > UINT32_MAX)
		return fail("read loader manifest", where + ": no 32-bit \"" + key + "\"");
	return j[key].get<std::uint32_t>();
}

} // namespace

Result<LoaderManifest> read_loader_manifest(std::span<const std::uint8_t> data)
{
	if (data.size() < trailer_size || data.size() % 8 != 0)
		return fail("read loader data",
			    fmt::format("{} bytes: not an eima loader blob", data.size()));
	const std::uint8_t *t = data.data() + data.size() - trailer_size;
	if (std::memcmp(t, manifest_magic, 8) != 0)
		return fail("read loader data", "no eima manifest at its end");
	std::uint64_t off = le32(t + 8), len = le32(t + 12);
	if (off + len > data.size() - trailer_size)
		return fail("read loader data",
			    fmt::format("manifest at {}+{} runs past the blob's {} bytes", off, len,
					data.size() - trailer_size));
	auto j = nlohmann::json::parse(data.begin() + off, data.begin() + off + len, nullptr,
				       false);
	if (j.is_discarded() || !j.is_object())
		return fail("read loader manifest", fmt::format("at blob offset {}: not JSON", off));
	LoaderManifest m;
	auto object = json_string(j, "object", "manifest");
	if (!object)
		return std::unexpected(object.error());
	m.object = *object;
	if (!j.contains("programs") || !j["programs"].is_array() || !j.contains("maps") ||
	    !j["maps"].is_array())
		return fail("read loader manifest", "no \"programs\" or \"maps\" array");
	// gen_loader's limits (MAX_USED_PROGS, MAX_USED_MAPS): a manifest beyond them was not
	// written by it.
	if (j["programs"].size() > 32 || j["maps"].size() > 64)
		return fail("read loader manifest", "more programs or maps than a loader can create");
	for (std::size_t i = 0; i < j["programs"].size(); i++) {
		auto &p = j["programs"][i];
		std::string where = fmt::format("programs[{}]", i);
		auto name = json_string(p, "name", where);
		auto section = json_string(p, "section", where);
		auto type = json_u32(p, "type", where);
		auto attach = json_u32(p, "attach_type", where);
		if (!name)
			return std::unexpected(name.error());
		if (!section)
			return std::unexpected(section.error());
		if (!type)
			return std::unexpected(type.error());
		if (!attach)
			return std::unexpected(attach.error());
		m.programs.push_back({*name, *section, *type, *attach});
	}
	for (std::size_t i = 0; i < j["maps"].size(); i++) {
		auto &mp = j["maps"][i];
		std::string where = fmt::format("maps[{}]", i);
		auto name = json_string(mp, "name", where);
		if (!name)
			return std::unexpected(name.error());
		auto type = json_u32(mp, "type", where);
		if (!type)
			return std::unexpected(type.error());
		m.maps.push_back({*name, *type});
	}
	return m;
}

namespace {

// --- libbpf --------------------------------------------------------------------------

// libbpf reports why it failed only through its print callback: keep its warnings for the
// error (the CLI is single-threaded while it generates).
std::string libbpf_messages;

int collect_libbpf_print(enum libbpf_print_level level, const char *fmt_str, va_list args)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	char buf[512];
	int n = std::vsnprintf(buf, sizeof(buf), fmt_str, args);
	if (n > 0 && libbpf_messages.size() < 4096)
		libbpf_messages += buf;
	return n;
}

std::string last_libbpf_messages()
{
	std::string m = std::move(libbpf_messages);
	libbpf_messages.clear();
	while (!m.empty() && (m.back() == '\n' || m.back() == ' '))
		m.pop_back();
	for (auto &c : m)
		if (c == '\n')
			c = ';';
	return m.empty() ? "" : " (libbpf: " + m + ")";
}

struct ObjectCloser {
	void operator()(bpf_object *o) const { bpf_object__close(o); }
};

} // namespace

Sha256 sha256(std::span<const std::uint8_t> bytes)
{
	Sha256 out{};
	unsigned int len = 0;
	EVP_Digest(bytes.data(), bytes.size(), out.data(), &len, EVP_sha256(), nullptr);
	return out;
}

Sha256 blob_sha256(std::span<const std::uint8_t> data)
{
	if (data.size() % 8 == 0)
		return sha256(data);
	Bytes padded(data.begin(), data.end());
	padded.resize((padded.size() + 7) / 8 * 8, 0);
	return sha256(padded);
}

std::size_t loader_ctx_map_fd_offset(std::size_t map_index)
{
	return sizeof(bpf_loader_ctx) + sizeof(bpf_map_desc) * map_index +
	       offsetof(bpf_map_desc, map_fd);
}

std::size_t loader_ctx_prog_fd_offset(const LoaderManifest &m, std::size_t prog_index)
{
	return sizeof(bpf_loader_ctx) + sizeof(bpf_map_desc) * m.maps.size() +
	       sizeof(bpf_prog_desc) * prog_index + offsetof(bpf_prog_desc, prog_fd);
}

std::size_t loader_ctx_size(const LoaderManifest &m)
{
	return loader_ctx_prog_fd_offset(m, m.programs.size());
}

namespace {

// libbpf's gen_loader (MAX_USED_PROGS) keeps program fds in a 32-slot array on the loader's
// stack, and sizes its cleanup by the object's programs *and* its .text functions. Past
// 32 it writes a loader that reads beyond its stack, which the verifier refuses only when
// the loader is loaded, in the guest. So signing counts them first: every function the
// object defines has a BTF FUNC (kfuncs it calls are FUNCs with extern linkage).
constexpr std::size_t gen_loader_max_progs = 32;

// The count from the object file's own BTF: libbpf's open gives extern kfunc declarations
// another linkage. An object without BTF has no subprograms libbpf could count: 0.
std::size_t defined_functions(const std::string &object_path)
{
	std::unique_ptr<btf, decltype(&btf__free)> b(btf__parse_elf(object_path.c_str(), nullptr),
						       btf__free);
	std::size_t n = 0;
	for (std::uint32_t id = 1; b && id < btf__type_cnt(b.get()); id++) {
		const btf_type *t = btf__type_by_id(b.get(), id);
		if (btf_is_func(t) && btf_vlen(t) != BTF_FUNC_EXTERN) // a FUNC's vlen is its linkage
			n++;
	}
	return n;
}

} // namespace

Result<LoaderImage> make_loader_image(const std::string &object_path)
{
	auto previous = libbpf_set_print(collect_libbpf_print);
	struct RestorePrint {
		libbpf_print_fn_t fn;
		~RestorePrint() { libbpf_set_print(fn); }
	} restore{previous};
	libbpf_messages.clear();

	std::unique_ptr<bpf_object, ObjectCloser> obj(bpf_object__open_file(object_path.c_str(),
									    nullptr));
	if (!obj)
		return fail(errno, "open BPF object", object_path + last_libbpf_messages());
	if (std::size_t n = defined_functions(object_path); n > gen_loader_max_progs)
		return fail(E2BIG, "generate loader",
			    fmt::format("{}: {} functions (programs and the subprograms they call); "
					"a loader holds {}",
					object_path, n, gen_loader_max_progs));
	gen_loader_opts gen{};
	gen.sz = sizeof(gen);
	if (int err = bpf_object__gen_loader(obj.get(), &gen))
		return fail(-err, "generate loader", object_path + last_libbpf_messages());

	LoaderImage image;
	std::string name = object_path.substr(object_path.rfind('/') + 1);
	image.manifest.object = name;
	bpf_program *prog;
	bpf_object__for_each_program(prog, obj.get())
	{
		// The loader's context has a slot for every program it loads; one left out would
		// shift the others.
		if (!bpf_program__autoload(prog))
			return fail("generate loader",
				    fmt::format("{}: program {} is not loaded by default", object_path,
						bpf_program__name(prog)));
		image.manifest.programs.push_back({bpf_program__name(prog),
						   bpf_program__section_name(prog),
						   static_cast<std::uint32_t>(bpf_program__type(prog)),
						   static_cast<std::uint32_t>(
							   bpf_program__expected_attach_type(prog))});
	}
	bpf_map *map;
	bpf_object__for_each_map(map, obj.get())
	{
		if (!bpf_map__autocreate(map))
			return fail("generate loader",
				    fmt::format("{}: map {} is not created by default", object_path,
						bpf_map__name(map)));
		image.manifest.maps.push_back(
			{bpf_map__name(map), static_cast<std::uint32_t>(bpf_map__type(map))});
	}
	if (image.manifest.programs.empty())
		return fail("generate loader", object_path + ": no BPF programs in it");
	if (int err = bpf_object__load(obj.get()))
		return fail(-err, "generate loader", object_path + last_libbpf_messages());
	if (!gen.insns || !gen.data || gen.insns_sz % sizeof(bpf_insn) != 0)
		return fail("generate loader", object_path + ": libbpf returned no loader");

	auto *gi = reinterpret_cast<const std::uint8_t *>(gen.insns);
	auto *gd = reinterpret_cast<const std::uint8_t *>(gen.data);
	image.data.assign(gd, gd + gen.data_sz);
	append_manifest(image.data, image.manifest);

	std::vector<bpf_insn> body = as_insns({gi, gen.insns_sz});
	if (body.empty() || !same(body[0], insn(op_mov64_reg, BPF_REG_6, BPF_REG_1, 0, 0)))
		return fail("generate loader",
			    object_path + ": libbpf's loader does not start with r6 = r1");
	for (std::size_t i = 1; i < body.size(); i++) {
		if (writes_r6(body[i]))
			return fail("generate loader",
				    fmt::format("{}: libbpf's loader changes r6 at instruction {}",
						object_path, i));
		if (reads_ctx_descriptor(body[i]))
			body[i] = insn(op_mov64_imm, body[i].dst_reg, 0, 0, 0);
	}
	std::vector<bpf_insn> all = hash_prologue(blob_sha256(image.data));
	all.insert(all.end(), body.begin(), body.end());
	auto *bytes = reinterpret_cast<const std::uint8_t *>(all.data());
	image.insns.assign(bytes, bytes + all.size() * sizeof(bpf_insn));
	return image;
}

Result<LoaderManifest> check_loader_image(std::span<const std::uint8_t> insns,
					  std::span<const std::uint8_t> data)
{
	if (insns.size() % sizeof(bpf_insn) != 0 ||
	    insns.size() / sizeof(bpf_insn) <= prologue_insns)
		return fail("check loader", fmt::format("{} bytes of instructions: not an eima loader",
							insns.size()));
	std::vector<bpf_insn> v = as_insns(insns);
	// The expected prologue for the data's hash, instruction by instruction.
	std::vector<bpf_insn> want = hash_prologue(blob_sha256(data));
	for (std::size_t i = 0; i < want.size(); i++) {
		bool hash_imm = (i >= 3 && (i - 3) % 4 < 2 && i < 18);
		if (same(v[i], want[i]))
			continue;
		return fail("check loader",
			    hash_imm ? fmt::format("the data's SHA-256 is not the one its signed "
						   "instructions check (instruction {})",
						   i)
				     : fmt::format("instruction {} is not eima's hash check", i));
	}
	if (!same(v[prologue_insns], insn(op_mov64_reg, BPF_REG_6, BPF_REG_1, 0, 0)))
		return fail("check loader", "the loader does not keep its context in r6");
	for (std::size_t i = prologue_insns + 1; i < v.size(); i++)
		if (writes_r6(v[i]) || reads_ctx_descriptor(v[i]))
			return fail("check loader",
				    fmt::format("instruction {} {} its context", i,
						writes_r6(v[i]) ? "replaces" : "reads a map value from"));
	return read_loader_manifest(data);
}

std::span<const std::uint8_t> loader_body(std::span<const std::uint8_t> insns)
{
	return insns.subspan(prologue_insns * sizeof(bpf_insn));
}

} // namespace eima::bpfsign
