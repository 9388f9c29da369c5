// The measurer is measured (docs/measurer.md): the host list entries that say which code
// does the measuring and by which rules. eimad appends them right after boot_aggregate
// (after a restart: after what the list already holds), and again for programs it loads
// later (self-protection):
//   - its own binary, an ordinary file entry of the list's template, named by the path
//     /proc/self/exe resolves to;
//   - each BPF program it runs, an ima-buf entry "eima-bpf-prog:<name>" holding the record
//     of attest/measurer_record.h (tag, object SHA-256, signature);
//   - the compiled policy, an ima-buf entry "eima-policy" (policy::compiled_policy_bytes).
// They go to the TPM like every other host entry, so a quote covers them, and a runtime
// policy can pin their digests (`eima verify --policy`).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "agent/agent_config.h"
#include "agent/measurement_probe.h"
#include "agent/self_protection.h"
#include "attest/measurer_record.h"
#include "bpf/abi/policy.h"
#include "common/error.h"
#include "ima/hash_algo.h"
#include "ima/template_entry.h"

namespace eima::agent {

// How the entries are written: the list's template and file digest algorithm (ima-buf
// entries use `hash`, as the vTPM bindings do) and the host PCR. With the legacy 'ima'
// template the records are 'ima' entries holding the SHA-1 of their buffer.
struct SelfMeasurementFormat {
	TemplateKind tmpl = TemplateKind::ima_ng;
	ima::HashAlgo hash = ima::HashAlgo::sha256;
	std::uint32_t pcr = ima::default_ima_pcr;
};

// The running binary: /proc/self/exe hashed (what runs, even when the path on disk was
// replaced since), named by the path it resolves to. exe: another file, for tests.
Result<ima::TemplateEntry> own_binary_entry(const SelfMeasurementFormat &f,
					    const std::string &exe = "/proc/self/exe");

// One loaded program's record, read from the kernel (bpf_prog_info: type and tag); signer:
// the subject of the certificate its signature was checked against, "" for unsigned.
Result<attest::BpfProgRecord> program_record(const ProbeProgram &prog, const std::string &object,
					     std::span<const std::uint8_t> object_sha256,
					     const std::string &signer = "");

Result<ima::TemplateEntry> program_entry(const SelfMeasurementFormat &f,
					 const attest::BpfProgRecord &record);

// Entries for every program of a set, in its order.
Result<std::vector<ima::TemplateEntry>>
program_entries(const SelfMeasurementFormat &f, const std::vector<ProbeProgram> &programs,
		const std::string &object, std::span<const std::uint8_t> object_sha256,
		const std::string &signer = "");

Result<ima::TemplateEntry> policy_entry(const SelfMeasurementFormat &f, const eima_policy &policy);

// All of it for a measurement probe and its policy: binary, programs, policy.
Result<std::vector<ima::TemplateEntry>> measure_self(const SelfMeasurementFormat &f,
						     const MeasurementProbe &probe,
						     const eima_policy &policy);

// The self-protection programs (eimad --protect), loaded once the list is open: appended
// after the rest.
Result<std::vector<ima::TemplateEntry>> measure_protection(const SelfMeasurementFormat &f,
							   const SelfProtection &protection);

} // namespace eima::agent
