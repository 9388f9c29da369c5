// How every eima subcommand reports a failure: one line on stderr, exit status 1.
#pragma once

#include <fmt/format.h>

#include "common/error.h"

namespace eima::cli {

inline int report(const Error &e)
{
	fmt::print(stderr, "eima: {}\n", e.message());
	return 1;
}

} // namespace eima::cli
