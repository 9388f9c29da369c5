#!/usr/bin/env bash
# Exec overhead of fanotify enforcement on this host, against baselines in the same run:
# no eimad; eimad measuring only (trace mode); eimad measuring + enforcing with fanotify
# (warm: the program was verified once and is cached by an ignore mark; cold: each exec is
# of a distinct blessed copy, so each is verified: hash + signature in user space).
# The programs live on a tmpfs the script mounts and marks; nothing else is marked.
# Workload pinned to CPU 0, eimad to CPU 1 (a verdict crosses CPUs, as on a real host).
# Not a CI test. Root. Prints Markdown.
#   bench/fanotify_exec.sh [BUILD_DIR]      (EIMA_BENCH_EXECS, EIMA_BENCH_COLD)
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
BIN=$build/bin
N=${EIMA_BENCH_EXECS:-4000}
COLD=${EIMA_BENCH_COLD:-300}
source "$here/tests/e2e/lib.sh"
T=$(mktemp -d /var/tmp/eima-fanotify-bench.XXXXXX)
M=$T/mnt
RUN=$T/run
EIMAD_PID=
cleanup() {
	trap - EXIT TERM INT
	stop_eimad >/dev/null 2>&1
	mountpoint -q "$M" && umount -l "$M"
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' TERM INT
mkdir -p "$M" "$RUN"
mount -t tmpfs -o size=512m eima-fanotify-bench "$M" || exit 1

openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=eima-bench \
	-keyout "$T/key.pem" -out "$T/cert.pem" 2>/dev/null
cp -L /usr/bin/true "$M/true"
mkdir -p "$M/cold"
for i in $(seq 1 "$COLD"); do cp "$M/true" "$M/cold/t$i"; printf '%s' "$i" >>"$M/cold/t$i"; done
sbom_of "$M" "$M/true" "$M"/cold/t* >"$T/sbom.json"
"$BIN/eima" bless --sbom "$T/sbom.json" --root "$M" --key "$T/key.pem" --cert "$T/cert.pem" >/dev/null || exit 1

# The machine is shared: each figure is the best of 5 batches of N/5 (the least disturbed
# one), not a mean over whatever else ran.
execs() { timeout -s KILL 300 taskset -c 0 "$BIN/eima-bench-exec" "$@"; }
best() { # best N PROGRAM...: lowest µs/exec of 5 batches of N/5
	local n=$(($1 / 5)) b; shift
	for _ in 1 2 3 4 5; do execs "$n" "$@"; done | sort -g | head -1
}
eimad_on_cpu1() { # eimad_on_cpu1 LOG ARGS...
	EIMAD_WRAP="timeout -s KILL 600 taskset -c 1" start_eimad "$RUN" "$@" --mode trace \
		--tpm none --vtpm none --fresh
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
added() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.1f", a - b }'; }

execs $((N / 10)) "$M/true" >/dev/null
base1=$(best "$N" "$M/true")
base_cold=$(execs "$COLD" "$M"/cold/t*)
eimad_on_cpu1 "$T/trace.log" || exit 1
execs $((N / 10)) "$M/true" >/dev/null
trace=$(best "$N" "$M/true")
stop_eimad
eimad_on_cpu1 "$T/fan.log" --enforce-fanotify "$M" --trusted-cert "$T/cert.pem" || exit 1
fan_cold=$(execs "$COLD" "$M"/cold/t*)
execs $((N / 10)) "$M/true" >/dev/null
fan=$(best "$N" "$M/true")
status=$("$BIN/eima" status --run-dir "$RUN" --json)
stop_eimad
base2=$(best "$N" "$M/true")
base=$(printf '%s\n' "$base1" "$base2" | sort -g | head -1)

echo "## Fanotify enforcement: exec overhead (fork + execve + wait of /usr/bin/true from a marked tmpfs)"
echo
echo "- date: $(date -u +%F), kernel $(uname -r), $(nproc) CPUs; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- command: \`bench/fanotify_exec.sh\` (N=$N warm execs as 5 batches, best batch; $COLD cold files); workload on CPU 0, eimad on CPU 1"
echo "- eimad counters: $(python3 -c 'import json,sys; e=json.loads(sys.argv[1])["enforcement"]; print(e["allowed"], "allowed,", e["denied"], "denied,", e["cached"], "cached,", e["timeouts"], "timeouts")' "$status")"
echo
echo "| case | µs/exec | vs no eimad | added µs |"
echo "|---|---|---|---|"
echo "| no eimad (best of before $base1 and after $base2) | $base | 1 | 0 |"
echo "| eimad trace (measuring only) | $trace | $(ratio "$trace" "$base") | $(added "$trace" "$base") |"
echo "| eimad trace + fanotify enforce, warm (cached) | $fan | $(ratio "$fan" "$base") | $(added "$fan" "$base") |"
echo "| eimad trace + fanotify enforce, cold (verify each: hash + signature) | $fan_cold | $(ratio "$fan_cold" "$base_cold") vs $base_cold | $(added "$fan_cold" "$base_cold") |"
