#!/usr/bin/env bash
# What watching eimad costs the exec loop (issue 11): cold execs (each one a new file, so
# each is an event) with no eimad, with eimad and nobody reading, and with eimad, an
# `eima events --follow` reader and Prometheus-style scrapes of --metrics every 100 ms.
# Rounds alternate the cases so that drift in the machine's load spreads over all three.
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

declare -A total=([none]=0 [quiet]=0 [watched]=0)
for r in $(seq 1 "$ROUNDS"); do
	cold "$T/none-$r"; cold "$T/quiet-$r"; cold "$T/watched-$r"
	t=$(execs "$COLD" "$T/none-$r"/t*)
	total[none]=$(awk -v a="${total[none]}" -v b="$t" 'BEGIN { print a + b }')

	start_eimad "$RUN" "$T/eimad-$r.log" --mode trace --tpm none --metrics 127.0.0.1:0 >/dev/null
	t=$(execs "$COLD" "$T/quiet-$r"/t*)
	settle "$RUN"
	total[quiet]=$(awk -v a="${total[quiet]}" -v b="$t" 'BEGIN { print a + b }')

	"$BIN/eima" events --run-dir "$RUN" --follow --json >"$T/events-$r.jsonl" 2>/dev/null &
	READER=$!
	port=$(sed -n 's|.*metrics: http://127.0.0.1:\([0-9]*\)/metrics.*|\1|p' "$T/eimad-$r.log.out" "$T/eimad-$r.log" | head -1)
	(while :; do curl -s -o /dev/null "http://127.0.0.1:$port/metrics"; sleep 0.1; done) &
	SCRAPER=$!
	sleep 0.3
	t=$(execs "$COLD" "$T/watched-$r"/t*)
	settle "$RUN"
	kill "$SCRAPER" "$READER"; wait "$SCRAPER" "$READER" 2>/dev/null || true
	SCRAPER= READER=
	total[watched]=$(awk -v a="${total[watched]}" -v b="$t" 'BEGIN { print a + b }')
	got=$(grep -c "$T/watched-$r/" "$T/events-$r.jsonl" || true)
	[[ $got -ge $COLD ]] || echo "warning: the reader got $got of $COLD events in round $r" >&2
	stop_eimad
	rm -rf "$T/none-$r" "$T/quiet-$r" "$T/watched-$r" "$RUN"
done
mean() { awk -v a="${total[$1]}" -v n="$ROUNDS" 'BEGIN { printf "%.1f", a / n }'; }
pct() { awk -v a="$(mean "$1")" -v b="$(mean "$2")" 'BEGIN { printf "%+.1f %%", (a / b - 1) * 100 }'; }

echo "## What watching eimad costs (cold execs, trace mode, --tpm none)"
echo
echo "- $(date -u +%F), kernel $(uname -r), $(nproc) CPUs, load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- command: \`bench/observe_cost.sh\` ($COLD cold execs per case and round, $ROUNDS rounds, cases interleaved)"
echo
echo "| case | µs/exec | vs eimad, nobody reading |"
echo "|---|---|---|"
echo "| no eimad | $(mean none) | |"
echo "| eimad, nobody reading events or metrics | $(mean quiet) | 0 (reference) |"
echo "| eimad, \`eima events --follow\` + a /metrics scrape every 100 ms | $(mean watched) | $(pct watched quiet) |"
