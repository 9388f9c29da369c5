// The readiness datagram eimad.service (Type=notify) waits for.
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/un.h>

#include <cstddef>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "agent/service_notify.h"
#include "common/unique_fd.h"

namespace {

using eima::UniqueFd;
using eima::agent::notify_service_manager;

// A datagram socket bound to PATH, as systemd's notify socket is.
UniqueFd bound_datagram_socket(const std::string &path, bool abstract)
{
	UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
	sockaddr_un addr{};
	addr.sun_family = AF_UNIX;
	path.copy(addr.sun_path + (abstract ? 1 : 0), path.size());
	auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() +
					  (abstract ? 1 : 0));
	EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr *>(&addr), len), 0);
	return fd;
}

std::string receive(int fd)
{
	char buf[64];
	ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
	return n < 0 ? std::string("(nothing)") : std::string(buf, static_cast<std::size_t>(n));
}

TEST(ServiceNotify, NoSocketIsNotAnError)
{
	::unsetenv("NOTIFY_SOCKET");
	EXPECT_TRUE(notify_service_manager("READY=1"));
}

TEST(ServiceNotify, SendsTheStateToAPathSocket)
{
	auto path = std::filesystem::temp_directory_path() /
		    ("eima-notify-" + std::to_string(::getpid()));
	std::filesystem::remove(path);
	auto fd = bound_datagram_socket(path, false);
	::setenv("NOTIFY_SOCKET", path.c_str(), 1);
	EXPECT_TRUE(notify_service_manager("READY=1"));
	EXPECT_EQ(receive(fd.get()), "READY=1");
	::unsetenv("NOTIFY_SOCKET");
	std::filesystem::remove(path);
}

TEST(ServiceNotify, SendsTheStateToAnAbstractSocket)
{
	std::string name = "eima-notify-abstract-" + std::to_string(::getpid());
	auto fd = bound_datagram_socket(name, true);
	::setenv("NOTIFY_SOCKET", ("@" + name).c_str(), 1);
	EXPECT_TRUE(notify_service_manager("STOPPING=1"));
	EXPECT_EQ(receive(fd.get()), "STOPPING=1");
	::unsetenv("NOTIFY_SOCKET");
}

TEST(ServiceNotify, ANameThatIsNoSocketAddressIsAClearError)
{
	::setenv("NOTIFY_SOCKET", "relative/path", 1);
	auto r = notify_service_manager("READY=1");
	ASSERT_FALSE(r);
	EXPECT_NE(r.error().message().find("relative/path"), std::string::npos);
	::setenv("NOTIFY_SOCKET", "/nonexistent-dir/notify", 1);
	EXPECT_FALSE(notify_service_manager("READY=1"));
	::unsetenv("NOTIFY_SOCKET");
}

} // namespace
