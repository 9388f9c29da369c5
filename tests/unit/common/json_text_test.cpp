// The JSON byte encoding (docs/json-bytes.md): valid UTF-8 untouched, each byte that starts
// no valid sequence as \udc80..\udcff, and back, for every kind of invalid UTF-8.
#include "common/json_text.h"

#include <gtest/gtest.h>

namespace eima {
namespace {

using nlohmann::json;

std::string literal(std::string_view s)
{
	return json_string_literal(s);
}

std::string round_trip(const std::string &s)
{
	json j = {{"key", s}, {s, {s}}};
	auto back = json_parse(json_dump(j, 2), "test");
	EXPECT_TRUE(back) << (back ? "" : back.error().message());
	if (!back)
		return {};
	EXPECT_EQ(back->at("key").get<std::string>(), s);
	EXPECT_TRUE(back->contains(s));
	EXPECT_EQ(*back, j);
	return back->at("key").get<std::string>();
}

TEST(Utf8, SequenceLengths)
{
	EXPECT_EQ(utf8_sequence_length("a", 0), 1u);
	EXPECT_EQ(utf8_sequence_length("\xc3\xa9", 0), 2u);         // é
	EXPECT_EQ(utf8_sequence_length("\xe2\x82\xac", 0), 3u);     // €
	EXPECT_EQ(utf8_sequence_length("\xf0\x9f\x98\x80", 0), 4u); // U+1F600
	EXPECT_EQ(utf8_sequence_length("\xf4\x8f\xbf\xbf", 0), 4u); // U+10FFFF
	EXPECT_EQ(utf8_sequence_length("\xed\x9f\xbf", 0), 3u);     // U+D7FF
}

TEST(Utf8, RejectsEveryInvalidForm)
{
	for (std::string_view bad : {
		     std::string_view("\x80", 1),             // lone continuation byte
		     std::string_view("\xbf", 1),             // lone continuation byte
		     std::string_view("\xc0\x80", 2),         // overlong NUL
		     std::string_view("\xc1\xbf", 2),         // overlong
		     std::string_view("\xe0\x80\xaf", 3),     // overlong '/'
		     std::string_view("\xf0\x80\x80\xaf", 4), // overlong '/'
		     std::string_view("\xed\xa0\x80", 3),     // surrogate U+D800
		     std::string_view("\xed\xbf\xbf", 3),     // surrogate U+DFFF
		     std::string_view("\xf4\x90\x80\x80", 4), // U+110000
		     std::string_view("\xf5\x80\x80\x80", 4), // no such lead byte
		     std::string_view("\xff", 1),
		     std::string_view("\xfe", 1),
		     std::string_view("\xe2\x82", 2), // truncated
		     std::string_view("\xc3", 1),     // truncated at the end
		     std::string_view("\xc3" "a", 2), // lead byte without continuation
	     }) {
		EXPECT_FALSE(is_valid_utf8(bad)) << json_string_literal(bad);
		EXPECT_EQ(utf8_sequence_length(bad, 0), 0u) << json_string_literal(bad);
	}
	EXPECT_TRUE(is_valid_utf8(""));
	EXPECT_TRUE(is_valid_utf8(std::string_view("a\0b", 3)));
}

TEST(JsonText, ValidUtf8IsWrittenAsNlohmannWritesIt)
{
	json j = {{"path", "/usr/bin/caf\xc3\xa9"}, {"n", 1},  {"f", 1.5}, {"b", true},
		  {"z", nullptr},                     {"a", json::array()}, {"o", json::object()},
		  {"nested", {{"x", {1, "\t\"\\"}}}}};
	EXPECT_EQ(json_dump(j), j.dump());
	EXPECT_EQ(json_dump(j, 2), j.dump(2));
	EXPECT_EQ(json_dump(j, 4), j.dump(4));
	EXPECT_EQ(json_dump(json("x")), "\"x\"");
}

TEST(JsonText, EachUndecodableByteIsOneSurrogateEscape)
{
	EXPECT_EQ(literal("/bin/\xff"), "\"/bin/\\udcff\"");
	EXPECT_EQ(literal("\x80"), "\"\\udc80\"");
	// The valid parts around the bytes stay as they are (é, control characters escaped).
	EXPECT_EQ(literal("\xc3\xa9\xff\n"), "\"\xc3\xa9\\udcff\\n\"");
	// Overlong and surrogate forms: every byte of them, since none starts a valid sequence.
	EXPECT_EQ(literal("\xc0\xaf"), "\"\\udcc0\\udcaf\"");
	EXPECT_EQ(literal("\xed\xa0\x80"), "\"\\udced\\udca0\\udc80\"");
	// A truncated sequence followed by ASCII: the ASCII is kept.
	EXPECT_EQ(literal("\xe2\x82" "a"), "\"\\udce2\\udc82a\"");
	// A valid sequence right after an invalid byte is kept whole.
	EXPECT_EQ(literal("\xff\xe2\x82\xac"), "\"\\udcff\xe2\x82\xac\"");
}

TEST(JsonText, DumpNeverThrowsOnInvalidBytes)
{
	json j = {{"\xff", "\xfe"}, {"list", {"\x80", "ok"}}};
	EXPECT_THROW((void)j.dump(), json::type_error); // what eima used to do
	EXPECT_EQ(json_dump(j), "{\"list\":[\"\\udc80\",\"ok\"],\"\\udcff\":\"\\udcfe\"}");
}

TEST(JsonText, RoundTripsEveryByteString)
{
	round_trip("/bin/\xff");
	round_trip(std::string("\0\xff\0", 3));
	round_trip("\xc0\x80\xed\xa0\x80\xed\xbf\xbf\xf4\x90\x80\x80\xf8\x88\x80\x80\x80");
	round_trip("\x80\x81\xbf");
	round_trip("\xe2\x82");
	std::string all;
	for (int b = 0; b < 256; ++b)
		all += static_cast<char>(b);
	round_trip(all);
	// Every byte pair, so every lead byte meets every follower.
	for (int a = 0x80; a < 256; ++a)
		for (int b = 0; b < 256; b += 7)
			round_trip(std::string{static_cast<char>(a), static_cast<char>(b)});
}

TEST(JsonText, StringsThatLookLikeTheEscapeStayThemselves)
{
	// A valid string holding the text of an escape is a backslash and letters, not a byte.
	std::string text = "\\udcff";
	EXPECT_EQ(literal(text), "\"\\\\udcff\"");
	EXPECT_EQ(round_trip(text), text);
	EXPECT_EQ(round_trip("\\\\udcff\xff"), "\\\\udcff\xff");
	// A surrogate pair whose low half is in the escape range is a real character (U+1F4FF).
	auto pair = json_parse("\"\\ud83d\\udcff\"", "t");
	ASSERT_TRUE(pair);
	EXPECT_EQ(pair->get<std::string>(), "\xf0\x9f\x93\xbf");
	// Private-use characters in the text (what the parser uses internally) are kept.
	std::string pua = "\xee\x80\x80\xef\xa3\xbf\xef\x9e\x80";
	EXPECT_EQ(round_trip(pua + "\xff"), pua + "\xff");
	auto escaped_pua = json_parse("[\"\\ue000\\udc80\", \"\\ue07f\"]", "t");
	ASSERT_TRUE(escaped_pua);
	EXPECT_EQ((*escaped_pua)[0].get<std::string>(), "\xee\x80\x80\x80");
	EXPECT_EQ((*escaped_pua)[1].get<std::string>(), "\xee\x81\xbf");
}

TEST(JsonText, ReadsWhatPythonWrites)
{
	// json.dumps(os.fsdecode(b"/x/\xff\xfe")) == '"/x/\\udcff\\udcfe"'; upper-case hex too.
	auto j = json_parse("{\"/x/\\udcff\\uDCFE\": [\"\\udc80\"]}", "t");
	ASSERT_TRUE(j);
	EXPECT_EQ(j->begin().key(), "/x/\xff\xfe");
	EXPECT_EQ((*j)["/x/\xff\xfe"][0], "\x80");
}

TEST(JsonText, ErrorsStaySyntaxErrors)
{
	// A lone surrogate outside the byte range, a high surrogate alone, raw invalid bytes,
	// truncated text: errors naming the source, never a crash.
	for (std::string_view bad :
	     {"\"\\udc7f\"", "\"\\ud800\"", "\"\\ud800\\udcff", "\"\xff\"", "{\"a\":", "\"\\udcff",
	      "\\udcff", "[\"\\udcff\" x]"}) {
		auto j = json_parse(bad, "in.json");
		ASSERT_FALSE(j) << bad;
		EXPECT_NE(j.error().context.find("in.json: "), std::string::npos);
	}
	// The offset nlohmann reports is the offset in the caller's text.
	auto j = json_parse("[\"\\udcff\", x]", "in.json");
	ASSERT_FALSE(j);
	EXPECT_NE(j.error().context.find("column 12"), std::string::npos) << j.error().context;
}

} // namespace
} // namespace eima
