// ControlServer over a socketpair: each command reaches its ControlService method, an
// answer that waits on a TPM keeps the client waiting (and the server free) until it is in,
// and a bad request gets an error reply, not silence. Over a real listening socket: hostile
// clients (silent, slow, oversized, flooding, never reading) neither block the server nor
// keep their slot past a deadline.
#include "agent/control_server.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>

#include "control/control_protocol.h"

namespace eima::agent {
namespace {

class FakeService : public ControlService {
public:
	bool quote_ready = false;
	std::string big_status; // makes status's reply this big
	nlohmann::json status() const override
	{
		if (!big_status.empty())
			return {{"mode", "trace"}, {"pad", big_status}};
		return {{"mode", "trace"}, {"events", 7}};
	}
	nlohmann::json ps() const override { return {{"containers", nlohmann::json::array()}}; }
	ControlAnswer pcrs(const nlohmann::json &req) override
	{
		return answer_now({{"bank", req.value("bank", "")}});
	}
	ControlAnswer identity(const nlohmann::json &) override
	{
		return answer_now({{"ak", "identity answered"}});
	}
	ControlAnswer activate(const nlohmann::json &req) override
	{
		return answer_now({{"activated", req.value("challenge", nlohmann::json())}});
	}
	std::string why_late() const override { return "the TPM is stalled"; }
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

TEST_F(ControlServerTest, EnrolmentRequestsReachTheirMethods)
{
	auto i = client(R"({"cmd":"identity"})" "\n");
	auto a = client(R"({"cmd":"activate","challenge":{"version":1}})" "\n");
	server_.answer(false);
	auto ri = control::read_message(i.get());
	ASSERT_TRUE(ri);
	EXPECT_EQ((*ri)["ak"], "identity answered");
	auto ra = control::read_message(a.get());
	ASSERT_TRUE(ra);
	EXPECT_EQ((*ra)["activated"]["version"], 1);
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

namespace eima::agent {
namespace {

// A server listening on a socket in a temporary directory, with short deadlines; every call
// on it returns at once (the test fails on a hang through ctest's timeout, and each check
// below also measures that the call did not wait).
class HostileClientTest : public ::testing::Test {
protected:
	HostileClientTest()
		: dir_(make_dir()),
		  server_(service_, {}, {}, ControlLimits{4, 1024, std::chrono::milliseconds(300),
							 std::chrono::milliseconds(300),
							 std::chrono::milliseconds(600)})
	{
		auto r = server_.listen(dir_ + "/eimad.sock");
		EXPECT_TRUE(r) << r.error().message();
	}
	~HostileClientTest() override { std::filesystem::remove_all(dir_); }

	static std::string make_dir()
	{
		char t[] = "/tmp/eima-control-XXXXXX";
		return ::mkdtemp(t);
	}

	UniqueFd connect_client()
	{
		UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
		sockaddr_un a{};
		a.sun_family = AF_UNIX;
		std::string path = dir_ + "/eimad.sock";
		std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
		EXPECT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr *>(&a), sizeof(a)), 0);
		return fd;
	}

	// What the event loop does on one wakeup; returns how long it took.
	std::chrono::milliseconds tick()
	{
		auto t0 = std::chrono::steady_clock::now();
		server_.serve_ready();
		server_.answer(false);
		return std::chrono::duration_cast<std::chrono::milliseconds>(
			std::chrono::steady_clock::now() - t0);
	}

	// The server, ticking every 10 ms for ms, never held up by a tick for more than
	// 250 ms (a busy machine's scheduling; a tick that waited on a client would wait
	// forever, or for the deadlines of 300 ms and more).
	void run_for(int ms)
	{
		for (int i = 0; i < ms / 10; ++i) {
			EXPECT_LT(tick().count(), 250);
			std::this_thread::sleep_for(std::chrono::milliseconds(10));
		}
	}

	// A well-behaved client is answered while the hostile ones are connected.
	void status_is_answered()
	{
		auto fd = connect_client();
		std::string req = R"({"cmd":"status"})" "\n";
		ASSERT_EQ(::write(fd.get(), req.data(), req.size()), ssize_t(req.size()));
		run_for(30);
		pollfd p{fd.get(), POLLIN, 0};
		ASSERT_EQ(::poll(&p, 1, 0), 1);
		auto r = control::read_message(fd.get());
		ASSERT_TRUE(r) << r.error().message();
		EXPECT_EQ((*r)["mode"], "trace");
	}

	// The client's end was closed by the server (read gives EOF, or an error reply first).
	static std::string closed_with(const UniqueFd &fd)
	{
		pollfd p{fd.get(), POLLIN, 0};
		if (::poll(&p, 1, 0) != 1)
			return "open";
		char buf[4096];
		ssize_t n = ::read(fd.get(), buf, sizeof(buf));
		return n <= 0 ? "closed" : std::string(buf, static_cast<std::size_t>(n));
	}

	std::string dir_;
	FakeService service_;
	ControlServer server_;
};

TEST_F(HostileClientTest, SilentAndSlowClientsAreCutOffAtTheDeadline)
{
	auto silent = connect_client();
	auto slow = connect_client();
	run_for(30);
	status_is_answered(); // while both are connected and have sent nothing whole
	for (int i = 0; i < 5; ++i) { // one byte every 100 ms: never a whole request in time
		// (the last ones after the cut-off: EPIPE, not SIGPIPE)
		(void)::send(slow.get(), "{", 1, MSG_NOSIGNAL);
		run_for(100);
	}
	EXPECT_EQ(closed_with(silent), "closed");
	EXPECT_EQ(closed_with(slow), "closed");
	EXPECT_EQ(server_.clients(), 0u);
	EXPECT_EQ(server_.cut_off(), 2u);
}

TEST_F(HostileClientTest, AnOversizedRequestGetsAnErrorAndIsClosed)
{
	auto big = connect_client();
	std::string junk(8192, 'x'); // no newline, over the 1024-byte limit
	ASSERT_EQ(::write(big.get(), junk.data(), junk.size()), ssize_t(junk.size()));
	run_for(30);
	auto got = closed_with(big);
	EXPECT_NE(got.find("request over 1024 bytes"), std::string::npos) << got;
	EXPECT_EQ(server_.clients(), 0u);
	status_is_answered();
}

TEST_F(ControlServerTest, FieldsOfTheWrongTypeGetAnErrorNotACrash)
{
	// Each of these once threw out of nlohmann's value()/get() and ended eimad.
	for (std::string line : {R"({"cmd":5})", R"({"cmd":"quote","bank":5,"nonce":"ab"})",
				 R"({"cmd":"quote","nonce":["ab"]})",
				 R"({"cmd":"quote","nonce":"ab","container":{}})",
				 R"({"cmd":"pcrs","banks":["sha256",1]})",
				 R"({"cmd":"quote","nonce":"ab","pcrs":[10,4294967306]})",
				 R"({"cmd":"quote","nonce":"ab","pcrs":"10"})", R"({"nonce":"ab"})"}) {
		auto c = client(line + "\n");
		server_.answer(false);
		auto r = control::read_message(c.get());
		ASSERT_TRUE(r) << line;
		ASSERT_TRUE(r->contains("error")) << line;
		EXPECT_NE((*r)["error"].get<std::string>().find(" is not "), std::string::npos)
			<< line << " -> " << r->dump();
	}
	auto status = client(R"({"cmd":"status"})" "\n");
	server_.answer(false);
	auto r = control::read_message(status.get());
	ASSERT_TRUE(r);
	EXPECT_FALSE(r->contains("error")) << r->dump();
}

TEST_F(HostileClientTest, GarbageGetsAnErrorReply)
{
	auto g = connect_client();
	std::string junk = "\xff\xfe{{{\n";
	ASSERT_EQ(::write(g.get(), junk.data(), junk.size()), ssize_t(junk.size()));
	run_for(30);
	auto got = closed_with(g);
	EXPECT_NE(got.find("\"error\""), std::string::npos) << got;
}

TEST_F(HostileClientTest, AFloodIsRefusedBeyondTheLimitAndFreesItsSlots)
{
	std::vector<UniqueFd> flood;
	for (int i = 0; i < 14; ++i) // the listen backlog (16) holds them until accepted
		flood.push_back(connect_client());
	run_for(30);
	EXPECT_EQ(server_.clients(), 4u);
	EXPECT_EQ(server_.refused(), 10u);
	run_for(400); // the four silent ones reach their deadline
	EXPECT_EQ(server_.clients(), 0u);
	flood.clear();
	status_is_answered();
}

TEST_F(HostileClientTest, AClientThatNeverReadsItsReplyIsCutOff)
{
	// A reply bigger than the socket's buffer, to a client that never reads it.
	service_.big_status = std::string(1 << 20, 'a');
	auto lazy = connect_client();
	std::string req = R"({"cmd":"status"})" "\n";
	ASSERT_EQ(::write(lazy.get(), req.data(), req.size()), ssize_t(req.size()));
	run_for(30);
	EXPECT_EQ(server_.clients(), 1u); // its reply is waiting to be sent
	run_for(400);
	EXPECT_EQ(server_.clients(), 0u);
	EXPECT_EQ(server_.cut_off(), 1u);
	service_.big_status.clear();
	status_is_answered();
}

TEST_F(HostileClientTest, AnAnswerThatNeverComesTimesOutSayingWhy)
{
	auto q = connect_client();
	std::string req = R"({"cmd":"quote","nonce":"ab"})" "\n";
	ASSERT_EQ(::write(q.get(), req.data(), req.size()), ssize_t(req.size()));
	tick();
	EXPECT_EQ(server_.waiting(), 1u);
	status_is_answered(); // others are answered meanwhile
	run_for(700);
	auto got = closed_with(q);
	EXPECT_NE(got.find("no answer in 0.6 s: the TPM is stalled"), std::string::npos) << got;
	EXPECT_EQ(server_.waiting(), 0u);
}

} // namespace
} // namespace eima::agent
