// eimad's entries about itself (src/agent/self_measurement.h): the binary as an ordinary
// file entry named by the path a link resolves to, programs and policy as ima-buf entries
// whose buffers read back. Reading a loaded program needs BPF (tests/e2e/measurer_test.sh).
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstring>

#include <filesystem>
#include <fstream>

#include "agent/self_measurement.h"
#include "attest/measurer_record.h"
#include "policy/policy_compiler.h"

namespace eima::agent {
namespace {

namespace fs = std::filesystem;

class SelfMeasurement : public ::testing::Test {
protected:
	void SetUp() override
	{
		dir_ = fs::temp_directory_path() / ("eima-self-" + std::to_string(::getpid()));
		fs::create_directories(dir_);
		std::ofstream(dir_ / "eimad") << "not really eimad";
		fs::create_symlink(dir_ / "eimad", dir_ / "exe");
	}
	void TearDown() override { fs::remove_all(dir_); }
	fs::path dir_;
};

TEST_F(SelfMeasurement, BinaryIsAFileEntryNamedByItsResolvedPath)
{
	std::string content = "not really eimad";
	Bytes bytes(content.begin(), content.end());
	for (auto tmpl : {TemplateKind::ima_ng, TemplateKind::ima_sig, TemplateKind::ima}) {
		SelfMeasurementFormat f{tmpl, ima::HashAlgo::sha256, 12};
		auto e = own_binary_entry(f, (dir_ / "exe").string());
		ASSERT_TRUE(e) << e.error().message();
		EXPECT_EQ(e->pcr, 12u);
		EXPECT_EQ(e->template_name, template_name(tmpl));
		EXPECT_EQ(*ima::event_name(*e), (dir_ / "eimad").string());
		auto d = ima::file_digest(*e);
		ASSERT_TRUE(d);
		ima::HashAlgo algo = tmpl == TemplateKind::ima ? ima::HashAlgo::sha1 : f.hash;
		auto want = ima::digest(algo, bytes);
		EXPECT_EQ(Bytes(d->digest.begin(), d->digest.end()), *want);
	}
	EXPECT_FALSE(own_binary_entry({}, (dir_ / "missing").string()));
}

TEST_F(SelfMeasurement, ProgramEntryHoldsItsRecord)
{
	attest::BpfProgRecord r{"eima_sched_exec", "tracing", Bytes(8, 7), "measure_trace.bpf.o",
				Bytes(32, 9), false, ""};
	auto e = program_entry({TemplateKind::ima_ng, ima::HashAlgo::sha256, 10}, r);
	ASSERT_TRUE(e) << e.error().message();
	EXPECT_EQ(e->template_name, "ima-buf");
	EXPECT_EQ(*ima::event_name(*e), "eima-bpf-prog:eima_sched_exec");
	auto back = attest::parse_bpf_prog_record(e->fields.at(2), "entry");
	ASSERT_TRUE(back) << back.error().message();
	EXPECT_EQ(*back, r);
	auto d = ima::file_digest(*e);
	EXPECT_EQ(Bytes(d->digest.begin(), d->digest.end()),
		  *ima::digest(ima::HashAlgo::sha256, e->fields.at(2)));
	// The legacy template: an 'ima' entry with the record's SHA-1, same name.
	auto legacy = program_entry({TemplateKind::ima, ima::HashAlgo::sha256, 10}, r);
	ASSERT_TRUE(legacy);
	EXPECT_EQ(legacy->template_name, "ima");
	EXPECT_EQ(*ima::event_name(*legacy), "eima-bpf-prog:eima_sched_exec");
	d = ima::file_digest(*legacy);
	EXPECT_EQ(Bytes(d->digest.begin(), d->digest.end()),
		  *ima::digest(ima::HashAlgo::sha1, e->fields.at(2)));
	r.tag.clear();
	EXPECT_FALSE(program_entry({}, r)); // never a record a verifier refuses
}

TEST_F(SelfMeasurement, PolicyEntryIsTheCompiledRulesInUse)
{
	auto parsed = policy::builtin_policy("tcb");
	ASSERT_TRUE(parsed);
	auto compiled = policy::compile_policy(*parsed, policy::KernelMode::trace);
	ASSERT_TRUE(compiled);
	auto e = policy_entry({TemplateKind::ima_ng, ima::HashAlgo::sha256, 10}, *compiled);
	ASSERT_TRUE(e);
	EXPECT_EQ(*ima::event_name(*e), "eima-policy");
	const Bytes &buf = e->fields.at(2);
	ASSERT_EQ(buf.size(), 8 + compiled->nr_rules * sizeof(eima_rule));
	std::uint32_t nr = 0;
	std::memcpy(&nr, buf.data(), 4);
	EXPECT_EQ(nr, compiled->nr_rules);
	EXPECT_EQ(0, std::memcmp(buf.data() + 8, compiled->rules, buf.size() - 8));
	// Another mode compiles another array (trace drops FILE_CHECK): another entry.
	auto lsm = policy::compile_policy(*parsed, policy::KernelMode::lsm);
	ASSERT_TRUE(lsm);
	EXPECT_NE(policy_entry({}, *lsm)->fields.at(2), buf);
}

} // namespace
} // namespace eima::agent
