#!/usr/bin/env bash
# Prefixes each line of stdin with the seconds since the first read, to see where a test's
# time goes: `cd build && ctest -R kernel.restart -V | ../scripts/stamp.sh`. With
# --sections, also prints after each "== ..." section header of the e2e and kernel test
# scripts how long the section before it took, and a sorted summary at the end.
set -uo pipefail
sections=0
[[ ${1:-} == --sections ]] && sections=1
start=${EPOCHREALTIME/./}
last_t=0 last_name=''
summary=()
close_section() { # t: ends the open section at t (microseconds since start)
	[[ -n $last_name ]] || return 0
	local d=$(($1 - last_t))
	summary+=("$(printf '%7d.%d s  %s' $((d / 1000000)) $((d % 1000000 / 100000)) "$last_name")")
}
while IFS= read -r line; do
	now=$((${EPOCHREALTIME/./} - start))
	printf '[%5d.%d] %s\n' $((now / 1000000)) $((now % 1000000 / 100000)) "$line"
	if ((sections)) && [[ $line =~ ==\ (.*)$ ]]; then
		close_section "$now"
		last_t=$now last_name=${BASH_REMATCH[1]:0:90}
	fi
done
if ((sections)); then
	close_section "$((${EPOCHREALTIME/./} - start))"
	echo "sections, longest first:"
	printf '%s\n' "${summary[@]}" | sort -rn
fi
