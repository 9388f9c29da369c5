#!/usr/bin/env bash
# Restart cost: how long a restarted eimad takes from its start to its first new
# measurement when its host list already holds FILES entries (resumed: parsed, the ascii
# list rewritten, replayed against the swtpm's PCRs), against a --fresh start in the same
# run. Trace mode on this host.
#   bench/restart_cost.sh [BUILD_DIR]      (root; EIMA_BENCH_FILES, default 100000)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
BIN=$build/bin
FILES=${EIMA_BENCH_FILES:-100000}
source "$here/tests/e2e/lib.sh"
T=$(mktemp -d /var/tmp/eima-restart-bench.XXXXXX)
RUN=$T/run
cleanup() {
	stop_eimad >/dev/null 2>&1 || true
	[[ -f $RUN/tpm/swtpm.pid ]] && kill "$(cat "$RUN/tpm/swtpm.pid")" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
mkdir -p "$T/many"
(cd "$T/many" && seq 1 "$FILES" | awk '{ f = "f" $1; print > f; close(f) }')
cp -L /usr/bin/true "$T/true"

n=0
# start_to_first ARGS...: seconds from starting eimad to a new exec being in its list, in
# $secs (not printed: eimad must stay this shell's child)
start_to_first() {
	n=$((n + 1))
	cp "$T/true" "$T/probe$n"; printf '%s' "$n" >> "$T/probe$n"
	local t0 t1
	t0=$(date +%s%N)
	start_eimad "$RUN" "$T/eimad.$n.log" --mode trace --tpm swtpm --vtpm none "$@" >/dev/null
	"$T/probe$n"
	until grep -q " $T/probe$n\$" "$RUN/host/ascii_runtime_measurements" 2>/dev/null; do
		settle "$RUN"
	done
	t1=$(date +%s%N)
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
}
state() { "$BIN/eima" status --run-dir "$RUN" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["host_list"])'; }

start_to_first --fresh; fresh=$secs
"$BIN/eima-bench-mmap" "$T/many" >/dev/null
settle "$RUN"
entries=$(wc -l < "$RUN/host/ascii_runtime_measurements")
stop_eimad
start_to_first; clean=$secs
clean_state=$(state)
kill -KILL "$EIMAD_PID"; wait "$EIMAD_PID" 2>/dev/null || true; EIMAD_PID=
start_to_first; killed=$secs
killed_state=$(state)
stop_eimad

echo "## Restart (\`bench/restart_cost.sh\`, trace mode, swtpm, $(date -u +%F))"
echo
echo "Start of eimad to its first new measurement in the host list:"
echo
echo "| start | list before | seconds | vs fresh |"
echo "|---|---|---|---|"
echo "| --fresh (new list) | - | $fresh | 1.00 |"
awk -v e="$entries" -v s="$clean" -v f="$fresh" 'BEGIN { printf "| after a clean stop | %d entries | %s | %.2f |\n", e, s, s / f }'
awk -v e="$entries" -v s="$killed" -v f="$fresh" 'BEGIN { printf "| after kill -9 | %d entries | %s | %.2f |\n", e + 2, s, s / f }'
echo
echo "- clean stop: $clean_state"
echo "- kill -9: $killed_state"
