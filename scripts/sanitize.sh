#!/usr/bin/env bash
# The host tests that need no root and no BPF — unit tests and the command-line tests on
# real inputs — built with ASan + UBSan into build-asan/ and run there. Any report (a
# leak, an overflow, undefined behaviour) fails the test that made it.
#   scripts/sanitize.sh [ctest args...]      (EIMA_SANITIZE_BUILD_DIR sets the directory)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${EIMA_SANITIZE_BUILD_DIR:-$here/build-asan}
cmake -S "$here" -B "$build" -G "Unix Makefiles" -DEIMA_SANITIZE=ON \
	-DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)"
cd "$build"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest --output-on-failure --timeout 900 -E '^(kernel|e2e|bpf)' "$@"
