#!/usr/bin/env bash
# `eima sbom inspect --json` and `eima sbom files --json` on every SBOM of the corpus: exit 0,
# the keys the issue names, one files entry per counted file; bad input exits 1 with the
# file and its place on stderr. Counts per file are checked by unit_sbom (corpus_test.cpp).
BIN=$1
CORPUS=$2
source "$(dirname "$0")/../e2e/lib.sh"
[[ -d $CORPUS/spdx && -d $CORPUS/cyclonedx ]] || skip_test "no SBOM corpus at $CORPUS"
n=0
for f in "$CORPUS"/spdx/* "$CORPUS"/cyclonedx/*; do
	[[ $(basename "$f") == SOURCES.md ]] && continue
	n=$((n + 1))
	b=$(basename "$f")
	out=$("$BIN/eima" sbom inspect --json "$f" 2>&1); rc=$?
	check_eq "$b: inspect exits 0" 0 "$rc"
	check "$b: the report has every key" python3 -c '
import json, sys
j = json.loads(sys.stdin.read())
for k in ("format", "encoding", "spec_version", "name", "packages", "components", "files",
          "file_digests", "files_without_digest", "placeholder_digests"):
    assert k in j, k
assert j["format"] in ("spdx", "cyclonedx") and j["encoding"] in ("json", "tag-value")
assert all(a == a.lower() for a in j["file_digests"])' <<<"$out"
	files=$("$BIN/eima" sbom files --json "$f")
	check_eq "$b: files --json has one entry per file" \
		"$(python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["files"])' <<<"$out")" \
		"$(python3 -c 'import json,sys; print(len(json.loads(sys.stdin.read())))' <<<"$files")"
	"$BIN/eima" sbom inspect "$f" >/dev/null
	check_eq "$b: text report exits 0" 0 $?
done
echo "corpus: $n SBOMs"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '{"spdxVersion": "SPDX-2.3", "files": [{"fileName": "a"' >"$work/truncated.json"
err=$("$BIN/eima" sbom inspect "$work/truncated.json" 2>&1); rc=$?
check_eq "a truncated SBOM exits 1" 1 "$rc"
check "its error names file:line:column and offset" grep -q "truncated.json:1:55 (offset 54)" <<<"$err"
printf 'hello\n' >"$work/prose"
err=$("$BIN/eima" sbom inspect "$work/prose" 2>&1); rc=$?
check_eq "text that is no SBOM exits 1" 1 "$rc"
check "its error names file:line" grep -q "prose:1: neither JSON nor SPDX tag-value" <<<"$err"
# 1 GiB of zeros (sparse): refused at its first byte, not read through.
truncate -s 1G "$work/zeros"
err=$(timeout 10 "$BIN/eima" sbom inspect "$work/zeros" 2>&1); rc=$?
check_eq "1 GiB of zeros exits 1 at once" 1 "$rc"
check "its error names the offset and the byte" grep -q "zeros:1: offset 0: neither JSON nor SPDX tag-value (byte 0x00)" <<<"$err"
# A JSON document whose name runs into a 1 GiB hole: refused at the first NUL.
printf '{"spdxVersion": "SPDX-2.3", "name": "' >"$work/hole.json"
truncate -s 1G "$work/hole.json"
err=$(timeout 10 "$BIN/eima" sbom inspect "$work/hole.json" 2>&1); rc=$?
check_eq "a 1 GiB document with a hole exits 1 at once" 1 "$rc"
check "its error names line, column and offset" grep -q "hole.json:1:38 (offset 37): .*control character" <<<"$err"
# A 64 MiB string is refused once it passes the token bound, in bounded memory.
{ printf '{"spdxVersion": "SPDX-2.3", "name": "'; head -c 64M /dev/zero | tr '\0' x; printf '"}'; } >"$work/long.json"
# Under ASan (scripts/sanitize.sh) its shadow memory is resident from the start (~70 MiB)
# and freed blocks wait in a quarantine: there the bound is on what the parse adds to a
# bare start, with the quarantine off. Elsewhere it is on the whole process.
base=0
if ldd "$BIN/eima" | grep -q libasan; then
	export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0
	/usr/bin/time -f %M -o "$work/rss0" "$BIN/eima" --version >/dev/null
	base=$(tail -1 "$work/rss0")
fi
/usr/bin/time -f %M -o "$work/rss" "$BIN/eima" sbom inspect "$work/long.json" 2>"$work/err"
check_eq "a 64 MiB name exits 1" 1 $?
check "its error names the token's offset" grep -q "long.json: offset 37: a token longer than 4 MiB" "$work/err"
rss=$(($(tail -1 "$work/rss") - base))
echo "64 MiB name: peak RSS $rss KiB (over a bare start: $base KiB)"
check "and the peak RSS stays under 48 MiB" test "$rss" -lt 49152
rm -f "$work/long.json" "$work/hole.json"
# A non-UTF-8 path keeps its bytes (docs/json-bytes.md: Python reads them back with os.fsencode).
printf 'SPDXVersion: SPDX-2.2\nFileName: ./bin/\xff\nFileChecksum: SHA1: 85ed0817af83a24ad8da68c2b5094de69833983c\n' >"$work/bytes.spdx"
out=$("$BIN/eima" sbom files --json "$work/bytes.spdx")
check_eq "a non-UTF-8 path keeps its bytes" 2e2f62696e2fff \
	"$(python3 -c 'import json,os,sys; print(os.fsencode(json.loads(sys.stdin.read())[0]["path"]).hex())' <<<"$out")"
finish
