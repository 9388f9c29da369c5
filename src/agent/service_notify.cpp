#include "agent/service_notify.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common/unique_fd.h"

namespace eima::agent {

Result<void> notify_service_manager(std::string_view state)
{
	const char *path = std::getenv("NOTIFY_SOCKET");
	if (!path || !*path)
		return {};
	sockaddr_un addr{};
	addr.sun_family = AF_UNIX;
	std::size_t len = std::strlen(path);
	if (len >= sizeof(addr.sun_path) || (path[0] != '/' && path[0] != '@'))
		return fail(EINVAL, "notify service manager", path);
	std::memcpy(addr.sun_path, path, len);
	if (path[0] == '@') // an abstract socket: a leading NUL instead of the '@'
		addr.sun_path[0] = '\0';
	UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
	if (!fd)
		return fail(errno, "notify service manager: socket");
	auto addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len);
	if (::sendto(fd.get(), state.data(), state.size(), MSG_NOSIGNAL,
		     reinterpret_cast<const sockaddr *>(&addr), addr_len) < 0)
		return fail(errno, "notify service manager", path);
	return {};
}

} // namespace eima::agent
