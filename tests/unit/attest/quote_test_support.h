// Shared by the quote and container evidence tests: lists built here, keys that are not a
// TPM's, and eimad's quote reply for a quote taken from a real swtpm.
#pragma once

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/hex.h"
#include "ima/binary_log.h"
#include "ima/hash_algo.h"
#include "ima/template_entry.h"
#include "tpm/tpm.h"

namespace eima::attest::testing
{

// A P-256 public key that is not the TPM's AK, as PEM.
inline std::string other_key_pem()
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	EXPECT_NE(k, nullptr);
	BIO *bio = BIO_new(BIO_s_mem());
	PEM_write_bio_PUBKEY(bio, k);
	char *data = nullptr;
	long n = BIO_get_mem_data(bio, &data);
	std::string pem(data, static_cast<std::size_t>(n));
	BIO_free(bio);
	EVP_PKEY_free(k);
	return pem;
}

inline ima::TemplateEntry file_entry(const std::string &path, std::uint8_t fill,
				     std::uint32_t pcr = 10)
{
	auto e = ima::make_ima_ng(ima::HashAlgo::sha256, Bytes(32, fill), path, pcr);
	EXPECT_TRUE(e) << e.error().message();
	return *e;
}

inline Bytes write_list(const std::vector<ima::TemplateEntry> &entries)
{
	ima::UnverifiedLog log;
	log.entries = entries;
	auto b = ima::write_binary_log(log);
	EXPECT_TRUE(b) << b.error().message();
	return *b;
}

inline std::vector<ima::TemplateEntry> read_list(const Bytes &bytes)
{
	auto log = ima::read_binary_log(bytes, ima::BinaryHeaderMode::kernel);
	EXPECT_TRUE(log) << log.error().message();
	return log->entries;
}

// Extends each entry into its PCR of the sha1 and sha256 banks, as the kernel does.
inline void extend_entries(tpm::Tpm &t, const std::vector<ima::TemplateEntry> &entries)
{
	for (auto &e : entries) {
		auto h1 = ima::template_hash(e, ima::HashAlgo::sha1);
		auto h256 = ima::template_hash(e, ima::HashAlgo::sha256);
		ASSERT_TRUE(h1 && h256);
		ASSERT_TRUE(t.extend(e.pcr,
				     {{ima::HashAlgo::sha1, *h1}, {ima::HashAlgo::sha256, *h256}}));
	}
}

} // namespace eima::attest::testing
