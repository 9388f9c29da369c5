// The in-kernel policy matcher (bpf/lib/policy_match.h, run with BPF_PROG_TEST_RUN)
// against its C++ twin (src/policy/policy_matcher.cpp), on every policy of the shared
// corpus, the built-in ones and one that uses every condition eima compiles: for each
// policy and mode, accesses made to sit on both sides of every comparison of every rule,
// and the same decision and deciding rule (index, pcr, template) required from both.
//
// Exits 77 (skipped, with the reason) only where the kernel refuses to load BPF at all
// (not root, EPERM); a verifier rejection or a failed run is a failure.
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "common/file_io.h"
#include "policy/ima_policy.h"
#include "policy/policy_compiler.h"
#include "policy/policy_matcher.h"
#include "policy_match_test.skel.h"
#include "tests/bpf/policy_match_run.h"

namespace eima::policy
{
namespace
{

namespace fs = std::filesystem;

// The C++ matcher keeps the attributes in FileAccess; the BPF one in eima_access. Both are
// made from one Case so that the two sides see the same access.
struct Case {
	eima_access access{};
};

// Every eima_func a hook or a policy can name, but POST_SETATTR: no eima hook makes that
// call, and the C++ matcher's exemption for it (ima_match_rules() re-appraising after
// setattr) has no BPF counterpart to compare with.
std::vector<std::uint32_t> all_funcs()
{
	std::vector<std::uint32_t> out;
	for (std::uint32_t f = EIMA_FUNC_NONE + 1; f < EIMA_FUNC_MAX; ++f)
		if (f != EIMA_FUNC_POST_SETATTR)
			out.push_back(f);
	return out;
}

// The SEC("syscall") program and its policy map, destroyed with the skeleton: nothing is
// attached or pinned, so nothing outlives the test process.
class BpfMatcher
{
public:
	struct Deleter {
		void operator()(policy_match_test_bpf *s) const
		{
			policy_match_test_bpf__destroy(s);
		}
	};

	// nullptr and `why` when this host cannot load BPF programs at all.
	static std::unique_ptr<BpfMatcher> load(std::string &why, bool &refused)
	{
		refused = false;
		libbpf_set_print(nullptr); // the verifier log would drown the report
		std::unique_ptr<policy_match_test_bpf, Deleter> skel(policy_match_test_bpf__open());
		if (!skel) {
			why = std::string("open skeleton: ") + std::strerror(errno);
			return nullptr;
		}
		int err = policy_match_test_bpf__load(skel.get());
		if (err) {
			// EPERM: the kernel (or the sandbox) refuses BPF to this process. Anything
			// else - a verifier rejection above all - is a bug in the code under test.
			refused = err == -EPERM || geteuid() != 0;
			why = std::string("load policy_match_test.bpf.o: ") + std::strerror(-err) +
			      (geteuid() != 0 ? " (not root)" : "");
			return nullptr;
		}
		return std::unique_ptr<BpfMatcher>(new BpfMatcher(std::move(skel)));
	}

	void set_policy(const eima_policy &pol)
	{
		std::uint32_t zero = 0;
		int err = bpf_map__update_elem(skel_->maps.policy, &zero, sizeof(zero), &pol,
					       sizeof(pol), BPF_ANY);
		if (err)
			throw std::runtime_error(std::string("policy map update: ") +
						 std::strerror(-err));
	}

	// 0 on success, else -errno of BPF_PROG_TEST_RUN.
	int run(eima_policy_match_run &r)
	{
		LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = &r, .ctx_size_in = sizeof(r));
		int err = bpf_prog_test_run_opts(bpf_program__fd(skel_->progs.run_policy_match),
						 &opts);
		if (err)
			return -errno;
		if (opts.retval != 0)
			return -ENOENT; // no policy map element
		return 0;
	}

	// access_fill()'s credential reads for `need` (EIMA_COND_* bits) in this task: 0 on
	// success, else -errno of BPF_PROG_TEST_RUN.
	int read_creds(std::uint32_t need, eima_access &out)
	{
		eima_policy_match_run r{};
		r.access.known = need;
		// A SEC("syscall") program's context is copied back into ctx_in.
		LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = &r, .ctx_size_in = sizeof(r));
		if (bpf_prog_test_run_opts(bpf_program__fd(skel_->progs.read_creds), &opts))
			return -errno;
		out = r.access;
		return 0;
	}

