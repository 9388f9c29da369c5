// Errors are values: every call that touches the OS, a file or untrusted bytes returns
// Result<T>, whose error says what was attempted, on what, and why.
#pragma once

#include <cerrno>
#include <expected>
#include <string>
#include <utility>

namespace eima {

struct Error {
	int err = 0;            // errno-style code, 0 when the failure is not an OS error
	std::string op;         // what was attempted: "open", "parse policy", "Esys_PCR_Extend"
	std::string context;    // on what: a path with :line, an offset, a map name

	// "op context: strerror(err)" or "op context" when err == 0.
	std::string message() const;
};

template <typename T>
using Result = std::expected<T, Error>;

// Builds the unexpected value of a Result: `return fail(errno, "open", path);`
inline std::unexpected<Error> fail(int err, std::string op, std::string context = {})
{
	return std::unexpected(Error{err, std::move(op), std::move(context)});
}

// Same, for failures that are not OS errors (bad input, protocol errors).
inline std::unexpected<Error> fail(std::string op, std::string context = {})
{
	return std::unexpected(Error{0, std::move(op), std::move(context)});
}

} // namespace eima
