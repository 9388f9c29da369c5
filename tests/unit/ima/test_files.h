// Small file helpers shared by the ima unit tests.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "common/file_io.h"
#include "common/hex.h"

namespace eima::ima::test {

// The file's bytes; empty when it cannot be read (tests then fail on the content).
inline std::string read_text(const std::string &path) { return read_file(path).value_or(""); }

inline std::span<const std::uint8_t> as_bytes(const std::string &s)
{
	return {reinterpret_cast<const std::uint8_t *>(s.data()), s.size()};
}

inline std::string as_string(const Bytes &b) { return std::string(b.begin(), b.end()); }

inline void write_text(const std::string &path, std::string_view text)
{
	std::ofstream f(path, std::ios::binary | std::ios::trunc);
	f.write(text.data(), static_cast<std::streamsize>(text.size()));
}

// A private scratch directory removed when the test ends.
class TempDir {
public:
	TempDir()
	{
		std::string tmpl = (std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp");
		tmpl += "/eima-ima-test-XXXXXX";
		path_ = mkdtemp(tmpl.data()) ? tmpl : std::string();
	}
	~TempDir()
	{
		std::error_code ec;
		if (!path_.empty())
			std::filesystem::remove_all(path_, ec);
	}
	const std::string &path() const { return path_; }
	std::string file(const std::string &name) const { return path_ + "/" + name; }

private:
	std::string path_;
};

} // namespace eima::ima::test
