#include "sbom/sbom_input.h"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include "sbom/sbom.h"

namespace eima::sbom::detail {

Result<void> SbomInput::open(const std::string &path)
{
	path_ = path;
	fd_.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
	if (!fd_)
		return fail(errno, "open", path);
	setg(buf_.data(), buf_.data(), buf_.data());
	return {};
}

std::uint64_t SbomInput::consumed() const
{
	return buf_start_ + static_cast<std::uint64_t>(gptr() - eback());
}

SbomInput::int_type SbomInput::underflow()
{
	if (gptr() < egptr())
		return traits_type::to_int_type(*gptr());
	if (ended_)
		return traits_type::eof();
	buf_start_ += static_cast<std::uint64_t>(egptr() - eback());
	ssize_t n;
	do
		n = ::read(fd_.get(), buf_.data(), buf_.size());
	while (n < 0 && errno == EINTR);
	if (n <= 0) {
		if (n < 0)
			error_ = Error{errno, "read", fmt::format("{} at offset {}", path_, buf_start_)};
		ended_ = true;
		setg(buf_.data(), buf_.data(), buf_.data());
		return traits_type::eof();
	}
	auto len = static_cast<std::size_t>(n);
	for (std::size_t i = 0; i < len; ++i) {
		char c = buf_[i];
		if (c == '"' || c == '\n') {
			run_ = 0;
		} else if (++run_ > max_token_bytes) {
			// Hand on what precedes the long token; the reader then sees the end of
			// input and the caller reports this error instead of the reader's.
			error_ = Error{0, "parse SBOM",
				       fmt::format("{}: offset {}: a token longer than {} MiB", path_,
						   buf_start_ + i - max_token_bytes, max_token_bytes >> 20)};
			ended_ = true;
			len = i;
			break;
		}
	}
	setg(buf_.data(), buf_.data(), buf_.data() + len);
	if (len == 0)
		return traits_type::eof();
	return traits_type::to_int_type(buf_[0]);
}

std::pair<std::uint64_t, std::uint64_t> SbomInput::line_of(std::uint64_t offset) const
{
	std::uint64_t line = 1, column = 1, pos = 0;
	std::array<char, 1 << 16> block;
	while (pos < offset) {
		ssize_t n = ::pread(fd_.get(), block.data(), block.size(), static_cast<off_t>(pos));
		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n && pos < offset; ++i, ++pos) {
			if (block[static_cast<std::size_t>(i)] == '\n') {
				++line;
				column = 1;
			} else {
				++column;
			}
		}
	}
	return {line, column};
}

} // namespace eima::sbom::detail
