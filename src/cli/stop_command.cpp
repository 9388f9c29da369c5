#include "cli/stop_command.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "cli/report.h"
#include "control/control_protocol.h"

namespace eima::cli {

namespace {

struct StopOptions {
	CLI::App *cmd = nullptr;
	std::string run_dir = "/run/eima";
	std::string pin_dir;
	bool force_cleanup = false;
	unsigned timeout_s = 60;
} opts;

// eimad next to this eima (a build tree), in ../sbin (the package), or on PATH.
std::string eimad_path()
{
	std::error_code ec;
	auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
	if (!ec)
		for (auto candidate : {self.parent_path() / "eimad",
				       self.parent_path().parent_path() / "sbin" / "eimad"})
			if (::access(candidate.c_str(), X_OK) == 0)
				return candidate;
	return "eimad";
}

int force_cleanup()
{
	// Only what a dead eimad left: a live one is asked to stop instead.
	if (control::control_request(opts.run_dir, {{"cmd", "status"}}))
		return report(fail(EBUSY, "eima stop --force-cleanup",
				   "eimad answers on " + opts.run_dir +
					   "/eimad.sock: stop it with `eima stop` first").error());
	// eimad's own executable does the removal: a crashed eimad's protection, still on,
	// lets that file (and PID 1) take its set apart, and nothing else.
	std::string eimad = eimad_path();
	std::vector<std::string> args{eimad, "--force-cleanup"};
	if (!opts.pin_dir.empty())
		args.insert(args.end(), {"--pin-dir", opts.pin_dir});
	std::vector<char *> argv;
	for (auto &a : args)
		argv.push_back(a.data());
	argv.push_back(nullptr);
	::execvp(argv[0], argv.data());
	return report(fail(errno, "run", eimad + " --force-cleanup").error());
}

int stop()
{
	auto r = control::control_request(opts.run_dir, {{"cmd", "stop"}});
	if (!r)
		return report(r.error());
	int pid = r->value("pid", 0);
	auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(opts.timeout_s);
	// Signal 0 only asks whether it exists, which self-protection allows. A zombie (its
	// parent has not reaped it yet: a shell that started it) has stopped too.
	auto running = [](int p) {
		if (::kill(p, 0) != 0)
			return false;
		std::string stat;
		std::getline(std::ifstream(fmt::format("/proc/{}/stat", p)), stat);
		auto close = stat.rfind(')');
		return close == std::string::npos || close + 2 >= stat.size() ||
		       stat[close + 2] != 'Z';
	};
	while (pid > 0 && running(pid)) {
		if (std::chrono::steady_clock::now() > deadline)
			return report(fail(ETIMEDOUT, "eima stop",
					   fmt::format("eimad (pid {}) still runs after {} s", pid,
						       opts.timeout_s)).error());
		std::this_thread::sleep_for(std::chrono::milliseconds(50));
	}
	fmt::print("eimad (pid {}) stopped\n", pid);
	return 0;
}

} // namespace

void add_stop_command(CLI::App &app)
{
	opts.cmd = app.add_subcommand(
		"stop", "stop eimad cleanly over its control socket (root only; the way to stop "
			"an eimad under --protect), and wait until it has exited");
	opts.cmd->add_option("--run-dir", opts.run_dir, "eimad's run directory (default /run/eima)");
	opts.cmd->add_option("--timeout", opts.timeout_s, "seconds to wait for eimad to exit (60)");
	opts.cmd->add_flag("--force-cleanup", opts.force_cleanup,
			   "when eimad is gone (killed, crashed): remove every eima pin under "
			   "/sys/fs/bpf/eima (and --pin-dir) and every eima keyring");
	opts.cmd->add_option("--pin-dir", opts.pin_dir,
			     "with --force-cleanup: a pin directory outside /sys/fs/bpf/eima too");
}

std::optional<int> run_stop_command()
{
	if (!opts.cmd || !*opts.cmd)
		return std::nullopt;
	return opts.force_cleanup ? force_cleanup() : stop();
}

} // namespace eima::cli
