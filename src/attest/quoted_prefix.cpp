#include "attest/quoted_prefix.h"

#include <string>

#include "ima/binary_log.h"
#include "ima/replay.h"

namespace eima::attest
{

Result<std::size_t> quoted_prefix(std::span<const std::uint8_t> list, ima::HashAlgo bank,
				  const std::map<std::uint32_t, Bytes> &quoted)
{
	const std::size_t size = ima::digest_size(bank);
	for (auto &[pcr, value] : quoted)
		if (value.size() != size)
			return fail(EINVAL, "quoted prefix",
				    "PCR " + std::to_string(pcr) + " is not a " +
					    std::string(ima::hash_algo_name(bank)) + " value");
	auto replayer = ima::Replayer::create(bank);
	if (!replayer)
		return std::unexpected(replayer.error());

	// Only the PCR an entry extends can change whether the replay matches, so the match is
	// tracked as a count of quoted PCRs that differ, updated per entry: two compares per
	// entry, however many PCRs are quoted.
	const Bytes zeros(size, 0);
	std::size_t differ = 0;
	for (auto &[pcr, value] : quoted)
		differ += value != zeros;
	if (differ == 0)
		return 0;

	ima::BinaryLogReader reader(list, ima::BinaryHeaderMode::kernel);
	ima::TemplateEntry e;
	for (;;) {
		const std::size_t index = reader.index(), offset = reader.offset();
		auto more = reader.next(e);
		if (!more)
			return std::unexpected(more.error());
		if (!*more)
			return index; // no prefix matches: the whole list
		auto q = quoted.find(e.pcr);
		bool matched_before = false;
		if (q != quoted.end()) {
			auto r = replayer->values().find(e.pcr);
			matched_before =
				(r == replayer->values().end() ? zeros : r->second) == q->second;
		}
		if (auto x = replayer->extend(e); !x)
			return fail(x.error().err, x.error().op,
				    "entry " + std::to_string(index) + " at offset " +
					    std::to_string(offset) + ": " + x.error().context);
		if (q == quoted.end())
			continue;
		const bool matches = replayer->values().at(e.pcr) == q->second;
		if (matches && !matched_before)
			--differ;
		else if (!matches && matched_before)
			++differ;
		if (differ == 0)
			return index + 1;
	}
}

} // namespace eima::attest
