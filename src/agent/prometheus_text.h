// eimad's metrics in Prometheus' text exposition format (version 0.0.4), rendered from the
// same status and ps answers `eima status --json` and `eima ps --json` give: one source of
// truth for every counter, so metrics and the CLI never disagree.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace eima::agent {

// status: ControlService::status(); ps: ControlService::ps(). Fields either lacks (an older
// or other mode) are left out, never reported as 0.
std::string prometheus_text(const nlohmann::json &status, const nlohmann::json &ps);

// A label value escaped as the format asks (\\, \", \n). Bytes that are not UTF-8 (a
// container id is a name from /proc) become the same \udcXX escapes as eima's JSON.
std::string prometheus_label_value(const std::string &value);

} // namespace eima::agent
