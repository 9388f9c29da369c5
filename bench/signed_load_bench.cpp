// What a signature check and the only-signed-BPF policy hook add to one BPF_PROG_LOAD,
// as ratios against the same program loaded unsigned with no policy, in one run
// (bench/signed_load_cost.sh runs it in the 6.18 guest). The program is a signed object's
// loader; its data map is made once. Cases, each once in every round:
//   unsigned            the loader without signature, no policy (baseline)
//   signed              with its signature, checked against the keyring
//   signed + policy     the same with bpf_policy attached and enforcing
//   unsigned + audit    unsigned with bpf_policy attached in audit mode (the hook alone)
//   usage: eima-bench-signed-load SIGNED.bpf.o POLICY.signed.bpf.o KEYRING ROUNDS
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bpfsign/bpf_policy.h"
#include "bpfsign/signed_loader.h"

using namespace eima;
using namespace eima::bpfsign;

namespace {

double median(std::vector<double> v)
{
	std::sort(v.begin(), v.end());
	return v.empty() ? 0 : v[v.size() / 2];
}

// Microseconds for one load, or exits on failure.
double time_load(const UnverifiedSignedObject &obj, int map, std::optional<std::int32_t> keyring)
{
	auto t0 = std::chrono::steady_clock::now();
	auto fd = load_loader(obj, map, keyring, "bench");
	auto t1 = std::chrono::steady_clock::now();
	if (!fd) {
		std::fprintf(stderr, "%s\n", fd.error().message().c_str());
		std::exit(1);
	}
	return std::chrono::duration<double, std::micro>(t1 - t0).count();
}

struct Policy {
	LoadedObject loaded;
	LoaderManifest manifest;
};

Policy load_policy(const std::string &path, std::int32_t keyring)
{
	auto obj = read_signed_object(path);
	auto manifest = obj ? read_loader_manifest(obj->data) : Result<LoaderManifest>{};
	auto loaded = obj && manifest ? load_signed_object(*obj, *manifest, keyring, path)
				      : Result<LoadedObject>{};
	if (!obj || !manifest || !loaded) {
		std::fprintf(stderr, "cannot load %s\n", path.c_str());
		std::exit(1);
	}
	return {std::move(*loaded), std::move(*manifest)};
}

// Attached (a link of its own, closed to detach) and configured to enforce or audit.
void set_policy(Policy &p, std::int32_t keyring, bool attached, bool audit)
{
	p.loaded.links.clear();
	if (!attached)
		return;
	if (!configure_bpf_policy(p.loaded, BpfPolicySettings{.path = SigningPath::native, .trusted_keyrings = {keyring}, .audit = audit}) ||
	    !attach_programs(p.loaded, p.manifest)) {
		std::fprintf(stderr, "cannot attach the policy\n");
		std::exit(1);
	}
}

} // namespace

int main(int argc, char **argv)
{
	if (argc != 5) {
		std::fprintf(stderr, "usage: %s SIGNED.bpf.o POLICY.signed.bpf.o KEYRING ROUNDS\n",
			     argv[0]);
		return 2;
	}
	auto obj = read_signed_object(argv[1]);
	if (!obj) {
		std::fprintf(stderr, "%s\n", obj.error().message().c_str());
		return 1;
	}
	auto keyring = static_cast<std::int32_t>(std::atol(argv[3]));
	int rounds = std::atoi(argv[4]);
	auto map = make_loader_map(*obj, argv[1]);
	if (!map) {
		std::fprintf(stderr, "%s\n", map.error().message().c_str());
		return 1;
	}
	std::vector<double> unsigned_us, signed_us, policy_us, audit_us;
	Policy policy = load_policy(argv[2], keyring);
	for (int i = 0; i < 2; i++) { // warm up
		time_load(*obj, map->get(), std::nullopt);
		time_load(*obj, map->get(), keyring);
	}
	// Every case in every round, so that drift in the machine's load hits them alike.
	for (int r = 0; r < rounds; r++) {
		set_policy(policy, keyring, false, false);
		unsigned_us.push_back(time_load(*obj, map->get(), std::nullopt));
		signed_us.push_back(time_load(*obj, map->get(), keyring));
		set_policy(policy, keyring, true, false);
		policy_us.push_back(time_load(*obj, map->get(), keyring));
		set_policy(policy, keyring, true, true);
		audit_us.push_back(time_load(*obj, map->get(), std::nullopt));
	}
	set_policy(policy, keyring, false, false);
	double base = median(unsigned_us);
	std::printf("program: the loader of %s, %zu instructions; %d rounds, median µs per load\n",
		    argv[1], obj->insns.size() / 8, rounds);
	std::printf("%-20s %10s %8s\n", "case", "µs/load", "ratio");
	for (auto &[name, v] : {std::pair<const char *, std::vector<double> &>{"unsigned", unsigned_us},
				{"signed", signed_us},
				{"signed + policy", policy_us},
				{"unsigned + audit", audit_us}})
		std::printf("%-20s %10.0f %8.3f\n", name, median(v), median(v) / base);
	return 0;
}