	const btf *object_btf() const { return bpf_object__btf(skel_->obj); }

private:
	explicit BpfMatcher(std::unique_ptr<policy_match_test_bpf, Deleter> s) : skel_(std::move(s))
	{
	}
	std::unique_ptr<policy_match_test_bpf, Deleter> skel_;
};

BpfMatcher *bpf_matcher = nullptr;

// ---- Accesses ------------------------------------------------------------------------

FileAccess to_file_access(const eima_access &a)
{
	FileAccess f;
	f.func = static_cast<eima_func>(a.func);
	f.mask = a.mask;
	f.fsmagic = a.fsmagic;
	std::memcpy(f.fsuuid.data(), a.fsuuid, 16);
	f.fsname = std::string(a.fsname, strnlen(a.fsname, sizeof(a.fsname)));
	f.uid = a.uid;
	f.euid = a.euid;
	f.suid = a.suid;
	f.gid = a.gid;
	f.egid = a.egid;
	f.sgid = a.sgid;
	f.cap_setuid = a.cap_setuid != 0;
	f.cap_setgid = a.cap_setgid != 0;
	f.fowner = a.fowner;
	f.fgroup = a.fgroup;
	f.is_host = a.is_host;
	return f;
}

void set_fsname(eima_access &a, const std::string &name)
{
	std::memset(a.fsname, 0, sizeof(a.fsname));
	std::memcpy(a.fsname, name.data(), std::min(name.size(), sizeof(a.fsname) - 1));
}

std::string fsname_of(const eima_rule &r)
{
	return std::string(r.fsname, strnlen(r.fsname, 32));
}

// v-1, v, v+1 without wrapping, plus the extremes: both sides of <, = and >.
void around(std::set<std::uint32_t> &out, std::uint32_t v)
{
	out.insert(v);
	if (v > 0)
		out.insert(v - 1);
	if (v < UINT32_MAX)
		out.insert(v + 1);
}

// The values each attribute takes across the whole policy: every value a rule compares
// with and its neighbours, and values no rule names.
struct Domains {
	std::set<std::uint64_t> fsmagic{0, 0xEF53};
	std::set<std::array<std::uint8_t, 16>> fsuuid{
		{}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}};
	std::set<std::string> fsname{"", "ext4"};
	std::set<std::uint32_t> id{0, 1000, UINT32_MAX};

	explicit Domains(const eima_policy &pol)
	{
		for (std::uint32_t i = 0; i < pol.nr_rules; ++i) {
			const eima_rule &r = pol.rules[i];
			if (r.conditions & EIMA_COND_FSMAGIC) {
				fsmagic.insert(r.fsmagic);
				fsmagic.insert(r.fsmagic + 1);
				fsmagic.insert(r.fsmagic - 1);
			}
			if (r.conditions & EIMA_COND_FSUUID) {
				std::array<std::uint8_t, 16> u;
				std::memcpy(u.data(), r.fsuuid, 16);
				fsuuid.insert(u);
				u[15] ^= 1; // one bit off, at the end the loop reaches last
				fsuuid.insert(u);
				u[15] ^= 1;
				u[0] ^= 0x80;
				fsuuid.insert(u);
			}
			if (r.conditions & EIMA_COND_FSNAME) {
				std::string n = fsname_of(r);
				fsname.insert(n);
				if (!n.empty()) {
					fsname.insert(n.substr(0, n.size() - 1)); // a prefix
					std::string other = n;
					other.back() ^= 1;
					fsname.insert(other);
				}
				if (n.size() < 31)
					fsname.insert(n + "x"); // it as a prefix
			}
			for (auto [bit, c] : {std::pair{EIMA_COND_UID, &r.uid},
					      {EIMA_COND_EUID, &r.euid},
					      {EIMA_COND_GID, &r.gid},
					      {EIMA_COND_EGID, &r.egid},
					      {EIMA_COND_FOWNER, &r.fowner},
					      {EIMA_COND_FGROUP, &r.fgroup}})
				if (r.conditions & bit)
					around(id, c->value);
		}
	}
};

eima_access default_access()
{
	eima_access a{};
	a.func = EIMA_FUNC_BPRM_CHECK;
	a.mask = EIMA_MAY_EXEC;
	a.known = 0xffff; // every attribute is given: the walk must not read any
	a.is_host = 1;
	a.fsmagic = 0xEF53; // ext4
	set_fsname(a, "ext4");
	a.uid = a.euid = a.suid = a.gid = a.egid = a.sgid = a.fowner = a.fgroup = 1000;
	return a;
}

