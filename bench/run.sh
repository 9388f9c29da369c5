#!/usr/bin/env bash
# Benchmarks of eima against baselines measured in the same run, in trace mode on this
# host (the LSM mode's in-kernel cost is measured in the VM by bench/lsm_hook_cost.sh).
# Prints a Markdown report; BENCHMARKS.md holds the latest one.
#   bench/run.sh [BUILD_DIR]          (root; EIMA_BENCH_EXECS sets the exec count)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
BIN=$build/bin
N=${EIMA_BENCH_EXECS:-4000}
COLD=${EIMA_BENCH_COLD:-400}
FILES=${EIMA_BENCH_FILES:-100000}
# EIMA_BENCH_SECTIONS: which parts run (default all): exec events hash
SECTIONS=${EIMA_BENCH_SECTIONS:-exec events hash}
source "$here/tests/e2e/lib.sh"
T=$(mktemp -d /var/tmp/eima-bench.XXXXXX)
RUN=$T/run
cleanup() { stop_eimad >/dev/null 2>&1 || true; sysctl -qw kernel.bpf_stats_enabled=0 || true; rm -rf "$T"; }
trap cleanup EXIT

cp -L /usr/bin/true "$T/true"
make_cold() { mkdir -p "$1"; for i in $(seq 1 "$COLD"); do cp "$T/true" "$1/t$i"; printf '%s' "$i$1" >> "$1/t$i"; done; }
execs() { "$BIN/eima-bench-exec" "$@"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.1f %%", (a / b - 1) * 100 }'; }

echo "# eima benchmarks"
echo
echo "- date: $(date -u +%F), kernel $(uname -r), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))"
echo "- load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- command: \`bench/run.sh\` (N=$N warm execs, $COLD cold files, $FILES mapped files); eimad --mode trace --tpm swtpm (and --tpm none for events); sections: $SECTIONS; nothing pinned"
echo

if [[ " $SECTIONS " == *" exec "* ]]; then
make_cold "$T/cold-base"; make_cold "$T/cold-eima"
# Exec overhead: baseline, eimad, baseline again (the mean of both baselines).
execs $((N / 10)) "$T/true" >/dev/null
base1=$(execs "$N" "$T/true")
base_cold=$(execs "$COLD" "$T"/cold-base/t*)
start_eimad "$RUN" "$T/eimad.log" --mode trace --tpm swtpm >/dev/null
execs $((N / 10)) "$T/true" >/dev/null
sysctl -qw kernel.bpf_stats_enabled=1
warm=$(execs "$N" "$T/true")
stats=$(bpftool prog show 2>/dev/null | awk '/name eima_/ { name=$4; for (i=1;i<=NF;i++) { if ($i=="run_time_ns") t=$(i+1); if ($i=="run_cnt") c=$(i+1) } if (c > 0) printf "%s %d %.0f\n", name, c, t / c }')
sysctl -qw kernel.bpf_stats_enabled=0
cold=$(execs "$COLD" "$T"/cold-eima/t*)
settle "$RUN"
stop_eimad
base2=$(execs "$N" "$T/true")
base=$(awk -v a="$base1" -v b="$base2" 'BEGIN { printf "%.2f", (a + b) / 2 }')

echo "## Exec overhead (fork + execve + wait, trace mode)"
echo
echo "| case | µs/exec | vs no eimad |"
echo "|---|---|---|"
echo "| no eimad (mean of before/after: $base1, $base2) | $base | 1.000 |"
echo "| eimad, warm (file already measured) | $warm | $(ratio "$warm" "$base") ($(pct "$warm" "$base")) |"
echo "| no eimad, cold (distinct new files) | $base_cold | 1.000 |"
echo "| eimad, cold (each exec measured, hashed, logged, TPM-extended) | $cold | $(ratio "$cold" "$base_cold") ($(pct "$cold" "$base_cold")) |"
echo
echo "In-kernel cost per program run (kernel.bpf_stats_enabled, warm loop):"
echo
echo "| program | runs | ns/run |"
echo "|---|---|---|"
while read -r name cnt ns; do echo "| $name | $cnt | $ns |"; done <<<"$stats"
echo
fi

# Event throughput: one core maps FILES distinct files PROT_EXEC as fast as it can, with the
# host TPM a swtpm and with none (then the TPM is not the limit).
mkdir -p "$T/many"
( cd "$T/many" && seq 1 "$FILES" | awk '{ f = "f" $1; print > f; close(f) }' ) || \
	for i in $(seq 1 "$FILES"); do echo "$i" > "$T/many/f$i"; done
rss() { awk -v k="$1" '$1 == k":" { print int($2 / 1024) }' "/proc/$EIMAD_PID/status"; }
# smaps_rss: eimad's resident memory by mapping, MiB: the BPF ring buffer (its data pages
# are mapped twice by libbpf, so they count twice in RSS), other BPF maps, heap and
# anonymous memory, files (the binary and libraries)
smaps_rss() {
	awk '/^[0-9a-f]+-[0-9a-f]+ / { name = $6 } $1 == "Rss:" {
		if (name ~ /bpf/) bpf += $2; else if (name == "" || name == "[heap]" || name ~ /^\[anon/) anon += $2;
		else if (name ~ /^\//) file += $2; else other += $2 }
		END { printf "%d %d %d %d\n", bpf / 1024, anon / 1024, file / 1024, other / 1024 }' "/proc/$EIMAD_PID/smaps"
}
storm() { # storm TPM: one 100 k-file burst against a fresh eimad --tpm TPM
	local tpm=$1
	rm -rf "$RUN"
	start_eimad "$RUN" "$T/eimad.log" --mode trace --tpm "$tpm" >/dev/null
	local rss0 anon0 t0 t1 mapped secs events dropped rss1 anon1 shm1 bpf anon file other
	rss0=$(rss VmRSS) anon0=$(rss RssAnon)
	# eimad's own CPU time (all threads, clock ticks): events per CPU-second is its rate on
	# one core, whatever else the machine runs.
	local hz cpu0 cpu1
	hz=$(getconf CLK_TCK)
	cpu0=$(awk '{ print $14 + $15 }' "/proc/$EIMAD_PID/stat")
	t0=$(date +%s.%N)
	read -r mapped secs < <("$BIN/eima-bench-mmap" "$T/many")
	settle "$RUN"
	t1=$(date +%s.%N)
	cpu1=$(awk '{ print $14 + $15 }' "/proc/$EIMAD_PID/stat")
	"$BIN/eima" status --run-dir "$RUN" --json > "$T/status.json"
	events=$(grep -o '"events": [0-9]*' "$T/status.json" | head -1 | grep -o '[0-9]*$')
	dropped=$(grep -o '"dropped": [0-9]*' "$T/status.json" | head -1 | grep -o '[0-9]*$')
	rss1=$(rss VmRSS) anon1=$(rss RssAnon) shm1=$(( $(rss RssShmem) + $(rss RssFile) ))
	read -r bpf anon file other < <(smaps_rss)
	stop_eimad
	echo "## Events (MMAP_CHECK of $FILES distinct files from one process), --tpm $tpm"
	echo
	echo "| measure | value |"
	echo "|---|---|"
	echo "| files mapped | $mapped in $(printf '%.2f' "$secs") s ($(awk -v m="$mapped" -v s="$secs" 'BEGIN { printf "%.0f", m / s }')/s offered) |"
	echo "| events taken by eimad (hashed, logged$([[ $tpm == none ]] || echo ', extended')) | $events |"
	echo "| events lost to a full ring buffer (logged as violations) | $dropped |"
	echo "| end to end, until the last one is in the lists | $(awk -v a="$t0" -v b="$t1" -v e="$events" 'BEGIN { printf "%.2f s, %.0f events/s", b - a, e / (b - a) }') |"
	echo "| eimad CPU time (all threads), events per CPU-second | $(awk -v c=$((cpu1 - cpu0)) -v hz="$hz" -v e="$events" 'BEGIN { printf "%.2f s, %.0f events/s", c / hz, e / (c / hz) }') |"
	echo "| eimad RSS: idle → after $events measured files | $rss0 MiB → $rss1 MiB |"
	echo "| of which eimad's heap (RssAnon) | $anon0 MiB → $anon1 MiB |"
	echo "| of which mapped (RssShmem + RssFile: ring buffer pages, libraries) | $shm1 MiB |"
	echo "| by mapping (smaps): BPF maps (ring buffer data counted twice) / heap and anonymous / files / other | $bpf / $anon / $file / $other MiB |"
	echo
}
if [[ " $SECTIONS " == *" events "* ]]; then
	storm swtpm
	storm none
fi

if [[ " $SECTIONS " == *" hash "* ]]; then
# Hashing throughput against OpenSSL's own.
head -c $((256 << 20)) /dev/urandom > "$T/blob"
ours=$("$BIN/eima-bench-hash" "$T/blob" sha256 5)
ossl=$(openssl speed -evp sha256 -bytes 262144 -seconds 3 2>/dev/null | awk '/^sha256/ { v=$NF; sub(/k$/, "", v); printf "%.1f", v * 1000 / 1e6 }')
echo "## Hashing (256 MiB file in the page cache, SHA-256)"
echo
echo "| | MB/s |"
echo "|---|---|"
echo "| openssl speed -evp sha256 -bytes 262144 | $ossl |"
echo "| eima (ima::hash_file) | $ours ($(ratio "$ours" "$ossl") of openssl) |"
fi
