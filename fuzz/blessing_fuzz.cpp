// The eima blessing xattr value (bpf/abi/blessing.h): verify_blessing on any bytes, against
// a fixed public certificate (fuzz/seeds/blessing-cert.pem, whose key no longer exists:
// fuzz/seeds/make_blessing.sh signed the valid seeds and threw it away).
//
// Input: one mode byte, then the value. The mode's low bits pick the hash algorithm; with
// bit 3 set the file's digest is the one the value carries (so the fuzzer gets past the
// digest comparison to the PKCS#7 parser), else it is the algorithm's digest of "eima fuzz".
//
// What must hold besides "no crash, no leak, no UB":
//  - a failure is reported as "verify blessing" (never as the certificate's, which is good);
//  - a value accepted is one the BPF program can read and the signer wrote: at most
//    EIMA_BLESSING_VALUE_MAX bytes, its first bytes are blessing_message(algo, digest), and
//    the DER signature runs to the end of the value (no bytes a verifier would ignore);
//  - an accepted value no longer verifies for another digest.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include <openssl/cms.h>

#include "property.h"
#include "common/file_io.h"
#include "ima/hash_algo.h"
#include "sbom/blessing.h"

extern "C" {
#include "bpf/abi/blessing.h"
}

using namespace eima;

namespace {

struct CmsFree {
	void operator()(CMS_ContentInfo *c) const { CMS_ContentInfo_free(c); }
};

// The DER object at the start of sig spans all of it.
bool der_spans(std::span<const std::uint8_t> sig)
{
	const unsigned char *p = sig.data();
	std::unique_ptr<CMS_ContentInfo, CmsFree> cms(
		d2i_CMS_ContentInfo(nullptr, &p, static_cast<long>(sig.size())));
	return cms && p == sig.data() + sig.size();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	static const std::string cert = EIMA_FUZZ_BLESSING_CERT;
	const std::uint8_t mode = data[0];
	const auto algo = ima::all_hash_algos[(mode & 7) % std::size(ima::all_hash_algos)];
	std::span<const std::uint8_t> value(data + 1, size - 1);
	const std::size_t dsize = ima::digest_size(algo);

	Bytes digest;
	if ((mode & 8) && value.size() >= 8 + dsize) {
		digest.assign(value.begin() + 8, value.begin() + 8 + static_cast<long>(dsize));
	} else {
		static Bytes fixed[std::size(ima::all_hash_algos)];
		auto &d = fixed[(mode & 7) % std::size(ima::all_hash_algos)];
		if (d.empty())
			d = *ima::digest(algo, as_bytes(std::string_view("eima fuzz")));
		digest = d;
	}

	auto r = sbom::verify_blessing(value, algo, digest, cert);
	if (!r) {
		// Another op is the certificate's: it did not load, a broken harness.
		EIMA_FUZZ_REQUIRE(r.error().op == "verify blessing");
		return 0;
	}
	EIMA_FUZZ_REQUIRE(value.size() <= EIMA_BLESSING_VALUE_MAX);
	Bytes msg = sbom::blessing_message(algo, digest);
	EIMA_FUZZ_REQUIRE(std::equal(msg.begin(), msg.end(), value.begin()));
	EIMA_FUZZ_REQUIRE(der_spans(value.subspan(msg.size())));
	Bytes other = digest;
	other[0] ^= 1;
	EIMA_FUZZ_REQUIRE(!sbom::verify_blessing(value, algo, other, cert));
	return 0;
}
