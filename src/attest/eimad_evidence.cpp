#include "attest/eimad_evidence.h"

#include "common/file_io.h"
#include "common/json_text.h"
#include "control/control_protocol.h"

namespace eima::attest {

Result<Evidence> request_evidence(const EvidenceRequest &request)
{
	nlohmann::json req = {{"cmd", "quote"},
			      {"nonce", to_hex(request.nonce)},
			      {"bank", request.bank},
			      {"pcrs", request.pcrs}};
	if (!request.container.empty())
		req["container"] = request.container;
	auto reply = control::control_request(request.run_dir, req);
	if (!reply)
		return std::unexpected(reply.error());
	Result<Evidence> ev;
	if (!request.container.empty()) {
		// eimad answers for the container asked; anything else is a protocol error, not
		// evidence about the wrong container.
		auto id = reply->find("container");
		if (id == reply->end() || *id != request.container)
			return fail("eimad", "the quote reply is for container " +
						     (id == reply->end() ? std::string("(none)")
									 : json_dump(*id)) +
						     ", not \"" + request.container + "\"");
		ev = read_container_evidence(*reply, request.run_dir);
	} else {
		std::string host_path = request.run_dir + "/host/binary_runtime_measurements";
		auto list = read_file(host_path);
		if (!list)
			return std::unexpected(list.error());
		ev = evidence_from_quote_reply(*reply, as_bytes(*list));
		if (!ev)
			ev.error().context = host_path + ": " + ev.error().context;
	}
	if (!ev)
		return std::unexpected(ev.error());
	set_run_dir(*ev, request.run_dir);
	return ev;
}

} // namespace eima::attest
