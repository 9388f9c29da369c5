#!/usr/bin/env bash
# In-kernel cost of the BPF LSM hooks, from kernel.bpf_stats_enabled, inside the test VM
# (this host refuses LSM programs). Software emulation: compare the hooks with each other
# and with the exec itself, not with native nanoseconds.
#   bench/lsm_hook_cost.sh [BUILD_DIR]      (runs itself in tests/vm/vmrun)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
if [[ ${EIMA_VM:-} != 1 ]]; then
	exec "$here/tests/vm/vmrun" --bind "$here" --bind "$build" --timeout 600 -- \
		bash "$here/bench/lsm_hook_cost.sh" "$build"
fi
BIN=$build/bin
source "$here/tests/e2e/lib.sh"
N=${EIMA_BENCH_EXECS:-500}
T=$(mktemp -d /tmp/eima-lsmbench.XXXXXX)
trap 'stop_eimad >/dev/null 2>&1 || true; sysctl -qw kernel.bpf_stats_enabled=0; rm -rf "$T"' EXIT
cp -L /usr/bin/true "$T/true"
"$BIN/eima-bench-exec" 50 "$T/true" >/dev/null
base=$("$BIN/eima-bench-exec" "$N" "$T/true")
start_eimad "$T/run" "$T/eimad.log" --mode lsm --tpm none >/dev/null
"$BIN/eima-bench-exec" 50 "$T/true" >/dev/null
sysctl -qw kernel.bpf_stats_enabled=1
warm=$("$BIN/eima-bench-exec" "$N" "$T/true")
echo "## BPF LSM hooks (test VM: Debian $(uname -r), QEMU TCG, $N warm execs)"
echo
echo "exec without eimad $base µs, with eimad (warm) $warm µs"
echo
echo "| program | runs | ns/run |"
echo "|---|---|---|"
bpftool prog show 2>/dev/null | awk '/name eima_/ { name=$4; t=0; c=0; for (i=1;i<=NF;i++) { if ($i=="run_time_ns") t=$(i+1); if ($i=="run_cnt") c=$(i+1) } printf "| %s | %d | %s |\n", name, c, (c > 0 ? sprintf("%.0f", t / c) : "-") }'
