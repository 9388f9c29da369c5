#!/usr/bin/env bash
# The demo's steps (see demo.sh): BIN_DIR holds eima, eimad and eima-test-container.
set -euo pipefail
BIN=$1
here=$(cd "$(dirname "$0")/.." && pwd)
source "$here/tests/e2e/lib.sh"
set -e
T=$(mktemp -d /tmp/eima-demo.XXXXXX)
RUN=$T/run
trap 'stop_eimad >/dev/null 2>&1 || true; rm -rf "$T"' EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "a busybox-static root filesystem with a dynamically linked binary"
make_rootfs "$T/rootfs"
ls -l "$T/rootfs/bin" | head -5

step "eimad starts (embedded swtpm, default policy 'exec')"
start_eimad "$RUN" "$T/eimad.log"
"$BIN/eima" status --run-dir "$RUN"

step "a container (new mount/pid/uts/ipc namespaces, pivot_root) runs three programs"
"$BIN/eima-test-container" --hostname demo "$T/rootfs" -- /bin/sh -c \
	'echo "hello from $(hostname), pid $$"; /bin/dyn-true; /bin/dyn-env /bin/echo done'
settle "$RUN"

step "eima ps"
"$BIN/eima" ps --run-dir "$RUN"
cid=$("$BIN/eima" ps --run-dir "$RUN" | awk 'NR > 1 && $4 != "-" { id = $1 } END { print id }')

step "the container's own measurement list ($RUN/containers/$cid)"
"$BIN/eima" log show --run-dir "$RUN" --container "$cid"

step "the host list: the container's files as <id>:<path> on PCR 11"
grep " $cid:" "$RUN/host/ascii_runtime_measurements" | head -8

step "evmctl checks the host list against the TPM's PCRs"
snapshot "$RUN" "$T/snap"
grep -E "PCR-1[01]" "$T/snap/pcrs.sha256"
evmctl ima_measurement --ignore-violations --pcrs sha1,"$T/snap/pcrs.sha1" \
	--pcrs sha256,"$T/snap/pcrs.sha256" "$T/snap/binary_runtime_measurements" 2>&1 | tail -2
"$BIN/eima" log verify "$T/snap/binary_runtime_measurements" --pcrs sha1,"$T/snap/pcrs.sha1" --pcrs sha256,"$T/snap/pcrs.sha256"

step "eimad stops on SIGTERM"
stop_eimad
tail -1 "$T/eimad.log"
