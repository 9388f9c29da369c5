#!/usr/bin/env bash
# What a vTPM per container costs, in trace mode on this host, all in one run:
#  - memory per swtpm instance (RSS and PSS from /proc/PID/smaps_rollup) with K containers
#    alive at once;
#  - containers started per second (container start, one exec, exit; sequential) with no
#    eimad, eimad --vtpm none and eimad --vtpm swtpm, and the ratios;
#  - how long after a container's first exec its vTPM is up and bound in the host list;
#  - K containers exiting at once: time to all final evidence, and the longest the event
#    loop was held up on one wakeup.
# Prints a Markdown section; BENCHMARKS.md holds the latest one.
#   bench/vtpm_cost.sh [BUILD_DIR]     (root; EIMA_BENCH_CONTAINERS=N, EIMA_BENCH_ALIVE=K)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
BIN=$build/bin
N=${EIMA_BENCH_CONTAINERS:-100}
K=${EIMA_BENCH_ALIVE:-20}
source "$here/tests/e2e/lib.sh"
T=$(mktemp -d /var/tmp/eima-vtpmbench.XXXXXX)
# The run directory on tmpfs, as /run is on a normal host (here / is one ext4, where
# creating a container's list and vTPM state files costs several times more).
RUN=$T/run-tmpfs/run
mkdir "$T/run-tmpfs"
mount -t tmpfs -o size=1g,mode=0700 eima-vtpmbench "$T/run-tmpfs"
cleanup() {
	for d in "$T"/alive-*/tmp; do touch "$d/go"; done 2>/dev/null || true
	wait $(jobs -p) 2>/dev/null || true # the containers, before their files go
	stop_eimad >/dev/null 2>&1 || true
	umount "$T/run-tmpfs" 2>/dev/null || umount -l "$T/run-tmpfs"
	rm -rf "$T"
}
trap cleanup EXIT
make_rootfs "$T/rootfs"
ms() { date +%s%N | awk '{ printf "%.0f", $1 / 1e6 }'; }

# start_loop: N containers one after the other, each running one binary; prints per second.
start_loop() {
	local t0 t1
	t0=$(ms)
	for _ in $(seq 1 "$N"); do
		"$BIN/eima-test-container" "$T/rootfs" -- /bin/dyn-true
	done
	t1=$(ms)
	awk -v n="$N" -v d="$((t1 - t0))" 'BEGIN { printf "%.1f", n * 1000 / d }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

base1=$(start_loop)
start_eimad "$RUN" "$T/eimad-none.log" --mode trace --tpm swtpm --vtpm none >/dev/null
none=$(start_loop)
settle "$RUN"
stop_eimad
rm -rf "$RUN"
start_eimad "$RUN" "$T/eimad-swtpm.log" --mode trace --tpm swtpm --keep-exited 100000 >/dev/null
t_loop=$(ms)
vtpm=$(start_loop)
t_exited=$(ms)
# Until every one of them is seen, bound, reaped (once a second) and has final evidence.
finals() {
	"$BIN/eima" ps --run-dir "$RUN" --json |
		jq '[.containers[] | select(.final_evidence // "" | startswith("/"))] | length'
}
for _ in $(seq 1 1200); do
	[[ $(finals) -ge $N ]] && break
	sleep 0.05
done
t_done=$(ms)
created=$(finals)

# K containers alive at once: swtpm memory, and start-to-bound latency.
lat=()
for i in $(seq 1 "$K"); do
	r=$T/alive-$i
	make_rootfs "$r"
	t0=$(ms)
	"$BIN/eima-test-container" "$r" -- /bin/sh -c 'while [ ! -e /tmp/go ]; do sleep 0.1 || exit 1; done' &
	for _ in $(seq 1 400); do
		n=$("$BIN/eima" ps --run-dir "$RUN" --json | jq '[.containers[] | select(.state == "running" and .vtpm.bound == true)] | length')
		[[ $n -ge $i ]] && break
		sleep 0.01
	done
	lat+=($(($(ms) - t0)))
done
pids=$(pgrep -f "swtpm socket .*$RUN/containers/" || true)
count=$(echo "$pids" | grep -c . || true)
read -r rss pss < <(for p in $pids; do awk '/^Rss:/ { r=$2 } /^Pss:/ { s=$2 } END { print r, s }' "/proc/$p/smaps_rollup"; done |
	awk '{ r += $1; s += $2 } END { printf "%.0f %.0f\n", r, s }')
eimad_rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$EIMAD_PID/status")
median=$(printf '%s\n' "${lat[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
max=$(printf '%s\n' "${lat[@]}" | sort -n | tail -1)
# All K exit at once: how long until every one has its final evidence, and the longest
# the event loop was busy on one wakeup (eima status loop_longest_ms) over the whole run.
t_exit=$(ms)
for d in "$T"/alive-*/tmp; do touch "$d/go"; done
for _ in $(seq 1 1200); do
	[[ $(finals) -ge $((created + K)) ]] && break
	sleep 0.05
done
t_final=$(ms)
mass_final=$(($(finals) - created))
loop_ms=$("$BIN/eima" status --run-dir "$RUN" --json | jq '.loop_longest_ms | floor')
stop_eimad
base2=$(start_loop) # no eimad again
base=$(awk -v a="$base1" -v b="$base2" 'BEGIN { printf "%.1f", (a + b) / 2 }')

echo "## vTPM per container (trace mode, $(nproc) CPUs, $(date -u +%F))"
echo
echo "Command: \`bench/vtpm_cost.sh\` (N=$N sequential containers, K=$K alive at once)."
echo
echo "| case | containers/s | vs no eimad |"
echo "|---|---|---|"
echo "| no eimad (mean of before/after: $base1, $base2) | $base | 1.00 |"
echo "| eimad --vtpm none | $none | $(ratio "$none" "$base") |"
echo "| eimad --vtpm swtpm (default) | $vtpm | $(ratio "$vtpm" "$base") |"
echo
echo "With --vtpm swtpm, $created of $N containers got a vTPM, a binding entry and final evidence;"
echo "the last vTPM was stopped $(awk -v a="$t_done" -v b="$t_exited" 'BEGIN { printf "%.1f", (a - b) / 1000 }') s after the last container exited"
echo "($(awk -v n="$N" -v a="$t_done" -v b="$t_loop" 'BEGIN { printf "%.1f", n * 1000 / (a - b) }') containers/s end to end, vTPM lifecycle included)."
echo
echo "| with $K containers alive | value |"
echo "|---|---|"
echo "| swtpm instances | $count |"
echo "| RSS per swtpm | $(awk -v a="$rss" -v n="$count" 'BEGIN { printf "%.1f MiB", a / n / 1024 }') |"
echo "| PSS per swtpm (shared pages split) | $(awk -v a="$pss" -v n="$count" 'BEGIN { printf "%.1f MiB", a / n / 1024 }') |"
echo "| eimad RSS | $(awk -v a="$eimad_rss" 'BEGIN { printf "%.1f MiB", a / 1024 }') |"
echo "| container start to vTPM bound, median / max | $median ms / $max ms |"
echo "| all $K exit at once: until all $mass_final have final evidence | $(awk -v a="$t_final" -v b="$t_exit" 'BEGIN { printf "%.2f s", (a - b) / 1000 }') |"
echo "| longest event-loop wakeup over the whole run (eima status loop_longest_ms) | $loop_ms ms |"
