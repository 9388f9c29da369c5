#include "common/error.h"

#include <cstring>

namespace eima {

std::string Error::message() const
{
	std::string out = op;
	if (!context.empty())
		out += (out.empty() ? "" : " ") + context;
	if (err != 0)
		out += std::string(": ") + std::strerror(err < 0 ? -err : err);
	return out;
}

} // namespace eima