// A value of `c` that holds (or, with `hold` false, fails) the comparison.
std::uint32_t satisfying(const eima_id_cond &c, bool hold = true)
{
	std::uint32_t v = c.value;
	switch (c.cmp) {
	case EIMA_CMP_LT:
		return hold ? (v > 0 ? v - 1 : 0) : v;
	case EIMA_CMP_GT:
		return hold ? (v < UINT32_MAX ? v + 1 : v) : v;
	default:
		return hold ? v : v + 1;
	}
}

// An access that meets every condition of `r`: the start from which each attribute is
// moved across that rule's comparisons one at a time.
eima_access meeting(const eima_rule &r)
{
	eima_access a = default_access();
	std::uint32_t c = r.conditions;
	if (c & EIMA_COND_FUNC) {
		a.func = r.func;
		if (r.func == EIMA_FUNC_MMAP_CHECK_REQPROT) { // the hooks ask MMAP_CHECK
			a.func = EIMA_FUNC_MMAP_CHECK;
			a.reqprot_exec = 1;
		}
	}
	if (c & EIMA_COND_MASK)
		a.mask = r.mask;
	if (c & EIMA_COND_INMASK)
		a.mask = r.mask & -r.mask; // one of the bits
	if (c & EIMA_COND_CONTAINER)
		a.is_host = r.container_scope != EIMA_SCOPE_CONTAINERS;
	if (c & EIMA_COND_FSMAGIC)
		a.fsmagic = r.fsmagic;
	if (c & EIMA_COND_FSUUID)
		std::memcpy(a.fsuuid, r.fsuuid, 16);
	if (c & EIMA_COND_FSNAME)
		set_fsname(a, fsname_of(r));
	if (c & EIMA_COND_UID)
		a.uid = satisfying(r.uid);
	if (c & EIMA_COND_EUID)
		a.euid = satisfying(r.euid);
	if (c & EIMA_COND_GID)
		a.gid = satisfying(r.gid);
	if (c & EIMA_COND_EGID)
		a.egid = satisfying(r.egid);
	if (c & EIMA_COND_FOWNER)
		a.fowner = satisfying(r.fowner);
	if (c & EIMA_COND_FGROUP)
		a.fgroup = satisfying(r.fgroup);
	return a;
}

// Every access of `base` with one attribute moved over its whole domain.
void vary_one(const eima_access &base, const Domains &d, std::vector<eima_access> &out)
{
	auto with = [&](auto &&change) {
		eima_access a = base;
		change(a);
		out.push_back(a);
	};
	for (std::uint32_t f : all_funcs())
		for (std::uint8_t req : {0, 1})
			if (req == 0 || f == EIMA_FUNC_MMAP_CHECK)
				with([&](eima_access &a) {
					a.func = f;
					a.reqprot_exec = req;
				});
	for (std::uint32_t m = 0; m < 16; ++m)
		with([&](eima_access &a) { a.mask = m; });
	for (std::uint8_t h : {0, 1})
		with([&](eima_access &a) { a.is_host = h; });
	for (std::uint64_t v : d.fsmagic)
		with([&](eima_access &a) { a.fsmagic = v; });
	for (auto &u : d.fsuuid)
		with([&](eima_access &a) { std::memcpy(a.fsuuid, u.data(), 16); });
	for (auto &n : d.fsname)
		with([&](eima_access &a) { set_fsname(a, n); });
	for (std::uint8_t cap : {0, 1}) {
		with([&](eima_access &a) { a.cap_setuid = cap; });
		with([&](eima_access &a) { a.cap_setgid = cap; });
	}
	for (std::uint32_t v : d.id) {
		with([&](eima_access &a) { a.uid = v; });
		with([&](eima_access &a) { a.euid = v; });
		with([&](eima_access &a) { a.suid = v; });
		with([&](eima_access &a) { a.gid = v; });
		with([&](eima_access &a) { a.egid = v; });
		with([&](eima_access &a) { a.sgid = v; });
		with([&](eima_access &a) { a.fowner = v; });
		with([&](eima_access &a) { a.fgroup = v; });
	}
}

