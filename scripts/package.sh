#!/usr/bin/env bash
# Builds the Debian package build/package/eima_<version>_amd64.deb (CPack, packaging/):
# eima, eimad, the BPF objects, eimad.service, /etc/eima/eimad.conf, man pages and bash
# completion. Prints the package's path. Needs scripts/setup.sh first.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${EIMA_BUILD_DIR:-$here/build}
EIMA_BUILD_DIR=$build bash "$here/scripts/build.sh" >/dev/null
rm -f "$build"/package/eima_*.deb
(cd "$build" && cpack -G DEB -B "$build/package" >"$build/package.log" 2>&1) || { cat "$build/package.log"; exit 1; }
ls "$build"/package/eima_*_amd64.deb
