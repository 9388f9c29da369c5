// A property a fuzz target checks: when it does not hold, say which one (the input is in
// build-fuzz/crashes/) and abort, which libFuzzer reports as a finding.
#pragma once

#include <cstdio>
#include <cstdlib>

#define EIMA_FUZZ_REQUIRE(cond)                                                           \
	do {                                                                              \
		if (!(cond)) {                                                            \
			std::fprintf(stderr, "%s:%d: property does not hold: %s\n", __FILE__, \
				     __LINE__, #cond);                                    \
			std::abort();                                                     \
		}                                                                         \
	} while (0)
