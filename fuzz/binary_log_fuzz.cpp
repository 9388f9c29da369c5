// IMA binary lists: every record the reader accepts is re-derived (template hash, digest,
// name) and replayed, which walks the fields the parser trusted.
//
// Plain byte mutations almost never keep a record's u32 length fields consistent with the
// bytes after them, so the fuzzer would stay in the first record's error paths. The custom
// mutator walks the records as the kernel lays them out and, with some probability,
// mutates inside one field and then rewrites the lengths that enclose it (name_len,
// data_len, each field's u32 length), so most inputs parse deep into the list.
#include <cstdint>
#include <cstring>
#include <vector>

#include "attest/log_verifier.h"
#include "attest/runtime_policy.h"
#include "ima/binary_log.h"
#include "ima/replay.h"
#include "ima/template_entry.h"

extern "C" size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

namespace {

using namespace eima;

std::uint32_t get_u32(const std::vector<std::uint8_t> &b, std::size_t off)
{
	std::uint32_t v;
	std::memcpy(&v, b.data() + off, 4);
	return v;
}

void put_u32(std::vector<std::uint8_t> &b, std::size_t off, std::uint32_t v)
{
	std::memcpy(b.data() + off, &v, 4);
}

// One kernel-format record: offsets of its length fields and of its data's fields.
struct Record {
	std::size_t start, name_len_off, data_len_off, data_off, end;
	std::vector<std::size_t> field_len_offs; // u32 length of each template data field
};

std::vector<Record> kernel_records(const std::vector<std::uint8_t> &b)
{
	std::vector<Record> out;
	std::size_t off = 0;
	while (off + 28 <= b.size()) {
		Record r{};
		r.start = off;
		r.name_len_off = off + 24;
		std::uint32_t name_len = get_u32(b, r.name_len_off);
		if (name_len > 255 || r.name_len_off + 4 + name_len + 4 > b.size())
			break;
		r.data_len_off = r.name_len_off + 4 + name_len;
		std::uint32_t data_len = get_u32(b, r.data_len_off);
		r.data_off = r.data_len_off + 4;
		if (data_len > b.size() - r.data_off)
			break;
		r.end = r.data_off + data_len;
		for (std::size_t f = r.data_off; f + 4 <= r.end;) {
			std::uint32_t len = get_u32(b, f);
			if (len > r.end - f - 4)
				break;
			r.field_len_offs.push_back(f);
			f += 4 + len;
		}
		out.push_back(r);
		off = r.end;
	}
	return out;
}

// Mutates the content of one template data field of one record and fixes the field's
// length and the record's data_len. Returns the new size, 0 when nothing applied.
std::size_t mutate_field(std::vector<std::uint8_t> &b, std::size_t max_size, unsigned seed)
{
	auto records = kernel_records(b);
	if (records.empty())
		return 0;
	const Record &r = records[seed % records.size()];
	if (r.field_len_offs.empty())
		return 0;
	std::size_t len_off = r.field_len_offs[(seed / 7) % r.field_len_offs.size()];
	std::uint32_t old_len = get_u32(b, len_off);
	std::vector<std::uint8_t> field(b.begin() + len_off + 4, b.begin() + len_off + 4 + old_len);
	std::size_t room = max_size > b.size() ? max_size - b.size() : 0;
	field.resize(old_len + std::min<std::size_t>(room, 64));
	std::size_t new_len = LLVMFuzzerMutate(field.data(), old_len, field.size());
	field.resize(new_len);
	std::vector<std::uint8_t> out(b.begin(), b.begin() + len_off);
	out.resize(len_off + 4);
	put_u32(out, len_off, static_cast<std::uint32_t>(new_len));
	out.insert(out.end(), field.begin(), field.end());
	out.insert(out.end(), b.begin() + len_off + 4 + old_len, b.end());
	std::uint32_t data_len = get_u32(out, r.data_len_off);
	put_u32(out, r.data_len_off,
		static_cast<std::uint32_t>(data_len + new_len - old_len));
	if (out.size() > max_size)
		return 0;
	b = std::move(out);
	return b.size();
}

// Copies one whole record to another place in the list (lists are sequences of similar
// records; a duplicate reaches replay and per-entry code with a known-good shape).
std::size_t duplicate_record(std::vector<std::uint8_t> &b, std::size_t max_size, unsigned seed)
{
	auto records = kernel_records(b);
	if (records.empty())
		return 0;
	const Record &r = records[seed % records.size()];
	const Record &at = records[(seed / 3) % records.size()];
	std::vector<std::uint8_t> rec(b.begin() + r.start, b.begin() + r.end);
	if (b.size() + rec.size() > max_size)
		return 0;
	b.insert(b.begin() + at.start, rec.begin(), rec.end());
	return b.size();
}

} // namespace

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size,
					  unsigned int seed)
{
	if (seed % 3 != 0) {
		std::vector<std::uint8_t> b(data, data + size);
		std::size_t n = seed % 3 == 1 ? mutate_field(b, max_size, seed / 3)
					      : duplicate_record(b, max_size, seed / 3);
		if (n) {
			std::memcpy(data, b.data(), n);
			return n;
		}
	}
	return LLVMFuzzerMutate(data, size, max_size);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	std::span<const std::uint8_t> bytes(data, size);
	for (auto mode : {ima::BinaryHeaderMode::detect, ima::BinaryHeaderMode::kernel,
			  ima::BinaryHeaderMode::typed}) {
		auto log = ima::read_binary_log(bytes, mode);
		if (!log)
			continue;
		for (const auto &e : log->entries) {
			(void)ima::file_digest(e);
			(void)ima::event_name(e);
			(void)ima::signature(e);
			(void)ima::expected_header_digest(e);
			(void)ima::template_hash(e, ima::HashAlgo::sha256);
		}
		(void)ima::replay(log->entries, ima::HashAlgo::sha1);
		// The policy made from a list must allow that list (docs/json-bytes.md: also when
		// its names are not UTF-8).
		if (auto p = attest::policy_from_log(*log)) {
			auto failures = attest::evaluate(p->policy, *log);
			// Violations allow nothing (whatever reason names them); every other entry passes.
			for (const auto &f : failures)
				if (f.entry >= log->entries.size() ||
				    !ima::is_violation(log->entries[f.entry]))
					__builtin_trap();
		}
	}
	// The streaming verifier reads the same bytes on its own code path.
	(void)attest::verify_log_bytes(
		std::string_view(reinterpret_cast<const char *>(data), size), {});
	return 0;
}
