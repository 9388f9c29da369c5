#include "sbom/sbom_report.h"


namespace eima::sbom {

using nlohmann::json;

nlohmann::json summary_json(const SbomSummary &s)
{
	return json{{"format", format_name(s.format)},
		    {"encoding", encoding_name(s.encoding)},
		    {"spec_version", s.spec_version},
		    {"name", s.name},
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
	json j = {{"path", f.path}, {"digests", std::move(digests)}};
	if (f.placeholder_digests)
		j["placeholder_digests"] = f.placeholder_digests;
	if (f.invalid_digests)
		j["invalid_digests"] = f.invalid_digests;
	return j;
}

} // namespace eima::sbom
