#include "control/control_protocol.h"
#include "common/json_text.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

namespace eima::control {

namespace {

constexpr std::size_t max_message = 1 << 20;

Result<sockaddr_un> socket_address(const std::string &path)
{
	sockaddr_un addr{};
	addr.sun_family = AF_UNIX;
	if (path.size() >= sizeof(addr.sun_path))
		return fail(ENAMETOOLONG, "control socket", path);
	std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
	return addr;
}

} // namespace

Result<UniqueFd> listen_control(const std::string &path)
{
	auto addr = socket_address(path);
	if (!addr)
		return std::unexpected(addr.error());
	UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
	if (!fd)
		return fail(errno, "socket", path);
	::unlink(path.c_str());
	mode_t old = ::umask(077);
	int rc = ::bind(fd.get(), reinterpret_cast<sockaddr *>(&*addr), sizeof(*addr));
	::umask(old);
	if (rc != 0)
		return fail(errno, "bind", path);
	if (::listen(fd.get(), 16) != 0)
		return fail(errno, "listen", path);
	return fd;
}

Result<nlohmann::json> read_message(int fd)
{
	std::string buf;
	char chunk[4096];
	while (buf.find('\n') == std::string::npos) {
		ssize_t n = ::read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail(errno, "read control message");
		if (n == 0)
			break;
		buf.append(chunk, static_cast<std::size_t>(n));
		if (buf.size() > max_message)
			return fail(EMSGSIZE, "read control message", "over 1 MiB");
	}
	return parse_message(std::string_view(buf).substr(0, buf.find('\n')));
}

Result<nlohmann::json> parse_message(std::string_view line)
{
	auto msg = json_parse(line, "control message");
	if (!msg || !msg->is_object())
		return fail("parse control message", "not a JSON object");
	return msg;
}

Result<nlohmann::json> parse_request(std::string_view line)
{
	auto req = parse_message(line);
	if (!req)
		return req;
	auto wrong = [](std::string_view key, std::string_view what) {
		return fail(EINVAL, "control request",
			    fmt::format("\"{}\" is not {}", key, what));
	};
	if (!req->contains("cmd") || !(*req)["cmd"].is_string())
		return wrong("cmd", "a string");
	for (const char *key : {"container", "bank", "nonce"})
		if (auto it = req->find(key); it != req->end() && !it->is_string())
			return wrong(key, "a string");
	if (auto it = req->find("banks"); it != req->end())
		if (!it->is_array() ||
		    !std::ranges::all_of(*it, [](const nlohmann::json &b) { return b.is_string(); }))
			return wrong("banks", "an array of strings");
	if (auto it = req->find("pcrs"); it != req->end())
		if (!it->is_array() || !std::ranges::all_of(*it, [](const nlohmann::json &p) {
			    return p.is_number_unsigned() && p.get<std::uint64_t>() < 24;
		    }))
			return wrong("pcrs", "an array of PCR numbers (0 to 23)");
	return req;
}

Result<void> write_message(int fd, const nlohmann::json &msg)
{
	std::string out = json_dump(msg) + "\n";
	for (std::size_t off = 0; off < out.size();) {
		ssize_t n = ::write(fd, out.data() + off, out.size() - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail(errno, "write control message");
		off += static_cast<std::size_t>(n);
	}
	return {};
}

Result<nlohmann::json> control_request(const std::string &run_dir, const nlohmann::json &req)
{
	std::string path = run_dir + "/eimad.sock";
	auto addr = socket_address(path);
	if (!addr)
		return std::unexpected(addr.error());
	UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
	if (!fd)
		return fail(errno, "socket");
	if (::connect(fd.get(), reinterpret_cast<sockaddr *>(&*addr), sizeof(*addr)) != 0)
		return fail(errno, "connect to eimad", path + " (is eimad running?)");
	if (auto r = write_message(fd.get(), req); !r)
		return std::unexpected(r.error());
	auto reply = read_message(fd.get());
	if (reply && reply->contains("error"))
		return fail("eimad", (*reply)["error"].get<std::string>());
	return reply;
}

} // namespace eima::control
