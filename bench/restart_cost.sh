#!/usr/bin/env bash
# Restart cost: how long a restarted eimad takes from its start to its first new
# measurement when its host list already holds FILES entries (resumed: parsed, the ascii
# list rewritten, replayed against the swtpm's PCRs), against a --fresh start in the same
# run; then the same with the entries in a running container's list (resumed with its
# vTPM, whose PCRs are read and replayed against that list). Trace mode on this host.
#   bench/restart_cost.sh [BUILD_DIR]      (root; EIMA_BENCH_FILES, default 100000)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$here/build}" && pwd) # absolute: used inside the container too
BIN=$build/bin
FILES=${EIMA_BENCH_FILES:-100000}
source "$here/tests/e2e/lib.sh"
T=$(mktemp -d /var/tmp/eima-restart-bench.XXXXXX)
RUN=$T/run
CPID=
cleanup() {
	[[ -n $CPID ]] && touch "$T/rootfs/tmp/go" && wait "$CPID" 2>/dev/null
	stop_eimad >/dev/null 2>&1 || true
	for p in "$RUN"/tpm/swtpm.pid "$RUN"/containers/*/vtpm/swtpm.pid; do
		[[ -f $p ]] && kill "$(cat "$p")" 2>/dev/null || true # gone already after a clean stop
	done
	rm -rf "$T"
}
trap cleanup EXIT
mkdir -p "$T/many"
(cd "$T/many" && seq 1 "$FILES" | awk '{ f = "f" $1; print > f; close(f) }')
cp -L /usr/bin/true "$T/true"

n=0
IN=()      # the command prefix a probe runs under (nsenter into the container)
VTPM=none
# start_to_first ARGS...: seconds from starting eimad to a new exec being in its list, in
# $secs (not printed: eimad must stay this shell's child)
start_to_first() {
	n=$((n + 1))
	cp "$T/true" "$T/probe$n"; printf '%s' "$n" >> "$T/probe$n"
	local t0 t1
	t0=$(date +%s%N)
	start_eimad "$RUN" "$T/eimad.$n.log" --mode trace --tpm swtpm --vtpm "$VTPM" "$@" >/dev/null
	"${IN[@]}" "$T/probe$n"
	until grep -q "[ :]$T/probe$n\$" "$RUN/host/ascii_runtime_measurements" 2>/dev/null; do
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

# The same entries in a running container's list, with its vTPM. The container chroots,
# so its mount namespace still has the host's mounts: a process nsentered into it alone
# reaches $T/many and counts as the container's.
VTPM=swtpm
start_to_first --fresh
make_rootfs "$T/rootfs"
"$BIN/eima-test-container" --chroot "$T/rootfs" -- /bin/sh -c \
	'touch /tmp/ready; while [ ! -e /tmp/go ]; do sleep 0.05 || exit 1; done' &
CPID=$!
until [[ -e $T/rootfs/tmp/ready ]]; do sleep 0.05; done
IN=(nsenter -t "$(pgrep -P "$CPID" | head -1)" -m)
"${IN[@]}" "$BIN/eima-bench-mmap" "$T/many" >/dev/null
settle "$RUN"
cdir=$("$BIN/eima" ps --run-dir "$RUN" --json | python3 -c 'import json,sys
print(next(c["log"] for c in json.load(sys.stdin)["containers"] if c["state"] == "running"))')
centries=$(wc -l < "$cdir/ascii_runtime_measurements")
kill -KILL "$EIMAD_PID"; wait "$EIMAD_PID" 2>/dev/null || true; EIMAD_PID=
start_to_first; ckilled=$secs
cstate=$("$BIN/eima" ps --run-dir "$RUN" --json | python3 -c 'import json,sys
for c in json.load(sys.stdin)["containers"]:
    if c["state"] == "running": print(c["resumed"], "|", c["vtpm"].get("resumed", c["vtpm"]["state"]))')
stop_eimad
start_to_first; cclean=$secs
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
awk -v e="$centries" -v s="$ckilled" -v f="$fresh" 'BEGIN { printf "| after kill -9, a running container with | %d entries (and its vTPM) | %s | %.2f |\n", e, s, s / f }'
awk -v e="$centries" -v s="$cclean" -v f="$fresh" 'BEGIN { printf "| after a clean stop, the same container | %d entries | %s | %.2f |\n", e, s, s / f }'
echo
echo "- clean stop: $clean_state"
echo "- kill -9: $killed_state"
echo "- the container after kill -9: $cstate"
