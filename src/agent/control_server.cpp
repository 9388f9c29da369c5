#include "agent/control_server.h"

#include <sys/socket.h>

#include "control/control_protocol.h"

namespace eima::agent {

ControlAnswer answer_now(nlohmann::json reply)
{
	return [reply = std::move(reply)](bool) mutable { return std::optional(std::move(reply)); };
}

ControlServer::ControlServer(ControlService &service, std::function<void()> before_reply)
	: service_(service), before_reply_(std::move(before_reply))
{
}

Result<void> ControlServer::listen(const std::string &socket_path)
{
	auto sock = control::listen_control(socket_path);
	if (!sock)
		return std::unexpected(sock.error());
	listen_fd_ = std::move(*sock);
	return {};
}

std::optional<UniqueFd> ControlServer::accept()
{
	int client = ::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC);
	if (client < 0)
		return std::nullopt;
	return UniqueFd(client);
}

void ControlServer::serve(UniqueFd client)
{
	auto req = control::read_message(client.get());
	ControlAnswer answer;
	if (!req) {
		answer = answer_now({{"error", req.error().message()}});
	} else {
		std::string cmd = req->value("cmd", "");
		if (cmd == "status")
			answer = answer_now(service_.status());
		else if (cmd == "ps")
			answer = answer_now(service_.ps());
		else if (cmd == "pcrs")
			answer = service_.pcrs(*req);
		else if (cmd == "quote")
			answer = service_.quote(*req);
		else
			answer = answer_now({{"error", "unknown command: " + cmd}});
	}
	// Answered by answer() later in this same wakeup, or, while a TPM is busy, in a later
	// one: the client waits, the event loop goes on.
	deferred_.push_back({std::move(client), std::move(answer)});
}

void ControlServer::answer(bool wait)
{
	for (auto it = deferred_.begin(); it != deferred_.end();) {
		auto reply = it->answer(wait);
		if (!reply) {
			++it;
			continue;
		}
		if (before_reply_)
			before_reply_(); // the lists on disk hold what the answer covers
		(void)control::write_message(it->client.get(), *reply);
		it = deferred_.erase(it);
	}
}

} // namespace eima::agent
