#include "ima/ascii_log.h"

#include <gtest/gtest.h>

#include "test_files.h"

namespace eima::ima {
namespace {

const std::string sha1_zero(40, '0');
const std::string ng_line = "10 983dcd8e6f7c84a1a5f10e762d1850623966ceab ima-ng "
			    "sha256:ae06e032a65fed8102aff5f8f31c678dcf2eb25b826f77ecb699faa0411f89e0 /init";

std::string error_of(std::string_view text)
{
	auto r = read_ascii_log(text);
	return r ? std::string("(parsed)") : r.error().message();
}

TEST(AsciiLog, SingleDigitPcrIsPadded)
{
	auto e = make_ima_ng(HashAlgo::sha256, Bytes(32, 1), "/x", 9);
	ASSERT_TRUE(e);
	std::string out;
	ASSERT_TRUE(append_ascii_entry(out, *e));
	EXPECT_EQ(out.substr(0, 3), " 9 "); // "%2d "
	auto back = read_ascii_log(out);
	ASSERT_TRUE(back) << back.error().message();
	EXPECT_EQ(back->entries[0].pcr, 9u);
	// Unpadded (some tools strip it) is read too.
	auto unpadded = read_ascii_log(out.substr(1));
	ASSERT_TRUE(unpadded);
	EXPECT_TRUE(unpadded->entries[0] == *e);
}

TEST(AsciiLog, ImaSigWithAndWithoutTrailingSpace)
{
	const std::string with = "10 5426cf3031a43f5bfca183d79950698a95a728f6 ima-sig "
				 "sha256:f1125b940480d20ad841d26d5ea253edc0704b5ec1548c891edf212cb1a9365e "
				 "/lib/usb-common.ko \n";
	auto a = read_ascii_log(with);
	ASSERT_TRUE(a) << a.error().message();
	auto b = read_ascii_log(with.substr(0, with.size() - 2) + "\n"); // no trailing space
	ASSERT_TRUE(b) << b.error().message();
	EXPECT_TRUE(a->entries == b->entries);
	EXPECT_TRUE(a->entries[0].fields[2].empty());
	// The writer prints what the kernel prints: the separator of the empty field.
	EXPECT_EQ(*write_ascii_log(*b), with);
}

TEST(AsciiLog, LastNameFieldTakesTheRestOfTheLine)
{
	// The kernel writes '_' for spaces; other producers may not. ima-ng's path is last.
	auto r = read_ascii_log(ng_line.substr(0, ng_line.size() - 5) + "/my file name\n");
	ASSERT_TRUE(r) << r.error().message();
	EXPECT_EQ(*event_name(r->entries[0]), "/my file name");
	// No final newline: still one entry.
	auto n = read_ascii_log(ng_line);
	ASSERT_TRUE(n);
	EXPECT_EQ(n->entries.size(), 1u);
	EXPECT_EQ(*event_name(n->entries[0]), "/init");
}

TEST(AsciiLog, ErrorsNameTheLine)
{
	const std::string ok = ng_line + "\n";
	struct Case {
		std::string line;
		std::string expect;
	} cases[] = {
	    {"", "line 3: expected 'PCR digest template fields'"},
	    {"x1 " + sha1_zero + " ima-ng sha256:" + std::string(64, '0') + " /a",
	     "line 3: bad PCR 'x1'"},
	    {"10 " + sha1_zero.substr(1) + "g ima-ng sha256:" + std::string(64, '0') + " /a",
	     "line 3: bad header digest hex"},
	    {"10 " + sha1_zero.substr(2) + " ima-ng sha256:" + std::string(64, '0') + " /a",
	     "line 3: header digest of 19 bytes"},
	    {"10 " + sha1_zero, "line 3: no template name"},
	    {"10 " + sha1_zero + " ima-foo abc /a", "line 3: unknown template 'ima-foo'"},
	    {"10 " + sha1_zero + " ima-ng md6:" + std::string(64, '0') + " /a",
	     "line 3: unknown digest algorithm 'md6'"},
	    {"10 " + sha1_zero + " ima-ng sha256:" + std::string(62, '0') + "zz /a",
	     "line 3: field d-ng: bad hex"},
	    {"10 " + sha1_zero + " ima-ng sha256:" + std::string(62, '1') + " /a",
	     "line 3: sha256 digest of 31 bytes, expected 32"},
	    {"10 " + sha1_zero + " ima-ng " + std::string(64, '0') + " /a",
	     "line 3: field d-ng: no 'algo:'"},
	    {"10 " + sha1_zero + " ima-ng sha256:" + std::string(64, '0'),
	     "line 3: missing field 2 (n-ng) of ima-ng"},
	    {"10 " + sha1_zero + " ima-sig sha256:" + std::string(64, '0') + " /a 0x12",
	     "line 3: field sig: bad hex '0x12'"},
	    {"10 " + sha1_zero + " ima-sig sha256:" + std::string(64, '0') + " /a 12 34",
	     "line 3: extra text after the last field of ima-sig"},
	    {"10 " + sha1_zero + " ima " + sha1_zero.substr(1) + " /a", "line 3: field d: bad hex"},
	    {"10 sha256:" + std::string(64, '0') + " ima-ng sha256:" + std::string(64, '0') + " /a",
	     "line 3: header digest format differs from the first line"},
	    {"10 sha999:" + std::string(64, '0') + " ima-ng sha256:" + std::string(64, '0') + " /a",
	     "line 3: unknown header digest algorithm 'sha999'"},
	    {"10 " + sha1_zero + " d-ng|n-ng|iuid sha256:" + std::string(64, '0') + " /a -1",
	     "line 3: field iuid: bad number '-1'"},
	};
	for (const auto &c : cases) {
		std::string m = error_of(ok + ok + c.line + "\n" + ok);
		EXPECT_NE(m.find(c.expect), std::string::npos) << "line: " << c.line << "\n got: " << m;
	}
}

TEST(AsciiLog, CustomFormatAndEvmSigFields)
{
	// A template defined by ima_template_fmt= is shown by its format string.
	const std::string line = "10 " + sha1_zero + " d-ng|n-ng|iuid|imode sha256:" +
				 std::string(64, 'a') + " /etc/passwd 1000 33188\n";
	auto r = read_ascii_log(line);
	ASSERT_TRUE(r) << r.error().message();
	const auto &f = r->entries[0].fields;
	EXPECT_EQ(f[2], (Bytes{0xe8, 0x03, 0, 0}));
	EXPECT_EQ(f[3], (Bytes{0xa4, 0x81}));
	EXPECT_EQ(*write_ascii_log(*r), line);
	// imode is 16 bits wide.
	EXPECT_NE(error_of("10 " + sha1_zero + " d-ng|n-ng|imode sha256:" + std::string(64, 'a') +
			   " /x 65536\n")
		      .find("bad number"),
		  std::string::npos);
}

} // namespace
} // namespace eima::ima
