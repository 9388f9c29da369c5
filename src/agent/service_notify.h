// Readiness for a service manager: systemd's notify protocol (sd_notify(3)), which is one
// datagram on the socket named by $NOTIFY_SOCKET. eimad.service is Type=notify, so units
// ordered after it (container engines) start only once eimad measures.
#pragma once

#include <string_view>

#include "common/error.h"

namespace eima::agent {

// Sends STATE ("READY=1", "STOPPING=1", "STATUS=...") to $NOTIFY_SOCKET. Without one
// (eimad not started by systemd) it does nothing and succeeds.
Result<void> notify_service_manager(std::string_view state);

} // namespace eima::agent
