// What eimad leaves in RUN/containers/<id> for the next eimad (docs/restart.md):
// container.json when it first sees the container (what finds it again: the namespace's
// inode and unique id, and the process it started with), exited.json once its final
// evidence is written (what `eima ps` shows of it). A restarted eimad reads them back:
// the running containers get their lists and vTPMs back, the exited ones stay in `eima ps`.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "agent/container_registry.h"
#include "common/error.h"

namespace eima::agent {

// DIR/container.json, replaced whole (a kill mid-write leaves the old one or none).
Result<void> save_container(const std::string &dir, const SavedContainer &s);
// Errors name the file and what is wrong in it.
Result<SavedContainer> read_saved_container(const std::string &dir);

// An exited container as `eima ps` shows it; exited.json holds the same.
nlohmann::json exited_json(const ExitedContainer &e);
// e.log_dir/exited.json (nothing without a log directory).
Result<void> save_exited(const ExitedContainer &e);
Result<ExitedContainer> read_exited(const std::string &dir);

} // namespace eima::agent
