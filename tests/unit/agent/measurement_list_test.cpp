#include <gtest/gtest.h>

#include <signal.h>
#include <sys/resource.h>

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

// A full disk, made with RLIMIT_FSIZE (writes past the limit fail with EFBIG, as ENOSPC
// would, at an exact byte): the record cut by the limit is finished from where it stopped
// once writes work again, entries beyond the memory bound are lost and counted exactly, one
// violation says how many, and the list on disk then reads back whole.
TEST(MeasurementList, AFullDiskLosesNoWrittenByteAndCountsWhatItCouldNotKeep)
{
	auto dir = std::filesystem::temp_directory_path() / "eima-list-full-test";
	std::filesystem::remove_all(dir);
	auto list = MeasurementList::create(dir.string(), {ima::HashAlgo::sha1, ima::HashAlgo::sha256});
	ASSERT_TRUE(list) << list.error().message();
	list->set_max_unwritten(4096);
	Bytes zeros(32, 0), d(32, 0xcd);
	auto boot = ima::make_boot_aggregate(ima::HashAlgo::sha256, zeros);
	ASSERT_TRUE(boot && list->append(*boot) && list->flush());
	auto bin = dir / "binary_runtime_measurements";
	auto before = std::filesystem::file_size(bin);

	struct rlimit old;
	ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
	auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
	struct rlimit small = old;
	small.rlim_cur = before + 100; // inside the first new record
	ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
	std::size_t kept = 0, lost = 0;
	for (int i = 0; i < 200; ++i) {
		auto e = ima::make_ima_ng(ima::HashAlgo::sha256, d, "/bin/f" + std::to_string(i), 10);
		ASSERT_TRUE(e);
		auto rec = list->append(*e);
		if (rec)
			++kept;
		else if (rec.error().err == ENOSPC)
			++lost;
		auto f = list->flush();
		ASSERT_FALSE(f);
		EXPECT_EQ(f.error().err, EFBIG);
	}
	EXPECT_EQ(std::filesystem::file_size(bin), before + 100); // a torn record, for now
	EXPECT_FALSE(list->write_error().empty());
	EXPECT_GT(kept, 0u);
	EXPECT_GT(lost, 0u);
	EXPECT_EQ(list->lost(), lost);
	auto not_yet = list->record_lost(); // nothing is said before the list is written again
	ASSERT_TRUE(not_yet);
	EXPECT_FALSE(*not_yet);

	ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &old), 0); // room again
	::signal(SIGXFSZ, old_handler);
	ASSERT_TRUE(list->flush());
	auto v = list->record_lost();
	ASSERT_TRUE(v) << v.error().message();
	ASSERT_TRUE(*v);
	ASSERT_TRUE(list->flush());
	EXPECT_TRUE(list->write_error().empty());

	auto back = MeasurementList::resume(dir.string(), {ima::HashAlgo::sha1, ima::HashAlgo::sha256});
	ASSERT_TRUE(back) << back.error().message();
	EXPECT_EQ(back->torn_bytes, 0u); // every record whole
	ASSERT_EQ(back->records.size(), 1 + kept + 1);
	auto log = ima::read_binary_log(as_bytes(slurp(bin)), ima::BinaryHeaderMode::kernel);
	ASSERT_TRUE(log) << log.error().message();
	auto &last = log->entries.back();
	EXPECT_TRUE(ima::is_violation(last));
	auto name = ima::event_name(last);
	ASSERT_TRUE(name);
	EXPECT_EQ(*name, "eima-lost:" + std::to_string(lost) + ":EFBIG");
	// The ascii list says the same.
	auto ascii = slurp(dir / "ascii_runtime_measurements");
	EXPECT_NE(ascii.find("eima-lost:" + std::to_string(lost) + ":EFBIG"), std::string::npos);
	std::filesystem::remove_all(dir);
}
