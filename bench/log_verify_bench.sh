#!/usr/bin/env bash
# Times `eima log verify` against `evmctl ima_measurement` on the same synthetic binary list
# and the same PCR files, in the same run. Prints a Markdown table.
#   bench/log_verify_bench.sh [BUILD_DIR]      (EIMA_BENCH_LOG_ENTRIES sets N, default 1e6)
# Needs BUILD_DIR/bin/eima and eima-bench-make-ima-log; evmctl from ima-evm-utils. Uses
# hyperfine when installed (3 runs after a warm-up), else the best of 3 `date +%s.%N` runs.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
BIN=$build/bin
N=${EIMA_BENCH_LOG_ENTRIES:-1000000}
T=$(mktemp -d /var/tmp/eima-logbench.XXXXXX)
trap 'rm -rf "$T"' EXIT

"$BIN/eima-bench-make-ima-log" "$N" "$T/log" "$T/sha1" "$T/sha256"
eima_cmd="$BIN/eima log verify $T/log --pcrs sha1,$T/sha1 --pcrs sha256,$T/sha256"
evm_cmd="evmctl ima_measurement --pcrs sha1,$T/sha1 --pcrs sha256,$T/sha256 $T/log"
# Both must accept the list before their times mean anything.
$eima_cmd >/dev/null || { echo "eima log verify rejected the list" >&2; exit 1; }
$evm_cmd >/dev/null 2>&1 || { echo "evmctl rejected the list" >&2; exit 1; }

seconds() { # mean (hyperfine) or best wall time of a command
	if command -v hyperfine >/dev/null; then
		hyperfine -N --warmup 1 --runs 3 --export-json "$T/h.json" "$1" >/dev/null 2>&1
		python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["mean"])' "$T/h.json"
	else
		local best=
		for _ in 1 2 3; do
			local a b
			a=$(date +%s.%N); $1 >/dev/null 2>&1; b=$(date +%s.%N)
			best=$(awk -v a="$a" -v b="$b" -v best="$best" 'BEGIN { d = b - a; print (best == "" || d < best) ? d : best }')
		done
		echo "$best"
	fi
}
eima_s=$(seconds "$eima_cmd")
evm_s=$(seconds "$evm_cmd")
rate() { awk -v n="$N" -v s="$1" 'BEGIN { printf "%.0f", n / s }'; }

echo "## Measurement list verification ($N ima-ng entries, sha1 + sha256 banks)"
echo
echo "- date: $(date -u +%F), kernel $(uname -r), $(nproc) CPUs, list $(du -h "$T/log" | cut -f1); timer: $(command -v hyperfine >/dev/null && echo 'hyperfine (mean of 3)' || echo 'best of 3')"
echo
echo "| verifier | seconds | entries/s |"
echo "|---|---:|---:|"
printf '| eima log verify | %.3f | %s |\n' "$eima_s" "$(rate "$eima_s")"
printf '| evmctl ima_measurement | %.3f | %s |\n' "$evm_s" "$(rate "$evm_s")"
echo
awk -v a="$evm_s" -v b="$eima_s" 'BEGIN { printf "eima is %.2fx evmctl\n", a / b }'
