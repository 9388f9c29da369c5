#include "cli/audit_commands.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "cli/report.h"
#include "common/json_text.h"
#include "common/unique_fd.h"
#include "enforce/appraisal_record.h"
#include "enforce/audit_log.h"

namespace eima::cli {

namespace {

struct AuditArgs {
	CLI::App *cmd = nullptr;
	std::string run_dir = "/run/eima";
	bool follow = false;
	bool json = false;
} args;

// Prints the whole lines of `buf` (keeping a trailing partial one in it); a line that is
// not a record is reported with its file and line number, and counted.
void print_lines(std::string &buf, const std::string &file, std::size_t &line_no, int &bad)
{
	std::size_t start = 0;
	for (std::size_t nl; (nl = buf.find('\n', start)) != std::string::npos; start = nl + 1) {
		std::string_view line(buf.data() + start, nl - start);
		++line_no;
		if (line.empty())
			continue;
		auto j = json_parse(line, fmt::format("{}:{}", file, line_no));
		auto r = j ? enforce::record_from_json(*j) : Result<enforce::AppraisalRecord>(std::unexpected(j.error()));
		if (!r) {
			++bad;
			fmt::print(stderr, "eima audit: {}:{}: {}\n", file, line_no, r.error().message());
			continue;
		}
		if (args.json)
			fmt::print("{}\n", line);
		else
			fmt::print("{}\n", enforce::to_text(*r));
	}
	buf.erase(0, start);
	std::fflush(stdout);
}

// Reads what fd holds from its current offset into buf.
void read_more(int fd, std::string &buf)
{
	char chunk[65536];
	for (ssize_t n; (n = ::read(fd, chunk, sizeof(chunk))) > 0;)
		buf.append(chunk, static_cast<std::size_t>(n));
}

int run()
{
	std::string live = args.run_dir + "/audit.jsonl";
	int bad = 0;
	auto files = enforce::audit_log_files(live);
	UniqueFd fd;
	std::string buf;
	std::size_t line_no = 0;
	for (auto &f : files) {
		fd.reset(::open(f.c_str(), O_RDONLY | O_CLOEXEC));
		if (!fd)
			return report(Error{errno, "open audit log", f});
		buf.clear();
		line_no = 0;
		read_more(fd.get(), buf);
		print_lines(buf, f, line_no, bad);
	}
	if (!args.follow) {
		if (files.empty())
			fmt::print(stderr, "eima audit: no audit log at {} (nothing refused yet, or "
					   "appraisal is off)\n", live);
		return bad ? 1 : 0;
	}
	// Follow the live file: when it is rotated (another inode at its path), finish the old
	// one, then start on the new one from its beginning.
	if (files.empty() || files.back() != live)
		fd.reset();
	for (;;) {
		if (fd)
			read_more(fd.get(), buf);
		print_lines(buf, live, line_no, bad);
		struct stat now, held;
		bool rotated = ::stat(live.c_str(), &now) == 0 &&
			       (!fd || (::fstat(fd.get(), &held) == 0 && held.st_ino != now.st_ino));
		if (rotated) {
			if (fd)
				read_more(fd.get(), buf), print_lines(buf, live, line_no, bad);
			fd.reset(::open(live.c_str(), O_RDONLY | O_CLOEXEC));
			buf.clear();
			line_no = 0;
			continue;
		}
		std::this_thread::sleep_for(std::chrono::milliseconds(200));
	}
}

} // namespace

void add_audit_commands(CLI::App &app)
{
	args.cmd = app.add_subcommand("audit", "accesses appraisal refused (or would refuse in "
					       "audit mode), from RUN/audit.jsonl");
	args.cmd->add_option("--run-dir", args.run_dir, "eimad's run directory (default /run/eima)");
	args.cmd->add_flag("--follow,-f", args.follow, "keep printing new decisions");
	args.cmd->add_flag("--json", args.json, "one JSON object per line, as logged");
}

std::optional<int> run_audit_commands()
{
	if (!args.cmd || !*args.cmd)
		return std::nullopt;
	return run();
}

} // namespace eima::cli
