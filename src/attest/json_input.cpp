#include "attest/json_input.h"

namespace eima::attest {

std::string json_pointer_token(std::string_view key)
{
	std::string out;
	for (char c : key) {
		if (c == '~')
			out += "~0";
		else if (c == '/')
			out += "~1";
		else
			out += c;
	}
	return out;
}

std::unexpected<Error> json_error(const std::string &op, const std::string &source,
				  const std::string &pointer, const std::string &why)
{
	return fail(op, source + ": " + (pointer.empty() ? "/" : pointer) + ": " + why);
}

Result<std::vector<std::string>> json_strings(const nlohmann::json &j, const std::string &op,
					      const std::string &source, const std::string &pointer)
{
	if (!j.is_array())
		return json_error(op, source, pointer, "not an array of strings");
	std::vector<std::string> out;
	for (std::size_t i = 0; i < j.size(); ++i) {
		if (!j[i].is_string())
			return json_error(op, source, pointer + "/" + std::to_string(i), "not a string");
		out.push_back(j[i].get<std::string>());
	}
	return out;
}

} // namespace eima::attest
