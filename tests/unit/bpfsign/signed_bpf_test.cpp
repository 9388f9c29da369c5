// Signing a BPF object, the signed object on disk and the offline checks: everything short
// of the kernel (tests/kernel/signed_bpf_test.sh loads it in the 6.18 guest).
#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "bpfsign/loader_image.h"
#include "bpfsign/signed_file.h"
#include "bpfsign/signed_loader.h"
#include "bpfsign/signed_object.h"
#include "common/file_io.h"
#include "common/pkcs7_signature.h"

namespace eima::bpfsign {
namespace {

namespace fs = std::filesystem;

// Two keys with certificates (subject key ids), made once with the openssl command.
class SignedBpf : public ::testing::Test {
protected:
	static void SetUpTestSuite()
	{
		dir_ = new std::string(fs::temp_directory_path() /
				       ("eima-bpfsign-" + std::to_string(::getpid())));
		fs::create_directories(*dir_);
		for (const char *name : {"a", "b"}) {
			std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=" +
					  std::string(name) + " -addext subjectKeyIdentifier=hash -keyout " +
					  *dir_ + "/" + name + ".key -out " + *dir_ + "/" + name +
					  ".crt 2>/dev/null";
			ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
		}
	}
	static void TearDownTestSuite()
	{
		fs::remove_all(*dir_);
		delete dir_;
	}
	static std::string path(const std::string &name) { return *dir_ + "/" + name; }

	// The sample signed with key a into path(out).
	static LoaderImage sign_sample(const std::string &out)
	{
		auto image = make_loader_image(EIMA_SIGNED_SAMPLE_OBJ);
		EXPECT_TRUE(image) << image.error().message();
		auto signer = Pkcs7Signer::load(path("a.key"), path("a.crt"));
		EXPECT_TRUE(signer) << signer.error().message();
		auto sig = signer->sign(image->insns);
		EXPECT_TRUE(sig);
		auto w = write_signed_object(EIMA_SIGNED_SAMPLE_OBJ, path(out), *image, *sig);
		EXPECT_TRUE(w) << w.error().message();
		return *image;
	}

