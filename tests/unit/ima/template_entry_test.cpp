#include "ima/template_entry.h"

#include <gtest/gtest.h>

#include "ima/ascii_log.h"
#include "test_files.h"

namespace eima::ima {
namespace {

Bytes hex(std::string_view h) { return *from_hex(h); }

// Every constructor must rebuild real kernel entries of the corpus bit for bit: the header
// digest (SHA-1 of the template data) is the check.
TEST(TemplateEntry, ImaNgRebuildsKernelEntry)
{
	// ima-evm-utils tests/test_ascii_runtime_measurements, line 2.
	auto e = make_ima_ng(HashAlgo::sha256,
			     hex("ae06e032a65fed8102aff5f8f31c678dcf2eb25b826f77ecb699faa0411f89e0"),
			     "/init");
	ASSERT_TRUE(e) << e.error().message();
	EXPECT_EQ(to_hex(e->template_hash_sha1), "983dcd8e6f7c84a1a5f10e762d1850623966ceab");
	ASSERT_EQ(e->fields.size(), 2u);
	EXPECT_EQ(test::as_string(e->fields[0]).substr(0, 8), std::string("sha256:\0", 8));
	EXPECT_EQ(e->fields[0].size(), 8u + 32u);
	EXPECT_EQ(test::as_string(e->fields[1]), std::string("/init\0", 6));
	EXPECT_EQ(template_data(*e).size(), 4u + 40u + 4u + 6u);
	EXPECT_FALSE(is_violation(*e));
	EXPECT_EQ(*event_name(*e), "/init");
	auto d = file_digest(*e);
	ASSERT_TRUE(d);
	EXPECT_EQ(d->algo, HashAlgo::sha256);
	EXPECT_EQ(d->algo_name, "sha256");
	EXPECT_EQ(to_hex(d->digest), "ae06e032a65fed8102aff5f8f31c678dcf2eb25b826f77ecb699faa0411f89e0");
}

TEST(TemplateEntry, ImaSigRebuildsKernelEntries)
{
	// keylime test_ima_ast.py: ima-sig without a signature (the line ends in a space)...
	auto nosig = make_ima_sig(
	    HashAlgo::sha256, hex("f1125b940480d20ad841d26d5ea253edc0704b5ec1548c891edf212cb1a9365e"),
	    "/lib/modules/5.4.48-openpower1/kernel/drivers/usb/common/usb-common.ko", {});
	ASSERT_TRUE(nosig);
	EXPECT_EQ(to_hex(nosig->template_hash_sha1), "5426cf3031a43f5bfca183d79950698a95a728f6");
	EXPECT_TRUE(signature(*nosig)->empty());
	// ...and with an EC signature.
	auto sig = hex("030204531f402500483046022100fe24678d21083ead47660e1a2d553a592d777c478d1b0466de"
		       "6ed484b54956b3022100cad3adb37f277bbb03544d6107751b4cd4f2289d8353fa36257400a9"
		       "9334d5c3");
	auto withsig = make_ima_sig(
	    HashAlgo::sha256, hex("b8ae0b8dd04a5935cd8165aa2260cd11b658bd71629bdb52256a675a1f73907b"),
	    "/usr/bin/zmore", sig);
	ASSERT_TRUE(withsig);
	EXPECT_EQ(to_hex(withsig->template_hash_sha1), "5d4d5141ccd5066d50dc3f21d79ba02fedc24256");
	auto got = *signature(*withsig);
	EXPECT_EQ(Bytes(got.begin(), got.end()), sig);
}

TEST(TemplateEntry, LegacyImaRebuildsKernelEntry)
{
	auto e = make_ima(hex("6f66d1d8e2fffcc12dfcb78c04b81fe5b8bbae4e"), "/usr/bin/kmod");
	ASSERT_TRUE(e);
	EXPECT_EQ(to_hex(e->template_hash_sha1), "d7026dc672344d3ee372217bdbc7395947788671");
	// 'ima' template data: digest, then the name padded to IMA_EVENT_NAME_LEN_MAX + 1.
	EXPECT_EQ(template_data(*e).size(), 20u + 256u);
	EXPECT_EQ(file_digest(*e)->algo, HashAlgo::sha1);
	EXPECT_EQ(*event_name(*e), "/usr/bin/kmod");
	// Over 255 bytes the kernel records the file's own name.
	std::string long_path = "/" + std::string(300, 'a') + "/leaf";
	EXPECT_EQ(*event_name(*make_ima(hex("6f66d1d8e2fffcc12dfcb78c04b81fe5b8bbae4e"), long_path)),
		  "leaf");
	EXPECT_FALSE(make_ima(hex("00"), "/x")); // not a SHA-1 digest
}

TEST(TemplateEntry, ImaBufRebuildsKernelEntry)
{
	const std::string line =
	    test::read_text(EIMA_IMA_CORPUS_DIR
			    "/keylime-test_ima_ast-valid-entries.ascii_runtime_measurements");
	// Line 4 is the ima-buf entry "device_resume".
	std::size_t start = 0;
	for (int i = 0; i < 3; ++i)
		start = line.find('\n', start) + 1;
	std::string buf_line = line.substr(start, line.find('\n', start) - start);
	std::string buf_hex = buf_line.substr(buf_line.rfind(' ') + 1);
	auto e = make_ima_buf(HashAlgo::sha1, hex("6e0e6fc8a188ef4f059638949adca4d221946906"),
			      "device_resume", hex(buf_hex));
	ASSERT_TRUE(e);
	EXPECT_EQ(to_hex(e->template_hash_sha1), "b7862dbbf1383ac6c7cca7f02d981a081aacb1f1");
	std::string printed;
	ASSERT_TRUE(append_ascii_entry(printed, *e));
	EXPECT_EQ(printed, buf_line + "\n");
}

TEST(TemplateEntry, BootAggregate)
{
	// keylime-tests ima_log.txt line 1: no TPM, so a zero sha256 boot_aggregate.
	auto e = make_boot_aggregate(HashAlgo::sha256, Bytes(32, 0));
	ASSERT_TRUE(e);
	EXPECT_EQ(to_hex(e->template_hash_sha1), "0adefe762c149c7cec19da62f0da1297fcfbffff");
	EXPECT_EQ(*event_name(*e), "boot_aggregate");

	// sha1 covers PCR0-7, other banks PCR0-9 (ima_calc_boot_aggregate_tfm).
	std::vector<Bytes> pcrs1(10, Bytes(20, 0x11));
	EXPECT_EQ(*compute_boot_aggregate(HashAlgo::sha1, pcrs1),
		  *digest(HashAlgo::sha1, Bytes(160, 0x11)));
	std::vector<Bytes> pcrs256(10, Bytes(32, 0x22));
	EXPECT_EQ(*compute_boot_aggregate(HashAlgo::sha256, pcrs256),
		  *digest(HashAlgo::sha256, Bytes(320, 0x22)));
	pcrs256.resize(8);
	EXPECT_FALSE(compute_boot_aggregate(HashAlgo::sha256, pcrs256));
	EXPECT_FALSE(compute_boot_aggregate(HashAlgo::sha1, pcrs256)); // wrong size values
}

TEST(TemplateEntry, SpacesInNamesBecomeUnderscores)
{
	auto e = make_ima_ng(HashAlgo::sha256, Bytes(32, 1), "/tmp/a b/c d");
	ASSERT_TRUE(e);
	EXPECT_EQ(*event_name(*e), "/tmp/a_b/c_d");
}

TEST(TemplateEntry, ViolationLooksLikeTheKernels)
{
	auto v = make_violation("ima-ng", HashAlgo::sha256, "/var/log/app.log");
	ASSERT_TRUE(v);
	EXPECT_TRUE(is_violation(*v));
	EXPECT_EQ(v->template_hash_sha1, Bytes(20, 0));
	// "sha256:" '\0' and IMA_DIGEST_SIZE (20) zero bytes, not 32.
	EXPECT_EQ(v->fields[0].size(), 8u + 20u);
	std::string line;
	ASSERT_TRUE(append_ascii_entry(line, *v));
	EXPECT_EQ(line, "10 0000000000000000000000000000000000000000 ima-ng "
			"sha256:0000000000000000000000000000000000000000 /var/log/app.log\n");
	EXPECT_EQ(*template_hash(*v, HashAlgo::sha256), Bytes(32, 0xff));
	EXPECT_EQ(*template_hash(*v, HashAlgo::sha1), Bytes(20, 0xff));
	EXPECT_EQ(*expected_header_digest(*v), Bytes(20, 0));

	auto vs = make_violation("ima-sig", HashAlgo::sha256, "/x");
	ASSERT_TRUE(vs);
	EXPECT_EQ(vs->fields.size(), 3u);
	EXPECT_TRUE(vs->fields[2].empty());
	auto vi = make_violation("ima", HashAlgo::sha1, "/x");
	ASSERT_TRUE(vi);
	EXPECT_EQ(vi->fields[0], Bytes(20, 0));
	EXPECT_FALSE(make_violation("no-such-template", HashAlgo::sha1, "/x"));
}

TEST(TemplateEntry, TemplateHashPerBank)
{
	auto e = make_ima_ng(HashAlgo::sha256, Bytes(32, 7), "/bin/true");
	ASSERT_TRUE(e);
	// Every bank hashes the same template data; the sha256 bank is not the padded SHA-1.
	Bytes data = template_data(*e);
	for (HashAlgo a : all_hash_algos)
		EXPECT_EQ(*template_hash(*e, a), *digest(a, data)) << hash_algo_name(a);
	EXPECT_EQ(*template_hash(*e, HashAlgo::sha1), e->template_hash_sha1);
}

TEST(TemplateEntry, Layouts)
{
	EXPECT_EQ(template_layout("ima-ng")->count, 2u);
	EXPECT_EQ(template_layout("evm-sig")->count, 9u);
	auto custom = template_layout("d-ng|n-ng|sig"); // ima_template_fmt= templates show the fmt
	ASSERT_TRUE(custom);
	EXPECT_EQ(custom->count, 3u);
	EXPECT_EQ(custom->fields[2].id, "sig");
	auto bad = template_layout("ima-foo");
	ASSERT_FALSE(bad);
	EXPECT_NE(bad.error().message().find("ima-foo"), std::string::npos);
	EXPECT_FALSE(template_layout(""));
	EXPECT_FALSE(template_layout("d-ng|"));
}

TEST(TemplateEntry, DigestFieldParsing)
{
	// DigestView points into the field: keep the fields alive.
	const Bytes no_prefix{'s', 'h', 'a'}, unknown{'x', 'x', ':', 0, 1, 2},
	    short_md5{'m', 'd', '5', ':', 0, 1, 2};
	Bytes md5_field{'m', 'd', '5', ':', 0}, v2_field{'i', 'm', 'a', ':', 's', 'h', 'a', '1', ':', 0};
	md5_field.insert(md5_field.end(), 16, 0xaa);
	v2_field.insert(v2_field.end(), 20, 0xbb);
	EXPECT_FALSE(parse_digest_ng(short_md5)); // 2 bytes is no md5 digest
	EXPECT_FALSE(parse_digest_ng(no_prefix));
	EXPECT_FALSE(parse_digest_ng(unknown));
	auto md5 = parse_digest_ng(md5_field); // a kernel algorithm, not one eima hashes with
	ASSERT_TRUE(md5);
	EXPECT_EQ(md5->algo, std::nullopt);
	EXPECT_EQ(md5->algo_name, "md5");
	auto v2 = parse_digest_ng(v2_field);
	ASSERT_TRUE(v2);
	EXPECT_EQ(v2->prefix, "ima:sha1");
	EXPECT_EQ(v2->algo, HashAlgo::sha1);
	EXPECT_EQ(v2->digest.size(), 20u);
}

} // namespace
} // namespace eima::ima
