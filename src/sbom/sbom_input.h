// The byte source of the SBOM readers (internal): a std::streambuf over a file descriptor,
// read in fixed blocks, that refuses a token longer than max_token_bytes. The JSON lexer
// buffers each string and number whole before handing it on, so a 1 GiB string would cost
// 1 GiB; here the run of bytes since the last '"' or newline is counted as blocks arrive,
// and input ends (with an error naming the offset) once it is too long. A string holds
// neither raw character, so every token is bounded; whitespace runs are refused too, which
// no real SBOM has.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <streambuf>
#include <string>

#include "common/error.h"
#include "common/unique_fd.h"

namespace eima::sbom::detail {

class SbomInput : public std::streambuf {
public:
	SbomInput() = default;
	SbomInput(const SbomInput &) = delete;
	SbomInput &operator=(const SbomInput &) = delete;

	Result<void> open(const std::string &path);
	const std::string &path() const { return path_; }
	// Bytes handed to the reader so far (exact after end of input).
	std::uint64_t consumed() const;
	// Why input ended early (read error, token too long); empty at a real end of file.
	const std::optional<Error> &error() const { return error_; }
	// Line (1-based) and column (1-based, in bytes) of a byte offset, counted by reading
	// the file again from the start: only on the error path.
	std::pair<std::uint64_t, std::uint64_t> line_of(std::uint64_t offset) const;

protected:
	int_type underflow() override;

private:
	std::string path_;
	UniqueFd fd_;
	std::array<char, 1 << 16> buf_{};
	std::uint64_t buf_start_ = 0; // file offset of buf_[0]
	std::uint64_t run_ = 0;       // bytes since the last '"' or '\n'
	std::optional<Error> error_;
	bool ended_ = false;
};

} // namespace eima::sbom::detail
