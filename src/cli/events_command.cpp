#include "cli/events_command.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <string>

#include <fmt/format.h>

#include "cli/report.h"
#include "common/json_text.h"
#include "common/unique_fd.h"

namespace eima::cli {

namespace {

struct Options {
	CLI::App *cmd = nullptr;
	std::string run_dir = "/run/eima";
	bool follow = false, as_json = false;
} opts;

// One line for a person: time, type, container, then what the type is about.
std::string human(const nlohmann::json &e)
{
	auto s = [&](const char *k) { return e.contains(k) ? json_dump(e[k]) : std::string("-"); };
	auto str = [&](const char *k) {
		return e.contains(k) && e[k].is_string() ? e[k].get<std::string>() : std::string("-");
	};
	std::string type = str("type");
	std::string head = fmt::format("{} {:<17} {}", str("time"), type, str("container"));
	if (type == "measurement")
		return fmt::format("{} {} {} ({}, pid {})", head, str("digest"), str("path"),
				   str("hook"), s("pid"));
	if (type == "violation")
		return fmt::format("{} {} ({}: {})", head, str("path"), str("hook"), str("reason"));
	if (type == "container_started")
		return fmt::format("{} runtime {} mntns {}", head, str("runtime"), s("mntns"));
	if (type == "container_exited")
		return fmt::format("{} {} entries, {} violations", head, s("entries"), s("violations"));
	if (type == "vtpm_bound")
		return fmt::format("{} bound on PCR {}", head, s("pcr"));
	if (type == "lost")
		return fmt::format("{} {} events lost (this reader fell behind)", head, s("count"));
	return fmt::format("{} {}", head, json_dump(e));
}

int run()
{
	std::string path = opts.run_dir + "/events.sock";
	sockaddr_un addr{};
	addr.sun_family = AF_UNIX;
	if (path.size() >= sizeof addr.sun_path)
		return report(Error{ENAMETOOLONG, "connect", path});
	path.copy(addr.sun_path, path.size());
	UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
	if (!fd || ::connect(fd.get(), reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0)
		return report(Error{errno, "connect", path + " (is eimad running?)"});
	std::string request = opts.follow ? "follow\n" : "recent\n";
	if (::send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL) < 0)
		return report(Error{errno, "send", path});
	std::string buf;
	char chunk[65536];
	for (;;) {
		ssize_t n = ::read(fd.get(), chunk, sizeof chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return report(Error{errno, "read", path});
		if (n == 0)
			break;
		buf.append(chunk, static_cast<std::size_t>(n));
		std::size_t start = 0;
		for (auto nl = buf.find('\n'); nl != std::string::npos; nl = buf.find('\n', start)) {
			std::string_view line(buf.data() + start, nl - start);
			start = nl + 1;
			if (opts.as_json) {
				fmt::print("{}\n", line);
			} else if (auto e = json_parse(line, path); e) {
				if (e->contains("error"))
					return report(Error{0, "eimad", (*e)["error"].get<std::string>()});
				fmt::print("{}\n", human(*e));
			} else {
				return report(e.error());
			}
		}
		buf.erase(0, start);
		std::fflush(stdout); // a follower's reader (a pipe) sees each event as it comes
	}
	if (opts.follow) // eimad stopped, or dropped this reader
		fmt::print(stderr, "eima: {}: eimad closed the stream\n", path);
	return 0;
}

} // namespace

void add_events_command(CLI::App &app)
{
	opts.cmd = app.add_subcommand("events", "eimad's events, one JSON object per line "
						"(docs/events.md): the recent ones, or --follow");
	opts.cmd->add_option("--run-dir", opts.run_dir, "eimad's run directory (default /run/eima)");
	opts.cmd->add_flag("--follow,-f", opts.follow,
			   "the recent events, then every new one as it happens");
	opts.cmd->add_flag("--json", opts.as_json, "the events as eimad sends them");
}

std::optional<int> run_events_command()
{
	if (!opts.cmd || !*opts.cmd)
		return std::nullopt;
	return run();
}

} // namespace eima::cli
