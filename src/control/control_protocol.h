// eimad's control socket (RUN/eimad.sock, root only): one JSON object per line each way,
// one request per connection. `eima` uses it for status, ps, pcrs, quote, identity and
// enroll activate, which need the agent's live state or its TPM.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/unique_fd.h"

namespace eima::control {

Result<UniqueFd> listen_control(const std::string &socket_path);
// Reads one line (at most 1 MiB) and parses it.
Result<nlohmann::json> read_message(int fd);
// One request line (without its newline) as a JSON object; anything else is an Error.
Result<nlohmann::json> parse_message(std::string_view line);
// A request line as eimad takes it: parse_message, then every field eimad reads checked for
// its type ("cmd", "container", "bank", "nonce": strings; "banks": strings; "pcrs": PCR
// numbers 0..23), so that a handler reading them cannot throw. A field of the wrong type is
// an Error that names it. Fields eimad does not know are left alone.
Result<nlohmann::json> parse_request(std::string_view line);
Result<void> write_message(int fd, const nlohmann::json &msg);
// Client side: connects to RUN/eimad.sock, sends req, returns the reply. A reply holding
// "error" is returned as an Error.
Result<nlohmann::json> control_request(const std::string &run_dir, const nlohmann::json &req);

} // namespace eima::control
