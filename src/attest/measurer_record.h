// The records by which eimad measures itself (docs/measurer.md). Right after boot_aggregate,
// and again whenever it loads a program or a policy later, eimad appends to the host list:
//
//   its own binary   an ordinary file entry of the list's template (ima-ng by default):
//                    the file digest of /proc/self/exe, named by the path it resolves to;
//   each BPF program an ima-buf entry "eima-bpf-prog:<program name>" whose buffer is
//                    {"format":"eima-bpf-prog","name":N,"object":O,"object_sha256":HEX,
//                     "signed":false,"tag":HEX,"type":T,"version":1}
//                    (compact JSON, keys sorted, as nlohmann::json::dump() and `jq -cS`
//                    write it; "signer" follows "signed" when a program was loaded signed);
//   the policy       an ima-buf entry "eima-policy" whose buffer is the compiled policy
//                    (policy::compiled_policy_bytes).
//
// Only values that stay the same from one load to the next are in the record (no program
// id, no map ids), so a runtime policy can pin each entry's digest across restarts and
// boots: `tag` is the kernel's (bpf_prog_info.tag, what `bpftool prog show` prints), fixed
// by the instructions eimad submitted; `object_sha256` is SHA-256 of the whole BPF object
// (.bpf.o) the program came from, what `sha256sum` of the installed object prints.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "common/error.h"
#include "common/hex.h"

namespace eima::attest
{

inline constexpr std::string_view bpf_prog_entry_prefix = "eima-bpf-prog:";
inline constexpr std::string_view bpf_prog_record_format = "eima-bpf-prog";
inline constexpr std::string_view policy_entry_name = "eima-policy";

struct BpfProgRecord {
	std::string name;   // the program's name in its object (libbpf's, not cut to 15 bytes)
	std::string type;   // libbpf's name of bpf_prog_info.type: "tracing", "lsm", ...
	Bytes tag;	    // bpf_prog_info.tag, 8 bytes
	std::string object; // the object's file name, "measure_trace.bpf.o"
	Bytes object_sha256;
	// Whether the kernel (or eimad, on kernels without signed BPF) checked a signature at
	// load, and the signer's certificate subject when it did.
	bool is_signed = false;
	std::string signer;

	bool operator==(const BpfProgRecord &) const = default;
};

// "eima-bpf-prog:<name>": the ima-buf entry's event name.
std::string bpf_prog_entry_name(std::string_view program);
// The program name of an event name, or empty when it is not a program record's.
std::string_view bpf_prog_entry_program(std::string_view event_name);

// Errors when a field cannot be what the format says (tag not 8 bytes, object_sha256 not
// 32, an empty name), so that eimad never writes a record a verifier would refuse.
Result<Bytes> bpf_prog_buffer(const BpfProgRecord &r);
// Errors name `where` (e.g. "host list entry 3") and what is wrong.
Result<BpfProgRecord> parse_bpf_prog_record(std::span<const std::uint8_t> buffer,
					    const std::string &where);

} // namespace eima::attest
