#!/usr/bin/env bash
# eimad's CPU per measured file in trace mode (eimad opens and hashes each file itself)
# against lsm mode with in-kernel hashing (the hook hashes with bpf_ima_file_hash, the event
# carries the digest, eimad only logs it), in the same test VM guest. One process maps
# FILES distinct files PROT_EXEC (eima-bench-mmap), once with no eimad, then once per mode
# against a fresh eimad --tpm none; each mode maps files of its own, never seen before.
# eimad's CPU is utime + stime of all its threads (/proc/PID/stat), so it is its cost on one
# core whatever else runs. Emulated (QEMU TCG): the ratio between the modes is what carries
# over to a native core, not the absolute rates.
#   bench/event_cost_lsm.sh [BUILD_DIR]          (root; EIMA_BENCH_FILES, default 20000)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
FILES=${EIMA_BENCH_FILES:-20000}

if [[ ${EIMA_VM:-} != 1 ]]; then
	load=$(cut -d' ' -f1-3 /proc/loadavg)
	out=$(mktemp)
	trap 'rm -f "$out"' EXIT
	"$here/tests/vm/vmrun" --bind "$here" --bind "$build" --modules loop,ext4 --timeout 1200 \
		-- env EIMA_BENCH_FILES="$FILES" bash "$here/bench/event_cost_lsm.sh" "$build" |
		tee "$out" >&2
	echo "## eimad's CPU per event: trace mode against lsm mode with in-kernel hashing"
	echo
	echo "- date: $(date -u +%F); guest: test VM (QEMU TCG, $(awk '$1 == "kernel" { print $2 }' "$out")),"
	echo "  host: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)),"
	echo "  host load average before: $load"
	echo "- command: \`bench/event_cost_lsm.sh\` ($FILES distinct 4 KiB files mapped PROT_EXEC by one process, eimad --tpm none --vtpm none)"
	echo
	echo "| case | files mapped | producer µs/file | events taken by eimad | lost (violations) | eimad CPU s | events per eimad CPU-second | eimad µs/event |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|"
	awk '$1 == "row" {
		name = $2 == "none" ? "no eimad" : $2 == "trace" ? "eimad --mode trace (eimad hashes)" : "eimad --mode lsm (the hook hashes)"
		if ($2 == "none")
			printf "| %s | %d | %.1f | - | - | - | - | - |\n", name, $3, $4
		else
			printf "| %s | %d | %.1f | %d | %d | %.2f | %.0f | %.1f |\n", name, $3, $4, $5, $6, $7, $5 / $7, $7 * 1e6 / $5
	}' "$out"
	awk '$1 == "row" && $2 == "trace" { t = $5 / $7 } $1 == "row" && $2 == "lsm" { l = $5 / $7 }
		END { if (t > 0 && l > 0) printf "\nlsm mode takes %.2f× the events per eimad CPU-second that trace mode takes\n", l / t }' "$out"
	exit 0
fi

# In the guest.
BIN=$build/bin
source "$here/tests/e2e/lib.sh"
T=$(mktemp -d /tmp/eima-eventbench.XXXXXX)
trap 'stop_eimad >/dev/null 2>&1 || true; umount "$T/mnt" 2>/dev/null; rm -rf "$T"' EXIT
echo "kernel $(uname -r)"
# ext4, not the guest's tmpfs: the files are measured as a host's files are.
truncate -s $((FILES * 3 * 4 / 1024 + 64))M "$T/img"
mkfs.ext4 -q -F -N $((FILES * 3 + 1024)) "$T/img"
mkdir "$T/mnt"
mount -o loop "$T/img" "$T/mnt"
for set in none trace lsm; do
	mkdir "$T/mnt/$set"
	(cd "$T/mnt/$set" && seq 1 "$FILES" | awk -v s="$set" '{ f = "f" $1; print s, $1 > f; close(f) }')
done
sync
hz=$(getconf CLK_TCK)

# No process substitution: the test VM has no /dev/fd.
storm() { "$BIN/eima-bench-mmap" "$1" > "$T/storm.out"; read -r mapped secs < "$T/storm.out"; }
storm "$T/mnt/none"
echo "row none $mapped $(awk -v s="$secs" -v m="$mapped" 'BEGIN { print s * 1e6 / m }')"
for mode in trace lsm; do
	rm -rf "$T/run"
	start_eimad "$T/run" "$T/eimad-$mode.log" --mode "$mode" --tpm none --vtpm none >/dev/null
	"$BIN/eima" status --run-dir "$T/run" | grep -E '^(mode|digests|kernel):' >&2 || true
	cpu0=$(awk '{ print $14 + $15 }' "/proc/$EIMAD_PID/stat")
	storm "$T/mnt/$mode"
	settle "$T/run"
	cpu1=$(awk '{ print $14 + $15 }' "/proc/$EIMAD_PID/stat")
	"$BIN/eima" status --run-dir "$T/run" --json > "$T/status.json"
	events=$(grep -o '"events": [0-9]*' "$T/status.json" | head -1 | grep -o '[0-9]*$')
	dropped=$(grep -o '"dropped": [0-9]*' "$T/status.json" | head -1 | grep -o '[0-9]*$')
	measured=$(grep -c " $T/mnt/$mode/f" "$T/run/host/ascii_runtime_measurements" || true)
	echo "  $mode: $measured of the files in the host list" >&2
	stop_eimad >/dev/null
	echo "row $mode $mapped $(awk -v s="$secs" -v m="$mapped" 'BEGIN { print s * 1e6 / m }') $events ${dropped:-0} $(awk -v c=$((cpu1 - cpu0)) -v hz="$hz" 'BEGIN { print c / hz }')"
done
