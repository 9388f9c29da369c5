// The vTPM binding record (an ima-buf entry in the host list): it round-trips, and a record
// from someone else's list with fields of the wrong type is refused, not thrown over.
#include <gtest/gtest.h>

#include <string>

#include "attest/vtpm_binding.h"

namespace eima::attest
{
namespace
{

Result<VtpmBinding> parse(const std::string &text)
{
	return parse_vtpm_binding(
		std::span(reinterpret_cast<const std::uint8_t *>(text.data()), text.size()),
		"list entry 7");
}

TEST(VtpmBinding, RoundTrips)
{
	VtpmBinding b{"c0ffee", "EK PEM", "AK PEM", 4026532000};
	Bytes buf = vtpm_binding_buffer(b);
	auto back = parse_vtpm_binding(buf, "here");
	ASSERT_TRUE(back) << back.error().message();
	EXPECT_EQ(back->container, "c0ffee");
	EXPECT_EQ(back->ek_pem, "EK PEM");
	EXPECT_EQ(back->ak_pem, "AK PEM");
	EXPECT_EQ(back->mntns, 4026532000u);
}

TEST(VtpmBinding, FieldsOfTheWrongTypeAreRefused)
{
	// The first is what the evidence fuzzer found: a string "version" threw type_error.302.
	for (std::string text :
	     {R"({"format":"eima-vtpm-binding","version":"eima-vtpm-biEM","mntns":4026531840})",
	      R"({"format":1,"version":1,"container":"c","ek":"e","ak":"a"})",
	      R"({"format":"eima-vtpm-binding","version":[1],"container":"c","ek":"e","ak":"a"})",
	      R"({"format":"eima-vtpm-binding","version":1,"container":5,"ek":"e","ak":"a"})",
	      R"({"format":"eima-vtpm-binding","version":1,"container":"c","ek":"e"})",
	      R"([1,2])", "not json"}) {
		auto r = parse(text);
		ASSERT_FALSE(r) << text;
		EXPECT_NE(r.error().message().find("list entry 7"), std::string::npos)
			<< r.error().message();
	}
}

} // namespace
} // namespace eima::attest
