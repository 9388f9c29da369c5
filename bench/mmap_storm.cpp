// Generates MMAP_CHECK events as fast as one core can: maps each file of a directory
// PROT_READ|PROT_EXEC once (a distinct file version each, so none is in eima's cache).
// Prints the files mapped and the seconds it took.
//   eima-bench-mmap DIR
#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

int main(int argc, char **argv)
{
	if (argc != 2) {
		std::fprintf(stderr, "usage: eima-bench-mmap DIR\n");
		return 2;
	}
	int dfd = open(argv[1], O_RDONLY | O_DIRECTORY);
	DIR *dir = fdopendir(dfd);
	if (!dir) {
		perror(argv[1]);
		return 1;
	}
	long mapped = 0;
	auto start = std::chrono::steady_clock::now();
	while (dirent *e = readdir(dir)) {
		if (e->d_name[0] == '.')
			continue;
		int fd = openat(dfd, e->d_name, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		void *p = mmap(nullptr, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
		if (p != MAP_FAILED) {
			munmap(p, 4096);
			++mapped;
		}
		close(fd);
	}
	double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
	std::printf("%ld %.4f\n", mapped, s);
	closedir(dir);
	return 0;
}