// The accesses one compiled policy is judged on: from a plain access and from one meeting
// each rule, every attribute moved across every value a rule compares it with; and func
// by mask by host from the plain access. A rule with euid= (egid=) also gets bases whose
// effective id fails it, with and without CAP_SETUID (CAP_SETGID): moving the real or the
// saved id across the rule's value from there is what tells a matcher that follows the
// kernel (those ids count with the capability) from one that looks at the effective id
// alone.
std::vector<eima_access> accesses_for(const eima_policy &pol)
{
	Domains d(pol);
	std::vector<eima_access> all;
	std::vector<eima_access> bases{default_access()};
	for (std::uint32_t i = 0; i < pol.nr_rules; ++i) {
		const eima_rule &r = pol.rules[i];
		bases.push_back(meeting(r));
		for (std::uint8_t cap : {0, 1}) {
			if (r.conditions & EIMA_COND_EUID) {
				eima_access a = meeting(r);
				a.euid = satisfying(r.euid, false);
				a.cap_setuid = cap;
				bases.push_back(a);
				a.suid = satisfying(r.euid); // the saved uid alone holds
				bases.push_back(a);
			}
			if (r.conditions & EIMA_COND_EGID) {
				eima_access a = meeting(r);
				a.egid = satisfying(r.egid, false);
				a.cap_setgid = cap;
				bases.push_back(a);
				a.sgid = satisfying(r.egid); // the saved gid alone holds
				bases.push_back(a);
			}
		}
	}
	for (auto &b : bases)
		vary_one(b, d, all);
	for (std::uint32_t f : all_funcs())
		for (std::uint32_t m = 0; m < 16; ++m)
			for (std::uint8_t h : {0, 1})
				for (std::uint8_t req : {0, 1}) {
					if (req && f != EIMA_FUNC_MMAP_CHECK)
						continue;
					eima_access a = default_access();
					a.func = f;
					a.mask = m;
					a.is_host = h;
					a.reqprot_exec = req;
					all.push_back(a);
				}
	// One of each: the struct has no padding holes the generator leaves unset.
	std::sort(all.begin(), all.end(), [](const eima_access &x, const eima_access &y) {
		return std::memcmp(&x, &y, sizeof(x)) < 0;
	});
	all.erase(std::unique(all.begin(), all.end(),
			      [](const eima_access &x, const eima_access &y) {
				      return std::memcmp(&x, &y, sizeof(x)) == 0;
			      }),
		  all.end());
	return all;
}

// What the C++ matcher decides for what the hooks would report: an executable mmap is
// judged as the kernel's ima_file_mmap() does (REQPROT, then MMAP_CHECK).
MatchResult cxx_decision(const eima_policy &pol, const eima_access &a)
{
	FileAccess f = to_file_access(a);
	if (a.func == EIMA_FUNC_MMAP_CHECK)
		return match_mmap(pol, f, a.reqprot_exec, true);
	return match(pol, f);
}

std::string describe(const eima_access &a)
{
	char uuid0[8];
	std::snprintf(uuid0, sizeof(uuid0), "%02x..%02x", a.fsuuid[0], a.fsuuid[15]);
	return "func=" + std::string(func_name(static_cast<eima_func>(a.func))) +
	       (a.reqprot_exec ? "+reqprot" : "") + " mask=" + std::to_string(a.mask) +
	       (a.is_host ? " host" : " container") + " fsmagic=" + std::to_string(a.fsmagic) +
	       " fsuuid=" + uuid0 + " fsname=" + std::string(a.fsname) +
	       " uid=" + std::to_string(a.uid) + " euid=" + std::to_string(a.euid) +
	       " suid=" + std::to_string(a.suid) + (a.cap_setuid ? " CAP_SETUID" : "") +
	       " gid=" + std::to_string(a.gid) + " egid=" + std::to_string(a.egid) +
	       " sgid=" + std::to_string(a.sgid) + (a.cap_setgid ? " CAP_SETGID" : "") +
	       " fowner=" + std::to_string(a.fowner) + " fgroup=" + std::to_string(a.fgroup);
}

std::string describe(bool measure, bool decided, std::uint32_t rule, std::uint32_t pcr,
		     std::uint32_t tmpl)
{
	if (!decided)
		return "no rule";
	return std::string(measure ? "measure" : "dont_measure") + " by rule " +
	       std::to_string(rule) +
	       (measure ? " pcr " + std::to_string(pcr) + " template " + std::to_string(tmpl) : "");
}

struct Tally {
	std::size_t compared = 0;
	std::size_t measured = 0;
	std::size_t not_measured = 0;
	std::vector<std::string> mismatches; // the first few, for the report
	std::size_t mismatch_count = 0;
};

