// fork + execve + wait of one program, N times; prints microseconds per exec. With
// several programs given, they are run round-robin (distinct files: "cold" execs).
//   eima-bench-exec N PROGRAM [PROGRAM...]
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

int main(int argc, char **argv)
{
	if (argc < 3) {
		std::fprintf(stderr, "usage: eima-bench-exec N PROGRAM [PROGRAM...]\n");
		return 2;
	}
	long n = std::atol(argv[1]);
	std::vector<char *> progs(argv + 2, argv + argc);
	auto start = std::chrono::steady_clock::now();
	for (long i = 0; i < n; ++i) {
		char *prog = progs[static_cast<std::size_t>(i) % progs.size()];
		pid_t pid = fork();
		if (pid == 0) {
			char *args[] = {prog, nullptr};
			char *env[] = {nullptr};
			execve(prog, args, env);
			_exit(127);
		}
		int status;
		waitpid(pid, &status, 0);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			std::fprintf(stderr, "%s failed\n", prog);
			return 1;
		}
	}
	double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
	std::printf("%.2f\n", us / static_cast<double>(n));
	return 0;
}
