// truncate(2) by path, to size 0, without opening the file: the change the kernel tests
// make to a blessed file that no task opened (coreutils' and busybox's truncate open it).
// Static, so that it runs in a test container with nothing but itself blessed.
//
//   eima-test-truncate PATH
#include <unistd.h>

#include <cstdio>

int main(int argc, char **argv)
{
	if (argc != 2) {
		std::fputs("usage: eima-test-truncate PATH\n", stderr);
		return 2;
	}
	if (truncate(argv[1], 0) != 0) {
		std::perror(argv[1]);
		return 1;
	}
	return 0;
}
