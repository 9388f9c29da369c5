#!/usr/bin/env bash
# Configures and builds eima into build/ (or $EIMA_BUILD_DIR). Needs scripts/setup.sh first.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${EIMA_BUILD_DIR:-$here/build}
cmake -S "$here" -B "$build" -G "Unix Makefiles" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)"
