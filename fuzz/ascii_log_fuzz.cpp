// IMA ascii lists (what Keylime and evmctl read) and evmctl PCR files.
#include <cstdint>
#include <string_view>

#include "attest/log_verifier.h"
#include "attest/runtime_policy.h"
#include "common/json_text.h"
#include "ima/ascii_log.h"
#include "ima/replay.h"
#include "ima/template_entry.h"

using namespace eima;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	std::string_view text(reinterpret_cast<const char *>(data), size);
	if (auto log = ima::read_ascii_log(text)) {
		for (const auto &e : log->entries) {
			(void)ima::file_digest(e);
			(void)ima::event_name(e);
			(void)ima::template_hash(e, ima::HashAlgo::sha256);
		}
		(void)ima::replay(log->entries, ima::HashAlgo::sha256);
		// A policy made from the list, written as JSON and read back, still allows it.
		if (auto p = attest::policy_from_log(*log)) {
			auto text_policy = json_dump(attest::runtime_policy_to_json(p->policy), 2);
			auto back = attest::parse_runtime_policy(text_policy, "fuzz");
			if (!back || !(*back == p->policy))
				__builtin_trap();
			// Violations allow nothing (whatever reason names them); every other entry passes.
			for (const auto &f : attest::evaluate(*back, *log))
				if (f.entry >= log->entries.size() ||
				    !ima::is_violation(log->entries[f.entry]))
					__builtin_trap();
		}
	}
	auto report = attest::verify_log_bytes(text, {});
	(void)json_dump(report.to_json());
	for (auto bank : {ima::HashAlgo::sha1, ima::HashAlgo::sha256})
		(void)ima::parse_pcr_file(text, bank);
	return 0;
}
