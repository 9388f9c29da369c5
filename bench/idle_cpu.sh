#!/usr/bin/env bash
# CPU an idle eimad uses: each eimad binary given runs in turn, in trace mode with a swtpm,
# left alone for SECS seconds (after a few seconds to settle); its CPU time over that window
# from /proc (utime+stime of all its threads, and the threads' schedstat run time in ns),
# and how often its event loop woke (voluntary context switches of the main thread).
# Twice per binary: with the default policy (exec), where whatever else runs on the host
# is measured too (the events column says how much), and with a policy no process matches
# (uid=4242424), where the loop's own cost is all there is.
#   bench/idle_cpu.sh [BUILD_DIR] [EIMAD...]    (root; EIMA_BENCH_IDLE_SECS, default 60)
# With no EIMAD, BUILD_DIR/bin/eimad. Prints a Markdown table.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
shift || true
BIN=$build/bin
SECS=${EIMA_BENCH_IDLE_SECS:-60}
SETTLE=${EIMA_BENCH_IDLE_SETTLE:-5}
bins=("$@")
[[ ${#bins[@]} -gt 0 ]] || bins=("$BIN/eimad")
source "$here/tests/e2e/lib.sh"
T=$(mktemp -d /var/tmp/eima-idle.XXXXXX)
cleanup() { stop_eimad >/dev/null 2>&1 || true; rm -rf "$T"; }
trap cleanup EXIT
hz=$(getconf CLK_TCK)

# ticks PID: utime + stime of the whole process, in clock ticks
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# runns PID: run time of all its threads, ns
runns() { cat /proc/"$1"/task/*/schedstat | awk '{ s += $1 } END { printf "%.0f", s }'; }
wakes() { awk '$1 == "voluntary_ctxt_switches:" { print $2 }' "/proc/$1/task/$1/status"; }
events() { "$BIN/eima" status --run-dir "$1" --json | grep -o '"events": [0-9]*' | head -1 | grep -o '[0-9]*$'; }

printf 'measure func=BPRM_CHECK uid=4242424\nmeasure func=MMAP_CHECK mask=MAY_EXEC uid=4242424\n' > "$T/quiet.policy"
echo "| eimad | policy | CPU over ${SECS} s (stat) | % of a core (stat) | % of a core (schedstat) | loop wakeups/s | events in the window |"
echo "|---|---|---|---|---|---|---|"
for b in "${bins[@]}"; do
for policy in exec "$T/quiet.policy"; do
	RUN=$T/run
	rm -rf "$RUN"
	# start_eimad runs $BIN/eimad: point BIN at a directory holding this binary
	mkdir -p "$T/bin"
	ln -sf "$(readlink -f "$b")" "$T/bin/eimad"
	ln -sf "$BIN/eima" "$T/bin/eima"
	BIN_SAVED=$BIN BIN=$T/bin
	start_eimad "$RUN" "$T/eimad.log" --mode trace --tpm swtpm --policy "$policy" >/dev/null
	BIN=$BIN_SAVED
	sleep "$SETTLE"
	e0=$(events "$RUN")
	t0=$(ticks "$EIMAD_PID") n0=$(runns "$EIMAD_PID") w0=$(wakes "$EIMAD_PID")
	sleep "$SECS"
	t1=$(ticks "$EIMAD_PID") n1=$(runns "$EIMAD_PID") w1=$(wakes "$EIMAD_PID")
	e1=$(events "$RUN")
	stop_eimad
	awk -v b="$b" -v p="$([[ $policy == exec ]] && echo exec || echo 'none matches')" -v t=$((t1 - t0)) -v hz="$hz" -v n=$((n1 - n0)) -v w=$((w1 - w0)) \
	    -v s="$SECS" -v e=$((e1 - e0)) 'BEGIN {
		printf "| %s | %s | %.2f s | %.3f %% | %.3f %% | %.1f | %d |\n",
		       b, p, t / hz, 100 * t / hz / s, 100 * n / 1e9 / s, w / s, e }'
done
done