	static std::string *dir_;
};
std::string *SignedBpf::dir_ = nullptr;

bpf_insn insn_at(const Bytes &insns, std::size_t i)
{
	bpf_insn v;
	std::memcpy(&v, insns.data() + i * sizeof(v), sizeof(v));
	return v;
}

void set_insn(Bytes &insns, std::size_t i, const bpf_insn &v)
{
	std::memcpy(insns.data() + i * sizeof(v), &v, sizeof(v));
}

TEST_F(SignedBpf, LoaderNamesItsProgramsAndMapsAndChecksItsData)
{
	auto image = make_loader_image(EIMA_SIGNED_SAMPLE_OBJ);
	ASSERT_TRUE(image) << image.error().message();
	ASSERT_EQ(image->manifest.programs.size(), 1u);
	EXPECT_EQ(image->manifest.programs[0].name, "sample_bpf_calls");
	EXPECT_EQ(image->manifest.programs[0].type, BPF_PROG_TYPE_LSM);
	EXPECT_EQ(image->manifest.programs[0].attach_type, BPF_LSM_MAC);
	ASSERT_EQ(image->manifest.maps.size(), 2u); // sample_counts and .rodata
	EXPECT_EQ(image->manifest.maps[0].name, "sample_counts");
	EXPECT_EQ(image->data.size() % 8, 0u);
	// Generating twice gives the same bytes: a signature can be reproduced and compared.
	auto again = make_loader_image(EIMA_SIGNED_SAMPLE_OBJ);
	ASSERT_TRUE(again);
	EXPECT_EQ(again->insns, image->insns);
	EXPECT_EQ(again->data, image->data);

	auto manifest = check_loader_image(image->insns, image->data);
	ASSERT_TRUE(manifest) << manifest.error().message();
	EXPECT_EQ(manifest->object, "signed_sample.bpf.o");
	EXPECT_EQ(manifest->programs[0].section, "lsm/bpf");

	// The blob's hash is in the signed instructions: other data does not pass.
	Bytes data = image->data;
	data[0] ^= 1;
	auto bad = check_loader_image(image->insns, data);
	ASSERT_FALSE(bad);
	EXPECT_NE(bad.error().message().find("SHA-256"), std::string::npos) << bad.error().message();
}

TEST_F(SignedBpf, LoaderReadsNoMapValueFromItsContext)
{
	auto image = make_loader_image(EIMA_SIGNED_SAMPLE_OBJ);
	ASSERT_TRUE(image);
	std::size_t n = image->insns.size() / sizeof(bpf_insn);
	for (std::size_t i = 21; i < n; i++) {
		bpf_insn v = insn_at(image->insns, i);
		bool ldx_ctx = BPF_CLASS(v.code) == BPF_LDX && v.src_reg == BPF_REG_6;
		EXPECT_FALSE(ldx_ctx && v.off >= 24) << "instruction " << i << " off " << v.off;
	}
	// One put back (initial_value of map 0, as libbpf 1.1 writes it) is found.
	bpf_insn read{};
	read.code = BPF_LDX | BPF_MEM | BPF_DW;
	read.dst_reg = BPF_REG_3;
	read.src_reg = BPF_REG_6;
	read.off = 24 + 8;
	Bytes insns = image->insns;
	set_insn(insns, n - 3, read);
	auto bad = check_loader_image(insns, image->data);
	ASSERT_FALSE(bad);
	EXPECT_NE(bad.error().message().find("reads a map value from its context"),
		  std::string::npos)
		<< bad.error().message();
}

TEST_F(SignedBpf, ChangedPrologueIsNotEimasHashCheck)
{
	auto image = make_loader_image(EIMA_SIGNED_SAMPLE_OBJ);
	ASSERT_TRUE(image);
	Bytes insns = image->insns;
	insns[19 * 8 + 4] ^= 1; // the -EBADMSG of the failure path
	auto bad = check_loader_image(insns, image->data);
	ASSERT_FALSE(bad);
	EXPECT_NE(bad.error().message().find("instruction 19"), std::string::npos);
	EXPECT_FALSE(check_loader_image(Bytes(insns.begin(), insns.begin() + 8 * 21), image->data));
	EXPECT_FALSE(check_loader_image(Bytes(insns.begin(), insns.end() - 3), image->data));
}

TEST_F(SignedBpf, ManifestErrorsAreClear)
{
	auto image = make_loader_image(EIMA_SIGNED_SAMPLE_OBJ);
	ASSERT_TRUE(image);
	// A blob whose trailer lies, re-hashed so that only the manifest is wrong.
	auto with = [&](Bytes data) {
		LoaderImage copy = *image;
		copy.data = std::move(data);
		Sha256 h = blob_sha256(copy.data);
		for (int k = 0; k < 4; k++) { // the prologue's ld_imm64 immediates
			std::uint64_t dw;
			std::memcpy(&dw, h.data() + 8 * k, 8);
			bpf_insn lo = insn_at(copy.insns, 3 + 4 * k), hi = insn_at(copy.insns, 4 + 4 * k);
			lo.imm = static_cast<std::int32_t>(dw);
			hi.imm = static_cast<std::int32_t>(dw >> 32);
			set_insn(copy.insns, 3 + 4 * k, lo);
			set_insn(copy.insns, 4 + 4 * k, hi);
		}
		return check_loader_image(copy.insns, copy.data);
	};
	ASSERT_TRUE(with(image->data)); // the re-hashing itself is right
	Bytes d = image->data;
	d[d.size() - 16] = 'X';
	EXPECT_NE(with(d).error().message().find("no eima manifest"), std::string::npos);
	d = image->data;
	d[d.size() - 1] = 0x7f; // the length runs past the blob
	EXPECT_NE(with(d).error().message().find("runs past"), std::string::npos);
	d = image->data;
	std::uint32_t off;
	std::memcpy(&off, d.data() + d.size() - 8, 4);
	d[off] = '[';
	EXPECT_NE(with(d).error().message().find("not JSON"), std::string::npos);
	EXPECT_FALSE(with(Bytes(8, 0)));
}

TEST_F(SignedBpf, SignVerifyRoundTripAndOtherSigners)
{
	LoaderImage image = sign_sample("signed.o");
	auto obj = read_signed_object(path("signed.o"));
	ASSERT_TRUE(obj) << obj.error().message();
	EXPECT_EQ(obj->insns, image.insns);
	EXPECT_EQ(obj->data, image.data);
	EXPECT_TRUE(verify_pkcs7_detached(obj->insns, obj->signature, path("a.crt"), "loader"));
	auto other = verify_pkcs7_detached(obj->insns, obj->signature, path("b.crt"), "loader");
	ASSERT_FALSE(other);
	EXPECT_NE(other.error().message().find("bad signature"), std::string::npos);
	Bytes changed = obj->insns;
	changed[30 * 8 + 4] ^= 1;
	EXPECT_FALSE(verify_pkcs7_detached(changed, obj->signature, path("a.crt"), "loader"));
	Bytes truncated(obj->signature.begin(), obj->signature.end() - 10);
	auto t = verify_pkcs7_detached(obj->insns, truncated, path("a.crt"), "loader");
	ASSERT_FALSE(t);
	EXPECT_NE(t.error().message().find("not DER PKCS#7"), std::string::npos);
	Bytes trailing = obj->signature;
	trailing.push_back(0);
	auto tr = verify_pkcs7_detached(obj->insns, trailing, path("a.crt"), "loader");
	ASSERT_FALSE(tr);
	EXPECT_NE(tr.error().message().find("bytes after the signature"), std::string::npos);
	// The signature names its signer by subject key id, as the kernel needs.
	auto skid = pkcs7_signer_key_id(obj->signature);
	ASSERT_TRUE(skid);
	auto signer = Pkcs7Signer::load(path("a.key"), path("a.crt"));
	ASSERT_TRUE(signer);
	EXPECT_EQ(*skid, signer->subject_key_id());
	// The signed object is still an object libbpf opens: its programs are unchanged.
	auto reimage = make_loader_image(path("signed.o"));
	ASSERT_TRUE(reimage) << reimage.error().message();
	EXPECT_EQ(reimage->manifest.programs.size(), 1u);
}

TEST_F(SignedBpf, SignedObjectErrors)
{
	sign_sample("signed2.o");
	auto image = make_loader_image(EIMA_SIGNED_SAMPLE_OBJ);
	ASSERT_TRUE(image);
	Bytes sig{1, 2, 3};
	auto again = write_signed_object(path("signed2.o"), path("twice.o"), *image, sig);
	ASSERT_FALSE(again);
	EXPECT_NE(again.error().message().find("already has a .eima.loader section"),
		  std::string::npos);
	EXPECT_FALSE(fs::exists(path("twice.o.tmp")));

	auto unsigned_obj = read_signed_object(EIMA_SIGNED_SAMPLE_OBJ);
	ASSERT_FALSE(unsigned_obj);
	EXPECT_NE(unsigned_obj.error().message().find("no .eima.loader section"), std::string::npos);

	ASSERT_TRUE(write_file(path("text.o"), std::string("not an object\n")));
	auto text = read_signed_object(path("text.o"));
	ASSERT_FALSE(text);
	EXPECT_NE(text.error().message().find("not an ELF file"), std::string::npos);

	// Every truncation of a signed object is an error, never a crash.
	auto whole = read_file(path("signed2.o"));
	ASSERT_TRUE(whole);
	for (std::size_t len = 0; len < whole->size(); len += 1 + len / 16) {
		ASSERT_TRUE(write_file(path("cut.o"), std::string_view(*whole).substr(0, len)));
		EXPECT_FALSE(read_signed_object(path("cut.o"))) << len;
	}
	auto missing = make_loader_image(path("nonexistent.o"));
	EXPECT_FALSE(missing);
	auto not_elf = make_loader_image(path("text.o"));
	EXPECT_FALSE(not_elf);
	auto no_cert = Pkcs7Signer::load(path("a.key"), path("b.crt"));
	ASSERT_FALSE(no_cert);
	EXPECT_NE(no_cert.error().message().find("is not the key of"), std::string::npos);
}

TEST_F(SignedBpf, ASignedFileIsReadOnceAndHashedAsRead)
{
	LoaderImage image = sign_sample("file.o");
	auto file = read_signed_file(path("file.o"));
	ASSERT_TRUE(file) << file.error().message();
	auto bytes = read_file(path("file.o"));
	ASSERT_TRUE(bytes);
	EXPECT_EQ(file->path, path("file.o"));
	EXPECT_EQ(file->bytes, Bytes(bytes->begin(), bytes->end()));
	EXPECT_EQ(file->sha256, sha256(as_bytes(*bytes)));
	EXPECT_EQ(file->object.insns, image.insns);
	EXPECT_EQ(file->object.data, image.data);
	EXPECT_EQ(file->manifest.programs.size(), image.manifest.programs.size());

	auto missing = read_signed_file(path("nonexistent.o"));
	ASSERT_FALSE(missing);
	EXPECT_NE(missing.error().message().find(path("nonexistent.o")), std::string::npos);
	auto unsigned_obj = read_signed_file(EIMA_SIGNED_SAMPLE_OBJ);
	ASSERT_FALSE(unsigned_obj);
	EXPECT_NE(unsigned_obj.error().message().find("no .eima.loader section"), std::string::npos);

	// Each path refuses to load with nothing to check the signature against, before it
	// asks the kernel anything.
	auto native = load_signed_file(*file, SigningContext{SigningPath::native, std::nullopt,
							      path("a.crt")});
	ASSERT_FALSE(native);
	EXPECT_NE(native.error().message().find("no keyring"), std::string::npos);
	auto tl = load_signed_file(*file, SigningContext{SigningPath::trusted_loader,
							  std::nullopt, ""});
	ASSERT_FALSE(tl);
	EXPECT_NE(tl.error().message().find("give the certificate"), std::string::npos);
}

// What attach_program refuses before it asks the kernel for anything: a program type it
// does not attach, and a tracepoint tracefs does not have. Each error names the program.
TEST(AttachProgram, RefusesWhatItCannotAttachNamingIt)
{
	LoaderProgram kprobe{"eima_kp", "kprobe/do_sys_open", BPF_PROG_TYPE_KPROBE, 0};
	auto r = attach_program(-1, kprobe);
	ASSERT_FALSE(r);
	EXPECT_EQ(r.error().err, EOPNOTSUPP);
	EXPECT_NE(r.error().message().find("eima_kp"), std::string::npos) << r.error().message();
	EXPECT_NE(r.error().message().find("kprobe/do_sys_open"), std::string::npos);

	// A tracepoint program whose section names no tracepoint is not guessed at.
	LoaderProgram bare{"eima_bare", "tracepoint", BPF_PROG_TYPE_TRACEPOINT, 0};
	r = attach_program(-1, bare);
	ASSERT_FALSE(r);
	EXPECT_EQ(r.error().err, EOPNOTSUPP);

	for (const char *section : {"tracepoint/eima_no_such/event", "tp/eima_no_such/event"}) {
		LoaderProgram missing{"eima_tp", section, BPF_PROG_TYPE_TRACEPOINT, 0};
		r = attach_program(-1, missing);
		ASSERT_FALSE(r) << section;
		EXPECT_EQ(r.error().err, ENOENT) << section;
		EXPECT_NE(r.error().message().find("eima_tp: eima_no_such/event"), std::string::npos)
			<< r.error().message();
		EXPECT_NE(r.error().message().find("tracefs"), std::string::npos);
	}
}

} // namespace
} // namespace eima::bpfsign