// Runs both matchers on every access; `to_bpf` may change what the BPF side sees (the
// sanity check below uses it to prove a difference is caught).
Tally compare(const eima_policy &pol, const std::vector<eima_access> &accesses,
	      const std::function<void(eima_access &)> &to_bpf = {})
{
	Tally t;
	bpf_matcher->set_policy(pol);
	for (const eima_access &a : accesses) {
		eima_policy_match_run run{};
		run.access = a;
		if (to_bpf)
			to_bpf(run.access);
		int err = bpf_matcher->run(run);
		if (err)
			throw std::runtime_error(std::string("BPF_PROG_TEST_RUN: ") +
						 std::strerror(-err));
		MatchResult want = cxx_decision(pol, a);
		const eima_match &got = run.match;
		++t.compared;
		(want.measure ? t.measured : t.not_measured)++;
		bool same = (run.measure != 0) == want.measure && got.measure == want.measure &&
			    (got.decided != 0) == want.matched &&
			    (!want.matched || got.rule_index == want.rule_index) &&
			    got.pcr == want.pcr && got.template_id == want.template_id;
		if (same)
			continue;
		if (++t.mismatch_count <= 5)
			t.mismatches.push_back(describe(a) + ": C++ " +
					       describe(want.measure, want.matched, want.rule_index,
							want.pcr, want.template_id) +
					       ", BPF " +
					       describe(got.measure, got.decided, got.rule_index,
							got.pcr, got.template_id));
	}
	return t;
}

// ---- Policies ------------------------------------------------------------------------

// Every condition eima compiles, each comparison operator, both container scopes, pcr=
// and template=, REQPROT, and rules that only a later rule's failure reaches.
constexpr const char *every_condition_policy =
	"dont_measure fsmagic=0x9fa0\n"
	"measure func=MMAP_CHECK_REQPROT fsname=tmpfs pcr=12\n"
	"dont_measure func=MMAP_CHECK fsname=tmpfs\n"
	"measure func=BPRM_CHECK uid<1000 fowner>0 template=ima-sig\n"
	"dont_measure func=BPRM_CHECK euid=0 container=host\n"
	"measure func=BPRM_CHECK gid=42 container=*\n"
	"dont_measure func=BPRM_CHECK egid>41 fowner<5\n"
	"measure func=FILE_CHECK mask=^MAY_READ fgroup<100 pcr=11\n"
	"dont_measure func=FILE_CHECK mask=MAY_WRITE\n"
	"measure func=FILE_CHECK fsuuid=01234567-89ab-cdef-0123-456789abcdef\n"
	"measure func=MMAP_CHECK mask=MAY_EXEC fsname=ext4 fowner=1000 template=ima\n"
	"measure func=MMAP_CHECK euid>999 egid<1001\n"
	"measure fsmagic=0x01021994 uid=4294967294\n"
	"dont_measure uid>4294967293\n"
	"measure\n";

struct NamedPolicy {
	std::string name;
	Policy policy;
};

std::vector<NamedPolicy> policies_under_test()
{
	std::vector<NamedPolicy> out;
	std::vector<fs::path> files;
	for (auto &e : fs::directory_iterator(EIMA_POLICY_CORPUS_DIR))
		if (e.path().filename() != "SOURCES.md")
			files.push_back(e.path());
	std::sort(files.begin(), files.end());
	for (auto &p : files) {
		std::string text = eima::read_file(p).value_or("");
		EXPECT_FALSE(text.empty()) << p;
		// The invalid file too: the kernel would refuse it, but its valid rules are still
		// rules both matchers must agree on.
		std::vector<PolicyError> errors;
		out.push_back({p.filename().string(),
			       parse_policy_collecting(text, p.filename().string(), errors)});
	}
	for (const char *name : {"exec", "tcb"}) {
		auto pol = builtin_policy(name);
		EXPECT_TRUE(pol.has_value()) << name;
		if (pol)
			out.push_back({std::string("builtin:") + name, *pol});
	}
	auto every = parse_policy(every_condition_policy, "every-condition");
	EXPECT_TRUE(every.has_value()) << "every-condition policy: " << every.error().message();
	if (every)
		out.push_back({"every-condition", *every});
	return out;
}

