// Keys for the unit tests that sign: for each name, NAME.key (RSA 2048) and NAME.pem (its
// self-signed certificate, with a subject key identifier) made by the openssl command in a
// fresh directory under the temporary directory. Never committed; the caller removes the
// directory when its suite ends.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <initializer_list>
#include <string>

#include <fmt/format.h>

namespace eima::test {

// The directory, or an empty path when openssl failed (the caller asserts).
inline std::filesystem::path make_test_keys(const std::string &prefix,
					    std::initializer_list<const char *> names)
{
	namespace fs = std::filesystem;
	fs::path dir = fs::temp_directory_path() / (prefix + std::to_string(::getpid()));
	fs::create_directories(dir);
	for (const char *name : names) {
		std::string cmd = fmt::format(
			"openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=eima-test-{0} "
			"-keyout {1}/{0}.key -out {1}/{0}.pem >/dev/null 2>&1",
			name, dir.string());
		if (std::system(cmd.c_str()) != 0)
			return {};
	}
	return dir;
}

} // namespace eima::test
