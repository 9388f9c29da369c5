// eima's file hashing (ima::hash_file: pread in 256 KiB blocks + OpenSSL EVP) over a file
// in the page cache; prints MB/s (10^6 bytes). Compare with `openssl speed -evp sha256`.
//   eima-bench-hash FILE [ALGO] [ROUNDS]
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "ima/hash_algo.h"

int main(int argc, char **argv)
{
	if (argc < 2) {
		std::fprintf(stderr, "usage: eima-bench-hash FILE [ALGO] [ROUNDS]\n");
		return 2;
	}
	auto algo = eima::ima::hash_algo_from_name(argc > 2 ? argv[2] : "sha256");
	int rounds = argc > 3 ? std::atoi(argv[3]) : 5;
	int fd = open(argv[1], O_RDONLY);
	struct stat st;
	if (!algo || fd < 0 || fstat(fd, &st) != 0) {
		std::fprintf(stderr, "bad file or algorithm\n");
		return 1;
	}
	(void)eima::ima::hash_file(*algo, fd); // warm the page cache
	auto start = std::chrono::steady_clock::now();
	for (int i = 0; i < rounds; ++i)
		if (!eima::ima::hash_file(*algo, fd))
			return 1;
	double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
	std::printf("%.1f\n", static_cast<double>(st.st_size) * rounds / s / 1e6);
	return 0;
}
