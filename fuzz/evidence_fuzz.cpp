// Evidence JSON (eima quote / final-evidence.json) and the records a host list carries (the
// vTPM binding, eimad's BPF program record): parse, write, read back to the same.
#include <cstdint>
#include <string_view>

#include "attest/evidence.h"
#include "attest/measurer_record.h"
#include "attest/vtpm_binding.h"
#include "common/json_text.h"

using namespace eima;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	std::string_view text(reinterpret_cast<const char *>(data), size);
	(void)attest::parse_vtpm_binding(std::span<const std::uint8_t>(data, size), "fuzz");
	if (auto rec = attest::parse_bpf_prog_record(std::span<const std::uint8_t>(data, size),
						     "fuzz")) {
		auto buf = attest::bpf_prog_buffer(*rec);
		if (!buf)
			__builtin_trap(); // a record read back must be writable
		auto back = attest::parse_bpf_prog_record(*buf, "fuzz");
		if (!back || !(*back == *rec))
			__builtin_trap();
	}
	auto ev = attest::parse_evidence(text, "fuzz");
	if (!ev)
		return 0;
	std::string written = json_dump(attest::evidence_to_json(*ev), 2);
	auto again = attest::parse_evidence(written, "fuzz");
	if (!again || json_dump(attest::evidence_to_json(*again), 2) != written)
		__builtin_trap();
	(void)attest::cut_binary_list(ev->list, ev->entries);
	return 0;
}