TEST(BpfPolicyMatch, RunStructLayoutMatchesObjectBtf)
{
	const btf *b = bpf_matcher->object_btf();
	ASSERT_NE(b, nullptr);
	auto layout = [&](const char *name, std::map<std::string, std::size_t> &offsets) {
		int id = btf__find_by_name_kind(b, name, BTF_KIND_STRUCT);
		if (id < 0)
			return std::size_t{0};
		const btf_type *t = btf__type_by_id(b, id);
		const btf_member *m = btf_members(t);
		for (int i = 0; i < btf_vlen(t); ++i, ++m)
			offsets[btf__name_by_offset(b, m->name_off)] =
				btf_member_bit_offset(t, i) / 8;
		return std::size_t{t->size};
	};
	std::map<std::string, std::size_t> run, acc, mat;
	EXPECT_EQ(layout("eima_policy_match_run", run), sizeof(eima_policy_match_run));
	EXPECT_EQ(run["access"], offsetof(eima_policy_match_run, access));
	EXPECT_EQ(run["match"], offsetof(eima_policy_match_run, match));
	EXPECT_EQ(run["measure"], offsetof(eima_policy_match_run, measure));
	EXPECT_EQ(layout("eima_access", acc), sizeof(eima_access));
#define EXPECT_ACCESS(f) EXPECT_EQ(acc.at(#f), offsetof(eima_access, f)) << #f
	EXPECT_ACCESS(func);
	EXPECT_ACCESS(mask);
	EXPECT_ACCESS(known);
	EXPECT_ACCESS(reqprot_exec);
	EXPECT_ACCESS(is_host);
	EXPECT_ACCESS(cap_setuid);
	EXPECT_ACCESS(cap_setgid);
	EXPECT_ACCESS(fsmagic);
	EXPECT_ACCESS(fsuuid);
	EXPECT_ACCESS(fsname);
	EXPECT_ACCESS(uid);
	EXPECT_ACCESS(euid);
	EXPECT_ACCESS(suid);
	EXPECT_ACCESS(gid);
	EXPECT_ACCESS(egid);
	EXPECT_ACCESS(sgid);
	EXPECT_ACCESS(fowner);
	EXPECT_ACCESS(fgroup);
#undef EXPECT_ACCESS
	EXPECT_EQ(layout("eima_match", mat), sizeof(eima_match));
	EXPECT_EQ(mat.at("rule_index"), offsetof(eima_match, rule_index));
	EXPECT_EQ(mat.at("pcr"), offsetof(eima_match, pcr));
	EXPECT_EQ(mat.at("template_id"), offsetof(eima_match, template_id));
	EXPECT_EQ(mat.at("measure"), offsetof(eima_match, measure));
	EXPECT_EQ(mat.at("decided"), offsetof(eima_match, decided));
}

TEST(BpfPolicyMatch, SameDecisionAsCxxOnEveryPolicy)
{
	auto start = std::chrono::steady_clock::now();
	std::size_t total = 0, policies = 0;
	for (const NamedPolicy &np : policies_under_test()) {
		for (KernelMode mode : {KernelMode::lsm, KernelMode::trace}) {
			SCOPED_TRACE(np.name + " " + std::string(mode_name(mode)));
			auto compiled = compile_policy(np.policy, mode);
			ASSERT_TRUE(compiled.has_value());
			const eima_policy &pol = *compiled;
			// The hooks read only what pol.conditions names before the walk.
			std::uint32_t conditions = 0;
			for (std::uint32_t i = 0; i < pol.nr_rules; ++i)
				conditions |= pol.rules[i].conditions;
			EXPECT_EQ(pol.conditions, conditions);
			Tally t = compare(pol, accesses_for(pol));
			total += t.compared;
			++policies;
			std::cout << "  " << np.name << " (" << mode_name(mode) << ", "
				  << pol.nr_rules << " rules): " << t.compared
				  << " accesses compared, " << t.measured << " measured, "
				  << t.not_measured << " not, " << t.mismatch_count
				  << " mismatches\n";
			EXPECT_EQ(t.mismatch_count, 0u);
			for (auto &m : t.mismatches)
				ADD_FAILURE() << m;
			// Not vacuous: a policy with a measure rule must have been seen both to
			// measure and not to.
			bool has_measure = false;
			for (std::uint32_t i = 0; i < pol.nr_rules; ++i)
				has_measure |= pol.rules[i].action == EIMA_ACT_MEASURE;
			if (has_measure) {
				EXPECT_GT(t.measured, 0u);
				EXPECT_GT(t.not_measured, 0u);
			}
		}
	}
	auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
			  std::chrono::steady_clock::now() - start)
			  .count();
	std::cout << "compared " << total << " (policy, access) pairs over " << policies
		  << " compiled policies in " << ms << " ms\n";
	EXPECT_GT(total, 0u);
}

