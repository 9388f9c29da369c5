// ControlServer over a socketpair: each command reaches its ControlService method, an
// answer that waits on a TPM keeps the client waiting (and the server free) until it is in,
// and a bad request gets an error reply, not silence.
#include "agent/control_server.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "control/control_protocol.h"

namespace eima::agent {
namespace {

class FakeService : public ControlService {
public:
	bool quote_ready = false;
	nlohmann::json status() const override { return {{"mode", "trace"}, {"events", 7}}; }
	nlohmann::json ps() const override { return {{"containers", nlohmann::json::array()}}; }
	ControlAnswer pcrs(const nlohmann::json &req) override
	{
		return answer_now({{"bank", req.value("bank", "")}});
	}
	ControlAnswer quote(const nlohmann::json &req) override
	{
		return [this, nonce = req.value("nonce", "")](bool wait) -> std::optional<nlohmann::json> {
			if (!quote_ready && !wait)
				return std::nullopt;
			return nlohmann::json{{"nonce", nonce}};
		};
	}
};

class ControlServerTest : public ::testing::Test {
protected:
	ControlServerTest() : server_(service_, [this] { ++flushes_; }) {}

	// A client connected to the server: its end of a socketpair, the request sent.
	UniqueFd client(const std::string &line)
	{
		int sv[2];
		EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
		UniqueFd mine(sv[0]);
		EXPECT_EQ(::write(sv[0], line.data(), line.size()), ssize_t(line.size()));
		server_.serve(UniqueFd(sv[1]));
		return mine;
	}

	static bool readable(const UniqueFd &fd)
	{
		pollfd p{fd.get(), POLLIN, 0};
		return ::poll(&p, 1, 0) == 1;
	}

	FakeService service_;
	ControlServer server_;
	int flushes_ = 0;
};

TEST_F(ControlServerTest, StatusAndPsAreAnsweredInTheSameWakeup)
{
	auto a = client(R"({"cmd":"status"})" "\n");
	auto b = client(R"({"cmd":"ps"})" "\n");
	auto c = client(R"({"cmd":"pcrs","bank":"sha1"})" "\n");
	EXPECT_EQ(server_.waiting(), 3u);
	server_.answer(false);
	EXPECT_EQ(server_.waiting(), 0u);
	EXPECT_EQ(flushes_, 3); // the lists are written before each reply
	auto s = control::read_message(a.get());
	ASSERT_TRUE(s) << s.error().message();
	EXPECT_EQ((*s)["mode"], "trace");
	EXPECT_EQ((*s)["events"], 7);
	auto p = control::read_message(b.get());
	ASSERT_TRUE(p);
	EXPECT_TRUE((*p)["containers"].is_array());
	auto r = control::read_message(c.get());
	ASSERT_TRUE(r);
	EXPECT_EQ((*r)["bank"], "sha1");
}

TEST_F(ControlServerTest, AQuoteWaitsWithoutHoldingUpOthers)
{
	auto q = client(R"({"cmd":"quote","nonce":"ab"})" "\n");
	auto s = client(R"({"cmd":"status"})" "\n");
	server_.answer(false);
	EXPECT_EQ(server_.waiting(), 1u);
	EXPECT_FALSE(readable(q));
	EXPECT_TRUE(readable(s));
	service_.quote_ready = true;
	server_.answer(false);
	EXPECT_EQ(server_.waiting(), 0u);
	auto r = control::read_message(q.get());
	ASSERT_TRUE(r);
	EXPECT_EQ((*r)["nonce"], "ab");
}

TEST_F(ControlServerTest, WaitingAnswersEveryClient)
{
	auto q = client(R"({"cmd":"quote","nonce":"cd"})" "\n");
	server_.answer(true);
	EXPECT_EQ(server_.waiting(), 0u);
	auto r = control::read_message(q.get());
	ASSERT_TRUE(r);
	EXPECT_EQ((*r)["nonce"], "cd");
}

TEST_F(ControlServerTest, BadRequestsGetAnError)
{
	auto unknown = client(R"({"cmd":"reboot"})" "\n");
	auto garbage = client("{not json\n");
	server_.answer(false);
	auto u = control::read_message(unknown.get());
	ASSERT_TRUE(u);
	EXPECT_EQ((*u)["error"], "unknown command: reboot");
	auto g = control::read_message(garbage.get());
	ASSERT_TRUE(g);
	EXPECT_TRUE(g->contains("error"));
}

} // namespace
} // namespace eima::agent
