// eimad's control socket: it accepts a client, reads its request, asks a ControlService
// for the answer, and sends it when it is in, without blocking the event loop on a TPM
// (a quote's client waits; eimad goes on measuring and answering others).
#pragma once

#include <cstddef>
#include <functional>
#include <list>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/unique_fd.h"

namespace eima::agent {

// A control request's answer, which may wait on a TPM: called with wait=false on every tick
// until it gives the reply (with wait=true, it blocks until it does).
using ControlAnswer = std::move_only_function<std::optional<nlohmann::json>(bool wait)>;

// An answer that is in already.
ControlAnswer answer_now(nlohmann::json reply);

// What the control commands ask of eimad.
class ControlService {
public:
	virtual ~ControlService() = default;
	virtual nlohmann::json status() const = 0;
	virtual nlohmann::json ps() const = 0;
	virtual ControlAnswer pcrs(const nlohmann::json &req) = 0;
	virtual ControlAnswer quote(const nlohmann::json &req) = 0;
};

class ControlServer {
public:
	// service outlives the server; before_reply runs before each reply is sent (eimad
	// writes its lists, so they hold what the reply covers).
	ControlServer(ControlService &service, std::function<void()> before_reply);

	// Listens on socket_path (see control/control_protocol.h).
	Result<void> listen(const std::string &socket_path);
	int fd() const { return listen_fd_.get(); }
	// A client waiting on the socket, if any.
	std::optional<UniqueFd> accept();
	// Reads the client's request and queues its answer; answer() sends it.
	void serve(UniqueFd client);
	// Sends the replies that are in; with wait, all of them.
	void answer(bool wait);
	// Clients waiting for a reply (a quote or PCR read waiting on a TPM).
	std::size_t waiting() const { return deferred_.size(); }

private:
	ControlService &service_;
	std::function<void()> before_reply_;
	UniqueFd listen_fd_;
	struct DeferredReply {
		UniqueFd client;
		ControlAnswer answer;
	};
	std::list<DeferredReply> deferred_;
};

} // namespace eima::agent
