#!/usr/bin/env bash
# Cold exec (each file new, so it is hashed in the exec path) in lsm mode with in-kernel
# hashing, against kernel IMA measuring the same files (ima_policy=tcb), in the same test VM
# kernel. Two boots: one with no IMA policy (no eimad, then eimad --mode lsm), one with
# ima_policy=tcb (kernel IMA alone). Files live on an ext4 loop mount in the guest (the tcb
# policy does not measure tmpfs). Emulated (QEMU TCG): compare ratios, not nanoseconds.
#   bench/cold_exec_lsm.sh [BUILD_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
N=${EIMA_BENCH_COLD:-200}
SIZE_KB=${EIMA_BENCH_FILE_KB:-512}

if [[ ${EIMA_VM:-} != 1 ]]; then
	vm() { "$here/tests/vm/vmrun" --bind "$here" --bind "$build" --modules loop,ext4 --timeout 900 "$@"; }
	out=$(mktemp)
	trap 'rm -f "$out"' EXIT
	vm -- env EIMA_BENCH_ROLE=eima EIMA_BENCH_COLD="$N" EIMA_BENCH_FILE_KB="$SIZE_KB" \
		bash "$here/bench/cold_exec_lsm.sh" "$build" | tee -a "$out"
	vm --append ima_policy=tcb -- env EIMA_BENCH_ROLE=ima EIMA_BENCH_COLD="$N" \
		EIMA_BENCH_FILE_KB="$SIZE_KB" bash "$here/bench/cold_exec_lsm.sh" "$build" | tee -a "$out"
	base=$(awk '$1 == "none" { print $2 }' "$out")
	eima=$(awk '$1 == "eima" { print $2 }' "$out")
	ima=$(awk '$1 == "ima" { print $2 }' "$out")
	echo
	echo "## Cold exec, $N distinct ${SIZE_KB} KiB executables (test VM: QEMU TCG, Debian 6.12 cloud)"
	echo
	echo "| case | µs/exec | vs no measurement | added µs/exec |"
	echo "|---|---|---|---|"
	for c in none eima ima; do
		v=${!c:-$base}
		[[ $c == none ]] && v=$base
		[[ $c == eima ]] && v=$eima
		[[ $c == ima ]] && v=$ima
		awk -v c="$c" -v v="$v" -v b="$base" 'BEGIN {
			name = c == "none" ? "no measurement" : c == "eima" ? "eimad --mode lsm (bpf_ima_file_hash in the hook)" : "kernel IMA (ima_policy=tcb)"
			printf "| %s | %.0f | %.3f | %.0f |\n", name, v, v / b, v - b }'
	done
	awk -v e="$eima" -v i="$ima" -v b="$base" 'BEGIN {
		printf "\neima adds %.2f× what kernel IMA adds to a cold exec\n", (e - b) / (i - b) }'
	exit 0
fi

# In the guest.
BIN=$build/bin
source "$here/tests/e2e/lib.sh"
T=$(mktemp -d /tmp/eima-coldbench.XXXXXX)
trap 'stop_eimad >/dev/null 2>&1 || true; umount "$T/mnt" 2>/dev/null; rm -rf "$T"' EXIT
truncate -s $(((N * SIZE_KB + 65536) / 1024 + 64))M "$T/img"
mkfs.ext4 -q -F "$T/img"
mkdir "$T/mnt"
mount -o loop "$T/img" "$T/mnt"
make_cold() { # DIR: N distinct executables of SIZE_KB
	mkdir -p "$1"
	for i in $(seq 1 "$N"); do
		cp -L /usr/bin/true "$1/t$i"
		head -c "$((SIZE_KB * 1024))" /dev/urandom >> "$1/t$i"
	done
	sync
}
"$BIN/eima-bench-exec" 20 /usr/bin/true >/dev/null # warm the exec path and the libraries
if [[ $EIMA_BENCH_ROLE == eima ]]; then
	make_cold "$T/mnt/base"
	echo "none $("$BIN/eima-bench-exec" "$N" "$T"/mnt/base/t*)"
	start_eimad "$T/run" "$T/eimad.log" --mode lsm --tpm none --vtpm none >/dev/null
	"$BIN/eima" status --run-dir "$T/run" | grep '^digests:' >&2
	make_cold "$T/mnt/eima"
	echo "eima $("$BIN/eima-bench-exec" "$N" "$T"/mnt/eima/t*)"
	"$BIN/eima" status --run-dir "$T/run" | grep '^digests:' >&2
else
	make_cold "$T/mnt/ima"
	before=$(wc -l < /sys/kernel/security/ima/ascii_runtime_measurements)
	echo "ima $("$BIN/eima-bench-exec" "$N" "$T"/mnt/ima/t*)"
	after=$(wc -l < /sys/kernel/security/ima/ascii_runtime_measurements)
	echo "kernel IMA measured $((after - before)) new entries" >&2
fi
