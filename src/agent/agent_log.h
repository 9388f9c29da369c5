// eimad's one logger: every message of the agent goes through spdlog with a level, and so
// does libbpf's own output (its warnings include the verifier's log when a program is
// refused). Messages read "eimad: LEVEL: text" on stderr.
#pragma once

#include <string_view>

#include <spdlog/spdlog.h>

namespace eima::agent {

// Sets the pattern and the level ("trace", "debug", "info", "warn", "error"), and routes
// libbpf's output: its warnings as warn, its info as debug, its debug as trace. Returns
// false for an unknown level name.
bool init_agent_log(std::string_view level);

// While one lives, libbpf's warnings are logged as debug: for a load eimad may retry
// another way (the sleepable hooks, then the plain ones), whose refusal is expected on
// some kernels and reported by eimad itself.
class QuietLibbpf {
public:
	QuietLibbpf();
	~QuietLibbpf();
	QuietLibbpf(const QuietLibbpf &) = delete;
	QuietLibbpf &operator=(const QuietLibbpf &) = delete;
};

} // namespace eima::agent
