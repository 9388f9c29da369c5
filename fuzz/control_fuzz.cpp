// The control socket's framing and JSON, as eimad reads a request and eima a reply: one
// line of at most 1 MiB. The fd is a memfd holding the input; a message that parses is
// written back and must read back the same.
#include <cstdint>
#include <string>
#include <vector>
#include <sys/mman.h>
#include <unistd.h>

#include "common/unique_fd.h"
#include "common/json_text.h"
#include "control/control_protocol.h"

using namespace eima;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static UniqueFd in(::memfd_create("fuzz-in", MFD_CLOEXEC));
	static UniqueFd out(::memfd_create("fuzz-out", MFD_CLOEXEC));
	if (::ftruncate(in.get(), 0) != 0 || ::pwrite(in.get(), data, size, 0) != ssize_t(size) ||
	    ::lseek(in.get(), 0, SEEK_SET) != 0)
		__builtin_trap();
	auto msg = control::read_message(in.get());
	if (!msg)
		return 0;
	if (::ftruncate(out.get(), 0) != 0 || ::lseek(out.get(), 0, SEEK_SET) != 0 ||
	    !control::write_message(out.get(), *msg) || ::lseek(out.get(), 0, SEEK_SET) != 0)
		__builtin_trap();
	auto back = control::read_message(out.get());
	if (!back || *back != *msg)
		__builtin_trap();
	// A request eimad accepts can be read the way its handlers read it without throwing
	// (an uncaught nlohmann exception ends eimad).
	if (auto req = control::parse_request(json_dump(*msg))) {
		(void)req->value("cmd", "");
		(void)req->value("container", "");
		(void)req->value("bank", "");
		(void)req->value("nonce", "");
		if (req->contains("banks"))
			(void)(*req)["banks"].get<std::vector<std::string>>();
		if (req->contains("pcrs"))
			(void)(*req)["pcrs"].get<std::vector<std::uint32_t>>();
	}
	return 0;
}
