#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/: clang-19, ASan + UBSan) into build-fuzz/ and runs
# them, one after the other.
#   bench/fuzz.sh [TARGET|all] [SECONDS]      (default: all, 60 s per target)
# A target starts from its seeds in fuzz/seeds/TARGET (read only, in the repository) and a
# working corpus build-fuzz/corpus/TARGET that grows from run to run. A crash, a leak or a
# UBSan report stops that target, leaves the input in build-fuzz/crashes/TARGET/ and makes
# the script exit 1 once every target has run. Per target it prints executions, edges
# covered (libFuzzer's cov), the corpus size and the seconds, and appends them to
# build-fuzz/fuzz-results.tsv (FUZZING.md's table comes from there).
# EIMA_FUZZ_BUILD_DIR sets the build directory, EIMA_FUZZ_JOBS the make jobs (default 2).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${EIMA_FUZZ_BUILD_DIR:-$here/build-fuzz}
which=${1:-all}
secs=${2:-60}
mapfile -t all < <(cd "$here/fuzz" && ls -- *_fuzz.cpp | sed 's/_fuzz\.cpp$//')
if [[ $which == all ]]; then
	targets=("${all[@]}")
else
	[[ -f $here/fuzz/${which}_fuzz.cpp ]] || { echo "no target $which (have: ${all[*]})" >&2; exit 2; }
	targets=("$which")
fi

if [[ ! -f $build/CMakeCache.txt ]]; then
	CC=clang-19 CXX=clang++-19 cmake -S "$here" -B "$build" -G "Unix Makefiles" \
		-DEIMA_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$build" -j"${EIMA_FUZZ_JOBS:-2}" --target "${targets[@]/#/fuzz_}" >/dev/null

failed=()
for t in "${targets[@]}"; do
	corpus=$build/corpus/$t
	crashes=$build/crashes/$t
	mkdir -p "$corpus" "$crashes"
	log=$build/fuzz-$t.log
	seeds=()
	[[ -d $here/fuzz/seeds/$t ]] && seeds=("$here/fuzz/seeds/$t")
	set +e
	"$build/bin/fuzz_$t" -max_total_time="$secs" -print_final_stats=1 -rss_limit_mb=2048 \
		-timeout=10 -max_len=65536 -artifact_prefix="$crashes/" "$corpus" "${seeds[@]}" \
		>"$log" 2>&1
	rc=$?
	set -e
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
	ft=$(grep -oE 'ft: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
	took=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
	files=$(find "$corpus" -type f | wc -l)
	verdict=ok
	if ((rc != 0)); then
		verdict="FAILED (exit $rc, see $log)"
		failed+=("$t")
		grep -m3 -E 'ERROR: |SUMMARY: |runtime error' "$log" | sed 's/^/    /' || true
		# Where it happened, in eima's code: enough for a CI log to name the bug.
		grep -m4 -E '^ +#[0-9]+ .* (/[^ ]*)?/(src|fuzz)/' "$log" | sed 's/^ */    /' | cut -c1-240 || true
	fi
	printf '%-16s %12s execs  cov %6s  ft %6s  corpus %5s  %4ss  %s\n' "$t" "${execs:-?}" \
		"${cov:-?}" "${ft:-?}" "$files" "${took:-$secs}" "$verdict"
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$t" "$secs" "${execs:-}" \
		"${cov:-}" "${ft:-}" "$files" "$verdict" >>"$build/fuzz-results.tsv"
done
if ((${#failed[@]})); then
	echo "fuzz: failed: ${failed[*]}"
	exit 1
fi