// The comparison can fail: an access changed on the BPF side only, in one attribute a rule
// compares, must show up as mismatches.
TEST(BpfPolicyMatch, ComparisonCatchesADifference)
{
	auto tcb = builtin_policy("tcb");
	ASSERT_TRUE(tcb.has_value());
	auto compiled = compile_policy(*tcb, KernelMode::lsm);
	ASSERT_TRUE(compiled.has_value());
	auto accesses = accesses_for(*compiled);

	Tally same = compare(*compiled, accesses);
	EXPECT_EQ(same.mismatch_count, 0u);

	// securityfs's magic reads as ext4's on the BPF side: tcb's dont_measure for it is lost.
	Tally magic = compare(*compiled, accesses, [](eima_access &a) {
		if (a.fsmagic == 0x73636673)
			a.fsmagic = 0xEF53;
	});
	EXPECT_GT(magic.mismatch_count, 0u) << "a changed fsmagic went unnoticed";

	// uid 0 reads as 1 on the BPF side: tcb's FILE_CHECK uid=0 rule no longer decides.
	Tally uid = compare(*compiled, accesses, [](eima_access &a) {
		if (a.uid == 0)
			a.uid = 1;
	});
	EXPECT_GT(uid.mismatch_count, 0u) << "a changed uid went unnoticed";

	// One rule's comparison flipped in the policy the kernel sees.
	eima_policy flipped = *compiled;
	for (std::uint32_t i = 0; i < flipped.nr_rules; ++i)
		if (flipped.rules[i].conditions & EIMA_COND_UID)
			flipped.rules[i].uid.cmp = EIMA_CMP_GT;
	bpf_matcher->set_policy(flipped);
	std::size_t differ = 0;
	for (const eima_access &a : accesses) {
		eima_policy_match_run run{};
		run.access = a;
		ASSERT_EQ(bpf_matcher->run(run), 0);
		differ += (run.measure != 0) != cxx_decision(*compiled, a).measure;
	}
	EXPECT_GT(differ, 0u) << "uid=0 read as uid>0 went unnoticed";
}

// ---- The credential reads ----------------------------------------------------------

// This task's effective capability set becomes its permitted set less `drop` (CAP_* bits).
bool set_effective_caps(std::uint64_t drop)
{
	__user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
	__user_cap_data_struct data[2]{};
	if (syscall(SYS_capget, &hdr, data))
		return false;
	std::uint64_t permitted = data[0].permitted | std::uint64_t{data[1].permitted} << 32;
	std::uint64_t eff = permitted & ~drop;
	data[0].effective = static_cast<std::uint32_t>(eff);
	data[1].effective = static_cast<std::uint32_t>(eff >> 32);
	return syscall(SYS_capset, &hdr, data) == 0;
}

// In a child, whose credentials the test may change: what access_fill() reads for euid=,
// egid= and uid= policies against what the child set, with and without CAP_SETUID and
// CAP_SETGID in its effective set, and in a user namespace of its own (where it has every
// capability, but none in the initial namespace, which is what the kernel asks about).
// Returns "" or what went wrong.
std::string check_creds_in_child()
{
	auto expect = [](std::string &err, const char *what, std::uint32_t got,
			 std::uint32_t want) {
		if (got != want && err.empty())
			err = std::string(what) + " read " + std::to_string(got) + ", want " +
			      std::to_string(want);
	};
	eima_access a{};
	std::string err;
	const std::uint32_t both = EIMA_COND_EUID | EIMA_COND_EGID;
	if (bpf_matcher->read_creds(both, a))
		return "read_creds as root failed";
	expect(err, "root euid", a.euid, 0);
	expect(err, "root cap_setuid", a.cap_setuid, 1);
	expect(err, "root cap_setgid", a.cap_setgid, 1);
	if (setresgid(11, 12, 13) || prctl(PR_SET_KEEPCAPS, 1) || setresuid(21, 22, 23) ||
	    !set_effective_caps(0))
		return std::string("set ids and caps: ") + std::strerror(errno);
	if (bpf_matcher->read_creds(both, a))
		return "read_creds with ids 21/22/23 failed";
	expect(err, "uid", a.uid, 21);
	expect(err, "euid", a.euid, 22);
	expect(err, "suid", a.suid, 23);
	expect(err, "gid", a.gid, 11);
	expect(err, "egid", a.egid, 12);
	expect(err, "sgid", a.sgid, 13);
	expect(err, "cap_setuid", a.cap_setuid, 1);
	expect(err, "cap_setgid", a.cap_setgid, 1);
	// uid= alone: the saved ids and the capabilities are not read (zero as given).
	if (bpf_matcher->read_creds(EIMA_COND_UID, a))
		return "read_creds for uid= failed";
	expect(err, "uid= uid", a.uid, 21);
	expect(err, "uid= euid", a.euid, 22);
	expect(err, "uid= suid (unread)", a.suid, 0);
	expect(err, "uid= cap_setuid (unread)", a.cap_setuid, 0);
	expect(err, "uid= sgid (unread)", a.sgid, 0);
	// egid= alone reads the gid side only.
	if (bpf_matcher->read_creds(EIMA_COND_EGID, a))
		return "read_creds for egid= failed";
	expect(err, "egid= sgid", a.sgid, 13);
	expect(err, "egid= cap_setgid", a.cap_setgid, 1);
	expect(err, "egid= suid (unread)", a.suid, 0);
	expect(err, "egid= cap_setuid (unread)", a.cap_setuid, 0);
	for (auto [drop, uid_cap, gid_cap] :
	     {std::tuple{CAP_SETUID, 0u, 1u}, {CAP_SETGID, 1u, 0u}}) {
		if (!set_effective_caps(std::uint64_t{1} << drop))
			return std::string("capset: ") + std::strerror(errno);
		if (bpf_matcher->read_creds(both, a))
			return "read_creds without a capability failed";
		expect(err, "cap_setuid", a.cap_setuid, uid_cap);
		expect(err, "cap_setgid", a.cap_setgid, gid_cap);
	}
	if (!set_effective_caps(0))
		return std::string("capset: ") + std::strerror(errno);
	if (unshare(CLONE_NEWUSER) == 0) {
		int rc = bpf_matcher->read_creds(both, a);
		if (rc == 0) {
			expect(err, "userns euid", a.euid, 22);
			expect(err, "userns cap_setuid", a.cap_setuid, 0);
			expect(err, "userns cap_setgid", a.cap_setgid, 0);
		} else {
			std::cout << "  (not checked in a user namespace: BPF_PROG_TEST_RUN: "
				  << std::strerror(-rc) << ")\n";
		}
	} else {
		std::cout << "  (not checked in a user namespace: unshare: " << std::strerror(errno)
			  << ")\n";
	}
	return err;
}

