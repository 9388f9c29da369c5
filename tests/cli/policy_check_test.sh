#!/usr/bin/env bash
# `eima policy check` on every IMA policy in ../shared/corpus: valid ones exit 0 with a
# JSON report; the invalid one exits 1 naming file:line and the token.
BIN=$1
CORPUS=$2
source "$(dirname "$0")/../e2e/lib.sh"
[[ -d $CORPUS ]] || skip_test "no corpus at $CORPUS"
for f in "$CORPUS"/*; do
	[[ $(basename "$f") == SOURCES.md ]] && continue
	out=$("$BIN/eima" policy check "$f" --json 2>&1); rc=$?
	if [[ $f == *invalid* ]]; then
		check_eq "$(basename "$f") is rejected" 1 "$rc"
		text=$("$BIN/eima" policy check "$f" 2>&1)
		check "$(basename "$f"): the error names file:line and the token" \
			grep -q "^$f:13: .*dnt_measure" <<<"$text"
	else
		check_eq "$(basename "$f") is valid" 0 "$rc"
	fi
	check "$(basename "$f"): JSON has rules, actions, funcs, unsupported, errors" \
		python3 -c 'import json,sys; j=json.loads(sys.stdin.read()); [j[k] for k in ("rules","actions","funcs","unsupported","errors")]' <<<"$out"
done
check_eq "a missing file is an error" 1 "$("$BIN/eima" policy check /nonexistent >/dev/null 2>&1; echo $?)"
finish
