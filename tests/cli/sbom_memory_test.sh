#!/usr/bin/env bash
# A ~100 MB SBOM of each encoding parses in bounded memory: the peak RSS of `eima sbom
# inspect` (and of `eima sbom files --json`, which streams its output) on 100 MB is within
# LIMIT_KB of its peak on 1 MB. A reader that built a DOM or kept the files would grow by
# hundreds of MB. The counts must be right too (the generator says how many files it wrote).
BIN=$1
source "$(dirname "$0")/../e2e/lib.sh"
[[ -x /usr/bin/time ]] || skip_test "no /usr/bin/time (Debian package time)"
GEN=$(dirname "$0")/sbom_gen.py
LIMIT_KB=8192
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

peak_kb() { # peak_kb OUT cmd...: runs cmd with stdout to OUT, prints its max RSS in KiB
	local out=$1; shift
	/usr/bin/time -f %M -o "$work/rss" "$@" >"$out" 2>"$work/err" || { cat "$work/err" >&2; echo -1; return; }
	cat "$work/rss"
}

for kind in spdx-json cyclonedx tag-value; do
	small_n=$(python3 "$GEN" $kind 1 "$work/small")
	big_n=$(python3 "$GEN" $kind 100 "$work/big")
	small=$(peak_kb "$work/small.json" "$BIN/eima" sbom inspect --json "$work/small")
	big=$(peak_kb "$work/big.json" "$BIN/eima" sbom inspect --json "$work/big")
	echo "$kind: $(du -m "$work/big" | cut -f1) MB, $big_n files: peak RSS ${big} KiB (1 MB: ${small} KiB)"
	check "$kind: inspect of 100 MB stays within ${LIMIT_KB} KiB of 1 MB's peak" \
		test "$big" -ge 0 -a $((big - small)) -le $LIMIT_KB
	check_eq "$kind: every file counted" "$big_n" \
		"$(python3 -c 'import json,sys; print(json.load(sys.stdin)["files"])' <"$work/big.json")"
	check_eq "$kind: every 10th file's all-zero SHA-1 counted as a placeholder" \
		"$(( (big_n + 9) / 10 ))" \
		"$(python3 -c 'import json,sys; print(json.load(sys.stdin)["placeholder_digests"])' <"$work/big.json")"
	check_eq "$kind: every file has a real sha256" "{\"sha256\": $big_n}" \
		"$(python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["file_digests"]))' <"$work/big.json")"
	files=$(peak_kb "$work/files.json" "$BIN/eima" sbom files --json "$work/big")
	echo "$kind: sbom files --json: peak RSS ${files} KiB"
	check "$kind: files --json of 100 MB stays within ${LIMIT_KB} KiB of inspect's 1 MB peak" \
		test "$files" -ge 0 -a $((files - small)) -le $LIMIT_KB
	# One entry per line (not loaded whole: that would take more memory than the test allows).
	check_eq "$kind: files --json lists every file" "$big_n" "$(grep -c '^  {' "$work/files.json")"
	check "$kind: files --json ends the array" test "$(tail -c 2 "$work/files.json")" = "]"
	rm -f "$work/big" "$work/files.json"
done
finish