// The reads themselves, on this kernel (whichever kernel_cap_t layout it has).
TEST(BpfPolicyMatch, ReadsIdsAndSetidCapabilitiesOfTheTask)
{
	int pipefd[2];
	ASSERT_EQ(pipe(pipefd), 0);
	std::cout.flush();
	pid_t pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		close(pipefd[0]);
		std::string err = check_creds_in_child();
		std::cout.flush();
		if (write(pipefd[1], err.data(), err.size()) < 0)
			_exit(2);
		_exit(err.empty() ? 0 : 1);
	}
	close(pipefd[1]);
	std::string err;
	char buf[256];
	for (ssize_t n; (n = read(pipefd[0], buf, sizeof(buf))) > 0;)
		err.append(buf, n);
	close(pipefd[0]);
	int status = 0;
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << err;
}

// A BPF matcher blind to CAP_SETUID/CAP_SETGID (the effective id alone decides euid= and
// egid=, as bpf/lib/policy_match.h did) must show up, on tcb (FILE_CHECK euid=0) and on
// every-condition (euid=, euid>, egid>, egid<).
TEST(BpfPolicyMatch, ComparisonCatchesIgnoredSetidCapabilities)
{
	auto every = parse_policy(every_condition_policy, "every-condition");
	ASSERT_TRUE(every.has_value());
	auto tcb = builtin_policy("tcb");
	ASSERT_TRUE(tcb.has_value());
	for (const Policy *p : {&*tcb, &*every}) {
		auto compiled = compile_policy(*p, KernelMode::lsm);
		ASSERT_TRUE(compiled.has_value());
		auto accesses = accesses_for(*compiled);
		Tally uid = compare(*compiled, accesses, [](eima_access &a) { a.cap_setuid = 0; });
		EXPECT_GT(uid.mismatch_count, 0u) << "CAP_SETUID ignored went unnoticed";
		if (p == &*every) {
			Tally gid = compare(*compiled, accesses,
					    [](eima_access &a) { a.cap_setgid = 0; });
			EXPECT_GT(gid.mismatch_count, 0u) << "CAP_SETGID ignored went unnoticed";
		}
	}
}

} // namespace
} // namespace eima::policy

int main(int argc, char **argv)
{
	testing::InitGoogleTest(&argc, argv);
	std::string why;
	bool refused = false;
	auto matcher = eima::policy::BpfMatcher::load(why, refused);
	if (!matcher) {
		std::cout << (refused ? "SKIP: " : "FAIL: ") << why << "\n";
		return refused ? 77 : 1;
	}
	eima::policy::bpf_matcher = matcher.get();
	return RUN_ALL_TESTS();
}
