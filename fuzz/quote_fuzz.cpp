// The quote structures a verifier reads from the attested machine: TPMS_ATTEST,
// TPMT_SIGNATURE, the quoted PCR values and list, through verify_evidence with a key the
// fuzzer made (signatures fail; every check after them still runs on the bytes).
// Input: u16 attest length | u16 signature length | u8 entries | attest | signature | list.
#include <cstdint>
#include <string>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "attest/evidence.h"
#include "attest/quote_verifier.h"
#include "common/json_text.h"

using namespace eima;

namespace {

std::string make_ak_pem()
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	BIO *bio = BIO_new(BIO_s_mem());
	PEM_write_bio_PUBKEY(bio, key);
	char *p = nullptr;
	long n = BIO_get_mem_data(bio, &p);
	std::string pem(p, static_cast<std::size_t>(n));
	BIO_free(bio);
	EVP_PKEY_free(key);
	return pem;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const std::string ak = make_ak_pem();
	if (size < 5)
		return 0;
	std::size_t attest_len = data[0] | (data[1] << 8);
	std::size_t sig_len = data[2] | (data[3] << 8);
	std::size_t entries = data[4];
	data += 5;
	size -= 5;
	attest_len = std::min(attest_len, size);
	sig_len = std::min(sig_len, size - attest_len);
	attest::Evidence ev;
	ev.attest.assign(data, data + attest_len);
	ev.signature.assign(data + attest_len, data + attest_len + sig_len);
	ev.list.assign(data + attest_len + sig_len, data + size);
	ev.entries = entries;
	ev.ak_pem = ak;
	ev.nonce = Bytes(8, 0x11);
	ev.pcrs[10] = Bytes(32, 0);
	auto rep = attest::verify_evidence(ev, ev.nonce, ak);
	if (rep)
		(void)json_dump(rep->to_json());
	return 0;
}
