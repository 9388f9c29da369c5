// eimad's control socket: it accepts clients, reads each one's request as its bytes come,
// asks a ControlService for the answer, and sends it when it is in, without ever blocking
// the event loop, on a TPM or on a client (a quote's client waits; eimad goes on measuring
// and answering others).
//
// A client is untrusted even though only root may connect (the socket is 0600): a client
// that sends nothing, sends slowly, sends too much or never reads its reply costs one slot
// and a bounded buffer, and is cut off at its deadline. Limits below; what happens at each
// is in docs/failure-modes.md.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
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

// Who sent a request: the connecting process's credentials as the kernel gave them
// (SO_PEERCRED at connect time), not anything the client claims.
struct ControlPeer {
	std::int32_t pid = 0;
	std::uint32_t uid = static_cast<std::uint32_t>(-1);
};

// What the control commands ask of eimad.
class ControlService {
public:
	virtual ~ControlService() = default;
	virtual nlohmann::json status() const = 0;
	virtual nlohmann::json ps() const = 0;
	virtual ControlAnswer pcrs(const nlohmann::json &req) = 0;
	virtual ControlAnswer quote(const nlohmann::json &req) = 0;
	// Enrolment through eimad, which owns the TPM (docs/enroll.md): the TPM's EKs and AK,
	// and TPM2_ActivateCredential of a verifier's challenge with them.
	virtual ControlAnswer identity(const nlohmann::json &req) = 0;
	virtual ControlAnswer activate(const nlohmann::json &req) = 0;
	// "bless-authorize": lets process `pid` (the client's, from SO_PEERCRED; root) change
	// blessed files until it exits (docs/enforcement.md). peer_waiting: whether the client
	// is still connected. The reply, or one with "error".
	virtual nlohmann::json authorize_bless(int pid, const std::function<bool()> &peer_waiting)
	{
		(void)pid;
		(void)peer_waiting;
		return {{"error", "this eimad does not authorize eima bless"}};
	}
	// Why an answer may be late (a TPM that is stalled or gone, and how much waits for
	// it): said in the error of an answer that timed out.
	virtual std::string why_late() const { return {}; }
	// `eima stop`: a clean stop, as SIGTERM, which is the only way for anyone but PID 1
	// to stop an eimad under --protect. Authorized by the peer's credentials.
	virtual nlohmann::json stop(const ControlPeer &) { return {{"error", "stop: not supported"}}; }
};

struct ControlLimits {
	// Clients connected at once; one more is closed at once (its request unread): a flood
	// costs no memory, and clients that finish free their slot.
	std::size_t max_clients = 64;
	// A request is one short JSON line; a longer one gets an error reply and is closed.
	std::size_t max_request = 64 * 1024;
	// From connecting until the request's newline (a slowloris is cut off here), and from
	// the reply being in until it is all sent (a client that never reads).
	std::chrono::milliseconds read_timeout{5000}, write_timeout{5000};
	// An answer that waits on a TPM: past this the client gets an error saying why (the
	// TPM's work goes on; the next request asks again).
	std::chrono::milliseconds answer_timeout{30000};
};

class ControlServer {
public:
	// service outlives the server; before_reply runs before each reply is sent (eimad
	// writes its lists, so they hold what the reply covers); before_request before each
	// request is answered (eimad drains its ring: the answer covers every event so far).
	ControlServer(ControlService &service, std::function<void()> before_reply,
		      std::function<void()> before_request = {}, ControlLimits limits = {});

	// Listens on socket_path (see control/control_protocol.h).
	Result<void> listen(const std::string &socket_path);
	// Readable when a client connects, sends, or can take more of its reply: then call
	// serve_ready(). An epoll fd holding the listening socket and every client's.
	int fd() const { return epoll_fd_.get(); }
	// Accepts who waits, reads what clients sent, and asks for the answer of every request
	// that is complete. Never blocks.
	void serve_ready();
	// A client already connected (tests: one end of a socketpair): read as above.
	void serve(UniqueFd client);
	// Sends the replies that are in (with wait, waits for all of them), and cuts off
	// clients past their deadline.
	void answer(bool wait);
	// Clients waiting for an answer that is not in yet (a quote or PCR read on a TPM).
	std::size_t waiting() const;
	std::size_t clients() const { return clients_.size(); }
	// Clients closed unanswered: refused (over max_clients), cut off (a deadline passed
	// or the request was too long or the reply could not be sent).
	std::uint64_t refused() const { return refused_; }
	std::uint64_t cut_off() const { return cut_off_; }

private:
	using Clock = std::chrono::steady_clock;
	struct Client {
		UniqueFd fd;
		std::string in;  // request bytes so far
		std::string out; // reply bytes not yet sent
		std::optional<ControlAnswer> answer; // asked, not in yet
		Clock::time_point deadline;
		bool replied = false; // out holds the whole reply
	};
	void add(UniqueFd client);
	nlohmann::json authorize_bless(const Client &c);
	// Reads what the client sent; false when it is done with (closed or cut off).
	bool read_from(Client &c);
	void ask(Client &c, std::string_view line);
	void reply(Client &c, const nlohmann::json &msg);
	// Sends what it can of c.out; false when the client is finished with.
	bool send(Client &c);
	void watch(Client &c, std::uint32_t events);

	ControlService &service_;
	std::function<void()> before_reply_, before_request_;
	ControlLimits limits_;
	UniqueFd listen_fd_, epoll_fd_;
	std::list<Client> clients_;
	std::uint64_t refused_ = 0, cut_off_ = 0;
};

} // namespace eima::agent
