#include "sbom/sbom_report.h"

#include "common/hex.h"
#include "common/file_io.h"

namespace eima::sbom {

using nlohmann::json;

nlohmann::json path_json(std::string_view bytes)
{
	json s = std::string(bytes);
	try {
		// Strict dump is nlohmann's UTF-8 check: it throws on the first bad sequence.
		(void)s.dump(-1, ' ', false, json::error_handler_t::strict);
		return s;
	} catch (const json::type_error &) {
		return json{{"hex", to_hex(as_bytes(bytes))}};
	}
}

nlohmann::json summary_json(const SbomSummary &s)
{
	return json{{"format", format_name(s.format)},
		    {"encoding", encoding_name(s.encoding)},
		    {"spec_version", path_json(s.spec_version)},
		    {"name", path_json(s.name)},
		    {"packages", s.packages},
		    {"components", s.components},
		    {"files", s.files},
		    {"file_digests", s.file_digests},
		    {"files_without_digest", s.files_without_digest},
		    {"placeholder_digests", s.placeholder_digests},
		    {"invalid_digests", s.invalid_digests},
		    {"bytes", s.bytes}};
}

nlohmann::json file_json(const SbomFile &f)
{
	json digests = json::object();
	for (auto &d : f.digests)
		digests[d.algo] = d.hex; // algo and hex were checked to be ASCII
	json j = {{"path", path_json(f.path)}, {"digests", std::move(digests)}};
	if (f.placeholder_digests)
		j["placeholder_digests"] = f.placeholder_digests;
	if (f.invalid_digests)
		j["invalid_digests"] = f.invalid_digests;
	return j;
}

} // namespace eima::sbom
