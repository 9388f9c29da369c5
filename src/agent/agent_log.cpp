#include "agent/agent_log.h"

#include <bpf/libbpf.h>

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <string>

namespace eima::agent {

namespace {

std::atomic<int> quiet_depth{0};

int libbpf_to_spdlog(enum libbpf_print_level level, const char *format, va_list args)
{
	auto to = level == LIBBPF_WARN ? (quiet_depth > 0 ? spdlog::level::debug : spdlog::level::warn)
		  : level == LIBBPF_INFO ? spdlog::level::debug
					 : spdlog::level::trace;
	if (!spdlog::should_log(to))
		return 0;
	char buf[1024];
	int n = std::vsnprintf(buf, sizeof(buf), format, args);
	if (n < 0)
		return n;
	std::string_view text(buf, std::min<std::size_t>(static_cast<std::size_t>(n), sizeof(buf) - 1));
	while (!text.empty() && text.back() == '\n')
		text.remove_suffix(1);
	// Most of libbpf's messages name it already ("libbpf: failed to ..."), the verifier's
	// log lines do not: one prefix on each.
	if (text.starts_with("libbpf: "))
		text.remove_prefix(8);
	spdlog::log(to, "libbpf: {}", text);
	return n;
}

} // namespace

bool init_agent_log(std::string_view level)
{
	auto l = spdlog::level::from_str(std::string(level));
	if (l == spdlog::level::off && level != "off")
		return false;
	spdlog::set_pattern("eimad: %l: %v");
	spdlog::set_level(l);
	// A message is on disk before eimad goes on: they are rare and often about failures.
	spdlog::flush_on(spdlog::level::trace);
	libbpf_set_print(libbpf_to_spdlog);
	return true;
}

QuietLibbpf::QuietLibbpf() { ++quiet_depth; }
QuietLibbpf::~QuietLibbpf() { --quiet_depth; }

} // namespace eima::agent
