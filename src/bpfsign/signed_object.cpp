#include "bpfsign/signed_object.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include <fmt/format.h>

#include "common/file_io.h"
#include "common/unique_fd.h"

namespace eima::bpfsign {
namespace {

struct ElfCloser {
	void operator()(Elf *e) const { elf_end(e); }
};
using ElfPtr = std::unique_ptr<Elf, ElfCloser>;

std::string elf_error()
{
	const char *m = elf_errmsg(-1);
	return m ? m : "libelf gave no reason";
}

bool is_eima_section(const char *name)
{
	return std::strcmp(name, loader_section) == 0 ||
	       std::strcmp(name, loader_data_section) == 0 ||
	       std::strcmp(name, signature_section) == 0;
}

// The BPF ELF objects clang writes: 64-bit, EM_BPF, relocatable.
Result<void> check_bpf_elf(Elf *elf, const std::string &path)
{
	if (elf_kind(elf) != ELF_K_ELF)
		return fail("read BPF object", path + ": not an ELF file");
	GElf_Ehdr ehdr;
	if (!gelf_getehdr(elf, &ehdr))
		return fail("read BPF object", path + ": " + elf_error());
	if (ehdr.e_ident[EI_CLASS] != ELFCLASS64 || ehdr.e_machine != EM_BPF)
		return fail("read BPF object", path + ": not a 64-bit BPF object (EM_BPF)");
	return {};
}

} // namespace

Result<void> write_signed_object(const std::string &object_path, const std::string &out_path,
				 const LoaderImage &image, const Bytes &signature)
{
	auto original = read_file(object_path);
	if (!original)
		return std::unexpected(original.error());
	elf_version(EV_CURRENT);
	std::string tmp = out_path + ".tmp";
	if (auto w = write_file(tmp, *original); !w)
		return std::unexpected(w.error());
	auto remove_tmp = [&] { ::unlink(tmp.c_str()); };
	UniqueFd fd(::open(tmp.c_str(), O_RDWR | O_CLOEXEC));
	if (!fd) {
		int err = errno;
		remove_tmp();
		return fail(err, "open", tmp);
	}
	auto add_sections = [&]() -> Result<void> {
		ElfPtr elf(elf_begin(fd.get(), ELF_C_RDWR, nullptr));
		if (!elf)
			return fail("read BPF object", object_path + ": " + elf_error());
		if (auto ok = check_bpf_elf(elf.get(), object_path); !ok)
			return ok;
		std::size_t shstrndx = 0;
		if (elf_getshdrstrndx(elf.get(), &shstrndx) != 0)
			return fail("read BPF object", object_path + ": " + elf_error());
		for (Elf_Scn *s = elf_nextscn(elf.get(), nullptr); s; s = elf_nextscn(elf.get(), s)) {
			GElf_Shdr sh;
			const char *name = gelf_getshdr(s, &sh)
						   ? elf_strptr(elf.get(), shstrndx, sh.sh_name)
						   : nullptr;
			if (name && is_eima_section(name))
				return fail("sign BPF object",
					    fmt::format("{}: already has a {} section (sign the "
							"unsigned object)",
							object_path, name));
		}
		Elf_Scn *strscn = elf_getscn(elf.get(), shstrndx);
		GElf_Shdr strsh;
		if (!strscn || !gelf_getshdr(strscn, &strsh))
			return fail("read BPF object", object_path + ": " + elf_error());
		struct NewSection {
			const char *name;
			const Bytes *bytes;
		};
		const NewSection sections[] = {{loader_section, &image.insns},
					       {loader_data_section, &image.data},
					       {signature_section, &signature}};
		// The names appended to the section-name table, one Elf_Data per name; they must
		// live until elf_update.
		std::size_t name_off = strsh.sh_size;
		for (const auto &ns : sections) {
			Elf_Data *nd = elf_newdata(strscn);
			Elf_Scn *scn = elf_newscn(elf.get());
			if (!nd || !scn)
				return fail("write signed object", elf_error());
			nd->d_buf = const_cast<char *>(ns.name);
			nd->d_size = std::strlen(ns.name) + 1;
			nd->d_align = 1;
			nd->d_type = ELF_T_BYTE;
			Elf_Data *d = elf_newdata(scn);
			GElf_Shdr sh{};
			if (!d || !gelf_getshdr(scn, &sh))
				return fail("write signed object", elf_error());
			d->d_buf = const_cast<std::uint8_t *>(ns.bytes->data());
			d->d_size = ns.bytes->size();
			d->d_align = 8;
			d->d_type = ELF_T_BYTE;
			sh.sh_name = static_cast<GElf_Word>(name_off);
			sh.sh_type = SHT_PROGBITS;
			sh.sh_flags = 0; // not loaded, not a program: libbpf skips it
			sh.sh_addralign = 8;
			if (!gelf_update_shdr(scn, &sh))
				return fail("write signed object", elf_error());
			name_off += nd->d_size;
		}
		strsh.sh_size = name_off;
		if (!gelf_update_shdr(strscn, &strsh) || elf_update(elf.get(), ELF_C_WRITE) < 0)
			return fail("write signed object", tmp + ": " + elf_error());
		return {};
	};
	auto added = add_sections();
	fd.reset();
	if (!added) {
		remove_tmp();
		return added;
	}
	if (std::rename(tmp.c_str(), out_path.c_str()) != 0) {
		int err = errno;
		remove_tmp();
		return fail(err, "rename", tmp + " to " + out_path);
	}
	return {};
}

Result<UnverifiedSignedObject> read_signed_object(const std::string &path)
{
	auto bytes = read_file(path);
	if (!bytes)
		return std::unexpected(bytes.error());
	return parse_signed_object(as_bytes(*bytes), path);
}

Result<UnverifiedSignedObject> parse_signed_object(std::span<const std::uint8_t> bytes,
						   const std::string &path)
{
	elf_version(EV_CURRENT);
	// From memory: libelf checks every header against the buffer's size, so a truncated or
	// lying file is an error here, never a read past its end. libelf does not write to a
	// buffer opened for reading.
	ElfPtr elf(elf_memory(const_cast<char *>(reinterpret_cast<const char *>(bytes.data())),
			      bytes.size()));
	if (!elf)
		return fail("read signed BPF object", path + ": " + elf_error());
	if (auto ok = check_bpf_elf(elf.get(), path); !ok)
		return std::unexpected(ok.error());
	std::size_t shstrndx = 0;
	if (elf_getshdrstrndx(elf.get(), &shstrndx) != 0)
		return fail("read signed BPF object", path + ": " + elf_error());
	UnverifiedSignedObject out;
	struct Wanted {
		const char *name;
		Bytes *into;
		bool seen = false;
	} wanted[] = {{loader_section, &out.insns},
		      {loader_data_section, &out.data},
		      {signature_section, &out.signature}};
	for (Elf_Scn *s = elf_nextscn(elf.get(), nullptr); s; s = elf_nextscn(elf.get(), s)) {
		GElf_Shdr sh;
		if (!gelf_getshdr(s, &sh))
			return fail("read signed BPF object", path + ": " + elf_error());
		const char *name = elf_strptr(elf.get(), shstrndx, sh.sh_name);
		if (!name)
			return fail("read signed BPF object",
				    fmt::format("{}: section {} has no name", path, elf_ndxscn(s)));
		for (auto &w : wanted) {
			if (std::strcmp(name, w.name) != 0)
				continue;
			if (w.seen)
				return fail("read signed BPF object",
					    fmt::format("{}: two {} sections", path, name));
			w.seen = true;
			Elf_Data *d = elf_getdata(s, nullptr);
			if (sh.sh_type != SHT_PROGBITS || !d || !d->d_buf || d->d_size == 0)
				return fail("read signed BPF object",
					    fmt::format("{}: section {} is empty or unreadable{}", path,
							name, d ? "" : ": " + elf_error()));
			auto *p = static_cast<const std::uint8_t *>(d->d_buf);
			w.into->assign(p, p + d->d_size);
		}
	}
	for (auto &w : wanted)
		if (!w.seen)
			return fail("read signed BPF object",
				    fmt::format("{}: no {} section (not signed by eima bpf sign)", path,
						w.name));
	return out;
}

} // namespace eima::bpfsign
