#!/usr/bin/env bash
# What watching eimad costs the exec loop (issue 11): cold execs (each one a new file, so
# each is an event) with no eimad, with eimad and nobody reading, and with eimad, an
# `eima events --follow` reader, with Prometheus-style scrapes of --metrics every 100 ms,
# and with both.
# Rounds alternate the cases so that drift in the machine's load spreads over all cases.
# Prints a Markdown table; BENCHMARKS.md holds the latest.
#   bench/observe_cost.sh [BUILD_DIR]   (root; EIMA_BENCH_COLD files per round, ROUNDS)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
BIN=$build/bin
COLD=${EIMA_BENCH_COLD:-1000}
ROUNDS=${EIMA_BENCH_ROUNDS:-3}
source "$here/tests/e2e/lib.sh"
T=$(mktemp -d /var/tmp/eima-observe.XXXXXX)
RUN=$T/run
READER=
SCRAPER=
cleanup() {
	[[ -n $READER ]] && kill "$READER" 2>/dev/null
	[[ -n ${SCRAPER:-} ]] && kill "$SCRAPER" 2>/dev/null
	stop_eimad >/dev/null 2>&1 || true
	rm -rf "$T"
}
trap cleanup EXIT

cp -L /usr/bin/true "$T/true"
# cold DIR: COLD distinct copies of true, so that every exec is a new measurement.
cold() { mkdir -p "$1"; for i in $(seq 1 "$COLD"); do cp "$T/true" "$1/t$i"; printf '%s' "$i$1" >>"$1/t$i"; done; }
execs() { "$BIN/eima-bench-exec" "$@"; }

load_before=$(cut -d" " -f1-3 /proc/loadavg)
cases=(none quiet follow scrape watched)
declare -A total=()
for c in "${cases[@]}"; do total[$c]=0; done
declare -A cpu=()
for c in "${cases[@]}"; do cpu[$c]=0; done
add() { total[$1]=$(awk -v a="${total[$1]}" -v b="$2" 'BEGIN { print a + b }'); }
# CPU time (ns) of all of a process's threads (schedstat: ticks are too coarse here).
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f\n", s }'; }
# timed CASE: the case's execs, and the CPU eimad spent on them (until it has handled them).
timed() {
	local before t
	before=$(cpu_ns "$EIMAD_PID")
	t=$(execs "$COLD" "$T/$1-$r"/t*)
	settle "$RUN"
	add "$1" "$t"
	cpu[$1]=$(( ${cpu[$1]} + $(cpu_ns "$EIMAD_PID") - before ))
}
# A scraper as Prometheus is one: a long-lived process asking every 100 ms (a curl started
# every 100 ms would charge its own start-up, ~10 processes a second, to eimad).
scraper() {
	python3 - "$1" <<'PY' &
import sys, time, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}/metrics"
while True:
    with urllib.request.urlopen(url) as r:
        r.read()
    time.sleep(0.1)
PY
	SCRAPER=$!
}
follower() {
	"$BIN/eima" events --run-dir "$RUN" --follow --json >"$1" 2>/dev/null &
	READER=$!
}
for r in $(seq 1 "$ROUNDS"); do
	for c in "${cases[@]}"; do cold "$T/$c-$r"; done
	add none "$(execs "$COLD" "$T/none-$r"/t*)"

	start_eimad "$RUN" "$T/eimad-$r.log" --mode trace --tpm none --metrics 127.0.0.1:0 >/dev/null
	port=$(sed -n 's|.*metrics: http://127.0.0.1:\([0-9]*\)/metrics.*|\1|p' "$T/eimad-$r.log.out" "$T/eimad-$r.log" | head -1)
	timed quiet

	for c in follow scrape watched; do
		[[ $c == scrape ]] || follower "$T/events-$c-$r.jsonl"
		[[ $c == follow ]] || scraper "$port"
		sleep 0.3
		timed "$c"
		kill $SCRAPER $READER 2>/dev/null; wait $SCRAPER $READER 2>/dev/null || true
		if [[ -n $READER ]]; then
			got=$(grep -c "$T/$c-$r/" "$T/events-$c-$r.jsonl" || true)
			[[ $got -ge $COLD ]] || echo "warning: the reader got $got of $COLD events in round $r ($c)" >&2
		fi
		SCRAPER= READER=
	done
	stop_eimad
	for c in "${cases[@]}"; do rm -rf "$T/$c-$r"; done
	rm -rf "$RUN"
done
mean() { awk -v a="${total[$1]}" -v n="$ROUNDS" 'BEGIN { printf "%.1f", a / n }'; }
eimad_us() { awk -v a="${cpu[$1]}" -v n="$((ROUNDS * COLD))" 'BEGIN { printf "%.1f", a / n / 1000 }'; }
pct() { awk -v a="$(mean "$1")" -v b="$(mean "$2")" 'BEGIN { printf "%+.1f %%", (a / b - 1) * 100 }'; }

echo "## What watching eimad costs (cold execs, trace mode, --tpm none)"
echo
echo "- $(date -u +%F), kernel $(uname -r), $(nproc) CPUs, load before: $load_before"
echo "- command: \`bench/observe_cost.sh\` ($COLD cold execs per case and round, $ROUNDS rounds, cases interleaved)"
echo
echo "| case | µs/exec | vs no eimad | vs eimad, nobody reading | eimad's CPU, µs/exec |"
echo "|---|---|---|---|---|"
echo "| no eimad | $(mean none) | | | |"
echo "| eimad, nobody reading events or metrics | $(mean quiet) | $(pct quiet none) | (reference) | $(eimad_us quiet) |"
echo "| eimad, \`eima events --follow --json\` to a file | $(mean follow) | $(pct follow none) | $(pct follow quiet) | $(eimad_us follow) |"
echo "| eimad, a /metrics scrape every 100 ms (one long-lived scraper) | $(mean scrape) | $(pct scrape none) | $(pct scrape quiet) | $(eimad_us scrape) |"
echo "| eimad, both | $(mean watched) | $(pct watched none) | $(pct watched quiet) | $(eimad_us watched) |"
