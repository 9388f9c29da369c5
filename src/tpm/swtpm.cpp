#include "tpm/swtpm.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string_view>
#include <thread>

#include "common/file_io.h"
#include "common/unique_fd.h"
#include "tpm/tpm.h"

namespace eima::tpm {

namespace {

using Clock = std::chrono::steady_clock;

// The executable `name` resolves to on PATH, found before fork so that a missing program is
// a plain error and the child does nothing but exec.
std::optional<std::string> find_program(const std::string &name)
{
	const char *path = std::getenv("PATH");
	std::string_view dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
	while (true) {
		auto colon = dirs.find(':');
		std::string dir(dirs.substr(0, colon));
		if (dir.empty())
			dir = ".";
		std::string candidate = dir + "/" + name;
		struct stat st;
		if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
		    ::access(candidate.c_str(), X_OK) == 0)
			return candidate;
		if (colon == std::string_view::npos)
			return std::nullopt;
		dirs.remove_prefix(colon + 1);
	}
}

// The last 600 bytes of a file (swtpm's stderr or log) for an error message.
std::string file_tail(const std::string &path)
{
	std::ifstream in(path, std::ios::binary);
	if (!in)
		return {};
	in.seekg(0, std::ios::end);
	std::streamoff size = in.tellg();
	std::streamoff from = size > 600 ? size - 600 : 0;
	in.seekg(from);
	std::string s(static_cast<std::size_t>(size - from), '\0');
	in.read(s.data(), static_cast<std::streamsize>(s.size()));
	while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
		s.pop_back();
	for (auto &c : s)
		if (c == '\n')
			c = '|';
	return s;
}

std::string tails(const std::string &state_dir)
{
	std::string out;
	for (const char *name : {"swtpm.stderr", "swtpm.log"}) {
		std::string t = file_tail(state_dir + "/" + name);
		if (!t.empty())
			out += std::string(out.empty() ? "" : "; ") + name + ": " + t;
	}
	return out.empty() ? "(no output)" : out;
}

// fork + exec with stdin from /dev/null and stdout+stderr appended to out_path. The child
// closes every other descriptor (eimad's BPF and socket fds stay out of swtpm), gets a
// process group of its own, no blocked signals, and SIGTERM when the starting thread dies.
Result<pid_t> spawn(const std::string &program, std::vector<std::string> args,
		    const std::string &out_path, bool outlive_parent)
{
	UniqueFd out(::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
	if (!out)
		return fail(errno, "open", out_path);
	UniqueFd null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
	if (!null)
		return fail(errno, "open", "/dev/null");
	std::vector<char *> argv;
	for (auto &a : args)
		argv.push_back(a.data());
	argv.push_back(nullptr);
	pid_t parent = ::getpid();
	pid_t pid = ::fork();
	if (pid < 0)
		return fail(errno, "fork", program);
	if (pid == 0) {
		// Only async-signal-safe calls from here to exec. A blocked signal stays blocked
		// across exec: eimad blocks SIGTERM for its signalfd, and swtpm must not inherit
		// that, or neither stop() nor the parent-death signal would end it.
		sigset_t none;
		::sigemptyset(&none);
		::sigprocmask(SIG_SETMASK, &none, nullptr);
		if (outlive_parent) {
			::setsid(); // no terminal's signals, no parent-death signal
		} else {
			::setpgid(0, 0);
			::prctl(PR_SET_PDEATHSIG, SIGTERM);
			if (::getppid() != parent) // the parent died before prctl took effect
				::_exit(126);
		}
		::dup2(null.get(), 0);
		::dup2(out.get(), 1);
		::dup2(out.get(), 2);
		::close_range(3, ~0u, 0);
		::execv(program.c_str(), argv.data());
		::_exit(127);
	}
	return pid;
}

// Waits for pid to exit until deadline; nullopt if it is still running then. A process
// that is not our child (a swtpm an earlier eimad started) is watched with kill(pid, 0).
std::optional<int> wait_until(pid_t pid, Clock::time_point deadline)
{
	for (;;) {
		int status = 0;
		pid_t r = ::waitpid(pid, &status, WNOHANG);
		if (r == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		if (r < 0 && errno == ECHILD && ::kill(pid, 0) != 0)
			return -1;
		if (Clock::now() >= deadline)
			return std::nullopt;
		std::this_thread::sleep_for(std::chrono::milliseconds(5));
	}
}

void terminate(pid_t pid)
{
	::kill(pid, SIGTERM);
	if (!wait_until(pid, Clock::now() + std::chrono::seconds(3))) {
		::kill(pid, SIGKILL);
		wait_until(pid, Clock::now() + std::chrono::seconds(3));
	}
}

bool can_connect(const std::string &path)
{
	UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
	if (!fd)
		return false;
	sockaddr_un addr{};
	addr.sun_family = AF_UNIX;
	std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
	return ::connect(fd.get(), reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) == 0;
}

// The swtpm an earlier owner left running on this state directory (its pid file names a
// live swtpm serving both sockets), or -1.
pid_t running_swtpm(const std::string &state_dir, const std::string &socket,
		    const std::string &ctrl_socket)
{
	auto pid_text = read_file(state_dir + "/swtpm.pid");
	if (!pid_text)
		return -1;
	pid_t pid = static_cast<pid_t>(std::atoi(pid_text->c_str()));
	if (pid <= 0 || ::kill(pid, 0) != 0)
		return -1;
	auto cmdline = read_file("/proc/" + std::to_string(pid) + "/cmdline");
	if (!cmdline || cmdline->find("swtpm") == std::string::npos ||
	    cmdline->find(state_dir) == std::string::npos)
		return -1;
	return can_connect(socket) && can_connect(ctrl_socket) ? pid : -1;
}


} // namespace

Result<std::unique_ptr<Swtpm>> Swtpm::start(const std::string &state_dir,
					    const SwtpmOptions &options)
{
	auto deadline = Clock::now() + options.start_timeout;
	if (options.banks.empty())
		return fail(EINVAL, "start swtpm", "no PCR bank asked for");
	std::error_code ec;
	std::filesystem::create_directories(state_dir, ec);
	if (ec)
		return fail(ec.value(), "create directory", state_dir);
	::chmod(state_dir.c_str(), 0700); // the TPM's secrets (NV, seeds) live here

	auto sw = std::unique_ptr<Swtpm>(new Swtpm());
	sw->state_dir_ = state_dir;
	sw->socket_ = state_dir + "/sock";
	sw->ctrl_socket_ = sw->socket_ + ".ctrl"; // where the swtpm TCTI looks for it
	if (sw->ctrl_socket_.size() >= sizeof(sockaddr_un::sun_path))
		return fail(ENAMETOOLONG, "start swtpm",
			    sw->ctrl_socket_ + " is longer than a Unix socket path may be");
	auto program = find_program("swtpm");
	if (!program)
		return fail(ENOENT, "start swtpm",
			    "swtpm is not on PATH (Debian: apt-get install swtpm)");
	sw->program_ = *program;
	sw->persistent_ = options.persistent;
	pid_t running = options.persistent
				? running_swtpm(state_dir, sw->socket_, sw->ctrl_socket_)
				: -1;
	if (running > 0 && options.fresh) {
		terminate(running);
		running = -1;
	}
	if (running > 0) {
		sw->pid_ = running; // its PCRs hold what the lists before us extended
		sw->adopted_ = true;
	} else if (auto r = sw->launch(deadline, options.fresh); !r) {
		return std::unexpected(r.error());
	}

	// A new state has every bank swtpm implements (sha1, sha256, sha384, sha512); an old one
	// may have other banks than asked. swtpm_setup --pcr-banks would fix that too, but costs
	// ~0.6 s and leaves an orphaned swtpm to init; TPM2_PCR_Allocate and a restart cost a few
	// milliseconds and happen only when the allocation changes.
	bool restart = false;
	{
		auto t = Tpm::open(sw->tcti());
		if (!t)
			return std::unexpected(t.error());
		auto changed = t->allocate_banks(options.banks);
		if (!changed)
			return std::unexpected(changed.error());
		restart = *changed;
	}
	if (restart) {
		sw->stop();
		// A new allocation takes effect at a clear start: no PCR survives it anyway.
		if (auto r = sw->launch(deadline, true); !r)
			return std::unexpected(r.error());
	}
	return sw;
}

Result<void> Swtpm::launch(std::chrono::steady_clock::time_point deadline, bool clear)
{
	adopted_ = false;
	// A socket left by a swtpm that was killed would make bind fail.
	::unlink(socket_.c_str());
	::unlink(ctrl_socket_.c_str());
	std::string log = state_dir_ + "/swtpm.log";
	::unlink(log.c_str());
	// PCRs start from zero with TPM2_Startup(CLEAR), as after a reboot. A persistent TPM
	// gets its Startup from Tpm::open instead: STATE, so what it saved at its last stop
	// (PCRs included) comes back, as a device TPM's PCRs outlive a restarted eimad.
	bool startup_clear = !persistent_ || clear;
	auto pid = spawn(program_,
			 {"swtpm", "socket", "--tpm2", "--tpmstate", "dir=" + state_dir_,
			  "--flags", startup_clear ? "not-need-init,startup-clear" : "not-need-init",
			  "--server", "type=unixio,path=" + socket_,
			  "--ctrl", "type=unixio,path=" + ctrl_socket_,
			  "--log", "file=" + log + ",level=1"},
			 state_dir_ + "/swtpm.stderr", persistent_);
	if (!pid)
		return std::unexpected(pid.error());
	pid_ = *pid;
	if (persistent_)
		if (auto w = write_file(state_dir_ + "/swtpm.pid", std::to_string(pid_) + "\n"); !w)
			return std::unexpected(w.error());

	// Ready when both sockets accept: swtpm binds them before serving.
	while (!(can_connect(ctrl_socket_) && can_connect(socket_))) {
		if (auto code = wait_until(pid_, Clock::now())) {
			pid_ = -1;
			return fail("start swtpm", "exited with " + std::to_string(*code) + ": " +
							   tails(state_dir_));
		}
		if (Clock::now() >= deadline)
			return fail(ETIMEDOUT, "start swtpm",
				    "sockets not up in time: " + tails(state_dir_)); // ~Swtpm kills it
		std::this_thread::sleep_for(std::chrono::milliseconds(5));
	}
	return {};
}

void Swtpm::stop()
{
	if (pid_ <= 0)
		return;
	// Saved, its PCRs come back at the next start (TPM2_Startup(STATE) in Tpm::open). If
	// that fails the next start is clear, and the lists then start anew.
	if (persistent_)
		if (auto t = Tpm::open(tcti()))
			(void)t->save_state();
	terminate(pid_);
	pid_ = -1;
	::unlink(socket_.c_str());
	::unlink(ctrl_socket_.c_str());
}

Result<void> Swtpm::restart_if_dead()
{
	if (pid_ > 0 && !wait_until(pid_, Clock::now()))
		return {}; // still there (reaped if it exited: it was our child)
	pid_ = -1;
	return launch(Clock::now() + std::chrono::seconds(10));
}

Swtpm::~Swtpm() { stop(); }

void stop_left_running(const std::string &state_dir)
{
	std::string socket = state_dir + "/sock";
	pid_t pid = running_swtpm(state_dir, socket, socket + ".ctrl");
	if (pid > 0)
		terminate(pid);
}

} // namespace eima::tpm
