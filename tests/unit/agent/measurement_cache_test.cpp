#include <gtest/gtest.h>

#include "agent/measurement_cache.h"

using namespace eima;
using namespace eima::agent;

TEST(MeasurementCache, ListsArePerNamespaceAndVersion)
{
	MeasurementCache c;
	eima_file_id f{};
	f.dev = 8 << 20 | 1;
	f.ino = 42;
	f.cookie = 7;
	EXPECT_FALSE(c.in_list(100, f));
	c.add_to_list(100, f);
	EXPECT_TRUE(c.in_list(100, f));
	EXPECT_FALSE(c.in_list(200, f)); // another container
	auto changed = f;
	changed.cookie = 8; // new content
	EXPECT_FALSE(c.in_list(100, changed));
}

TEST(MeasurementCache, DigestsPerAlgorithmWithOptionalSignature)
{
	MeasurementCache c;
	eima_file_id f{};
	f.ino = 1;
	Bytes d256(32, 0xaa), d1(20, 0xbb), sig{3, 2, 1};
	EXPECT_FALSE(c.find(f, ima::HashAlgo::sha256));
	c.store(f, ima::HashAlgo::sha256, d256, sig);
	c.store(f, ima::HashAlgo::sha1, d1, {});
	auto a = c.find(f, ima::HashAlgo::sha256);
	ASSERT_TRUE(a);
	EXPECT_EQ(Bytes(a->digest.begin(), a->digest.end()), d256);
	EXPECT_EQ(Bytes(a->signature.begin(), a->signature.end()), sig);
	auto b = c.find(f, ima::HashAlgo::sha1);
	ASSERT_TRUE(b);
	EXPECT_EQ(Bytes(b->digest.begin(), b->digest.end()), d1);
	EXPECT_TRUE(b->signature.empty());
	EXPECT_EQ(c.files(), 2u);
	c.store(f, ima::HashAlgo::sha256, d256, {}); // the signature was removed
	EXPECT_TRUE(c.find(f, ima::HashAlgo::sha256)->signature.empty());
}
