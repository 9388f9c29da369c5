#include "common/file_io.h"

#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace eima {

Result<std::string> read_file(const std::string &path)
{
	std::ifstream in(path, std::ios::binary);
	if (!in)
		return fail(errno, "open", path);
	std::stringstream ss;
	ss << in.rdbuf();
	if (in.bad())
		return fail(errno, "read", path);
	return ss.str();
}

Result<std::string> read_file_prefix(const std::string &path, std::size_t max_bytes)
{
	std::ifstream in(path, std::ios::binary);
	if (!in)
		return fail(errno, "open", path);
	std::string out(max_bytes, '\0');
	in.read(out.data(), static_cast<std::streamsize>(max_bytes));
	if (in.bad())
		return fail(errno, "read", path);
	out.resize(static_cast<std::size_t>(in.gcount()));
	return out;
}

Result<void> write_file(const std::string &path, std::string_view data)
{
	std::ofstream out(path, std::ios::binary | std::ios::trunc);
	out.write(data.data(), static_cast<std::streamsize>(data.size()));
	out.close();
	if (!out)
		return fail(errno, "write", path);
	return {};
}

Result<void> write_file(const std::string &path, std::span<const std::uint8_t> data)
{
	return write_file(path,
			  std::string_view(reinterpret_cast<const char *>(data.data()), data.size()));
}

void remove_flat_dir(const std::string &dir)
{
	std::error_code ec;
	for (auto &entry : std::filesystem::directory_iterator(dir, ec))
		::unlink(entry.path().c_str());
	::rmdir(dir.c_str());
}

} // namespace eima
