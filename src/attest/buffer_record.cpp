#include "attest/buffer_record.h"

#include "common/json_text.h"

namespace eima::attest
{

Bytes record_bytes(const nlohmann::json &j)
{
	std::string text = json_dump(j);
	return Bytes(text.begin(), text.end());
}

Result<nlohmann::json> parse_record(std::span<const std::uint8_t> buffer, std::string_view format,
				    const RecordSource &src)
{
	std::string what(src.what);
	auto parsed = json_parse(
		std::string_view(reinterpret_cast<const char *>(buffer.data()), buffer.size()),
		src.where);
	if (!parsed || !parsed->is_object())
		return fail(EINVAL, what, src.where + ": buffer is not a JSON object");
	const nlohmann::json &j = *parsed;
	if (j.find("format") == j.end() || j["format"] != format || j.find("version") == j.end() ||
	    j["version"] != 1)
		return fail(EINVAL, what,
			    src.where + ": not an " + std::string(format) + " version 1 record");
	return std::move(*parsed);
}

Result<std::string> record_string(const nlohmann::json &j, const char *key,
				  const RecordSource &src)
{
	auto it = j.find(key);
	if (it == j.end() || !it->is_string() || it->get_ref<const std::string &>().empty())
		return fail(EINVAL, std::string(src.what),
			    src.where + ": \"" + key + "\" is missing or not a string");
	return it->get<std::string>();
}

} // namespace eima::attest
