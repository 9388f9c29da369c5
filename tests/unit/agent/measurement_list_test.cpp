#include <gtest/gtest.h>

#include <filesystem>

#include "common/file_io.h"
#include "agent/measurement_list.h"
#include "ima/ascii_log.h"
#include "ima/binary_log.h"
#include "ima/replay.h"

using namespace eima;
using namespace eima::agent;

namespace {
std::string slurp(const std::filesystem::path &p) { return read_file(p).value_or(""); }
} // namespace

TEST(MeasurementList, WritesBothFormatsAndReplays)
{
	auto dir = std::filesystem::temp_directory_path() / "eima-list-test";
	std::filesystem::remove_all(dir);
	auto list = MeasurementList::create(dir.string(), {ima::HashAlgo::sha1, ima::HashAlgo::sha256});
	ASSERT_TRUE(list) << list.error().message();
	Bytes zeros(32, 0), d(32, 0xab);
	auto boot = ima::make_boot_aggregate(ima::HashAlgo::sha256, zeros);
	auto e1 = ima::make_ima_ng(ima::HashAlgo::sha256, d, "/bin/sh", 10);
	auto e2 = ima::make_ima_ng(ima::HashAlgo::sha256, d, "c1:/bin/sh", 11);
	auto v = ima::make_violation("ima-ng", ima::HashAlgo::sha256, "/gone", 10);
	ASSERT_TRUE(boot && e1 && e2 && v);
	std::vector<ima::TemplateEntry> all{*boot, *e1, *e2, *v};
	for (auto &e : all) {
		auto rec = list->append(e);
		ASSERT_TRUE(rec) << rec.error().message();
		ASSERT_EQ(rec->digests.size(), 2u);
		EXPECT_EQ(rec->pcr, e.pcr);
	}
	ASSERT_TRUE(list->flush());
	EXPECT_EQ(list->entries(), 4u);
	EXPECT_EQ(list->violations(), 1u);

	auto bin = slurp(dir / "binary_runtime_measurements");
	auto parsed = ima::read_binary_log({reinterpret_cast<const uint8_t *>(bin.data()), bin.size()});
	ASSERT_TRUE(parsed);
	EXPECT_EQ(parsed->entries, all);
	auto ascii = ima::read_ascii_log(slurp(dir / "ascii_runtime_measurements"));
	ASSERT_TRUE(ascii);
	EXPECT_EQ(ascii->entries, all);
	for (auto bank : {ima::HashAlgo::sha1, ima::HashAlgo::sha256}) {
		auto want = ima::replay(all, bank);
		ASSERT_TRUE(want);
		EXPECT_EQ(list->replayed_pcrs(bank), *want);
	}
	std::filesystem::remove_all(dir);
}

TEST(MeasurementList, UnwritableDirectoryIsAnError)
{
	auto list = MeasurementList::create("/proc/eima-cannot-be-here", {ima::HashAlgo::sha256});
	ASSERT_FALSE(list);
	EXPECT_NE(list.error().message().find("/proc/eima-cannot-be-here"), std::string::npos);
}
