#!/usr/bin/env bash
# `eima log verify` against the IMA log corpus, an independent replay (log_verify_tamper.py,
# hashlib only), tampered lists and bad input under a 200 MB address-space limit.
#   tests/cli/log_verify_test.sh BIN_DIR CORPUS_IMA_LOGS_DIR
set -uo pipefail
BIN=$1
CORPUS=$2
here=$(cd "$(dirname "$0")" && pwd)
REF="python3 $here/log_verify_tamper.py"
command -v python3 >/dev/null || { echo "no python3"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
checked=
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
jq_() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }

# --- 1. every corpus log: counts, replay equal to the independent one, --pcrs ----------
declare -A want_entries=(
	[embrave-research-ima-dep-cgn.ascii_runtime_measurements]=819
	[embrave-research-ima-dep-cgn.binary_runtime_measurements]=819
	[ima-evm-utils-test.ascii_runtime_measurements]=3
	[keylime-create-runtime-policy-ima-log-sha384]=2
	[keylime-create-runtime-policy-ima-log-sm3_256]=2
	[keylime-perf-ubuntu-ima-ng-sha256.ascii_runtime_measurements]=780
	[keylime-test_ima_ast-valid-entries.ascii_runtime_measurements]=6
	[keylime-tests-policy-commands-ima-ng-ima-buf.ascii_runtime_measurements]=5
)
for name in "${!want_entries[@]}"; do
	f=$CORPUS/$name
	"$BIN/eima" log verify "$f" --json >"$T/r.json" || bad "$name: exit $?"
	[ "$(jq_ "$T/r.json" 'd["entries"]')" = "${want_entries[$name]}" ] || bad "$name: entries"
	[ "$(jq_ "$T/r.json" 'len(d["template_hash_errors"])')" = 0 ] || bad "$name: template hash errors"
	# templates counts add up to the entries; violations are the all-zero header digests
	[ "$(jq_ "$T/r.json" 'sum(d["templates"].values())')" = "${want_entries[$name]}" ] || bad "$name: templates"
	if [[ $name != *binary* ]]; then
		zeros=$(awk '{ h = $2; sub(/^[a-z0-9_]+:/, "", h); if (h ~ /^0+$/) n++ } END { print n + 0 }' "$f")
		[ "$(jq_ "$T/r.json" 'd["violations"]')" = "$zeros" ] || bad "$name: violations"
		first=$(awk '{ print $3; exit }' "$f")
		[ "$(jq_ "$T/r.json" "d['templates'].get('$first', 0) > 0")" = True ] || bad "$name: template $first"
	fi
	$REF replay "$f" >"$T/py.json"
	for bank in $(jq_ "$T/py.json" '" ".join(d)'); do
		same=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[3]] == json.load(open(sys.argv[2]))['replay'][sys.argv[3]])" "$T/py.json" "$T/r.json" "$bank")
		[ "$same" = True ] || bad "$name: $bank replay differs from the independent one"
		checked="$checked $name/$bank"
		# PCR files from the independent replay: eima must say they match
		$REF pcrfile <(python3 -c "import json,sys; print(json.dumps({'replay': json.load(open(sys.argv[1]))}))" "$T/py.json") "$bank" "$T/$bank.pcrs"
	done
	if [ -f "$T/sha1.pcrs" ]; then
		"$BIN/eima" log verify "$f" --pcrs "sha1,$T/sha1.pcrs" --json >"$T/m.json" || bad "$name: right PCRs rejected"
		[ "$(jq_ "$T/m.json" 'd["pcr_match"]')" = True ] || bad "$name: pcr_match"
		# one wrong PCR: exit 1, named
		awk '/^PCR-10: / { c = substr($2, 40, 1); $2 = substr($2, 1, 39) (c == "0" ? "1" : "0") } 1' "$T/sha1.pcrs" >"$T/wrong.pcrs"
		"$BIN/eima" log verify "$f" --pcrs "sha1,$T/wrong.pcrs" --json >"$T/w.json"
		[ $? = 1 ] || bad "$name: wrong PCR accepted"
		[ "$(jq_ "$T/w.json" 'd["pcr_mismatches"]["sha1"]')" = "[10]" ] || bad "$name: PCR 10 not named"
		[ "$(jq_ "$T/w.json" 'd["first_failure"]')" = pcr_replay ] || bad "$name: first_failure"
		rm -f "$T"/*.pcrs
	fi
	# a policy built from the log allows all of it; its violations are the only failures
	"$BIN/eima" policy from-log "$f" -o "$T/p.json" 2>/dev/null || bad "$name: policy from-log exit $?"
	"$BIN/eima" log verify "$f" --policy "$T/p.json" --json >"$T/p-r.json"
	[ "$(jq_ "$T/p-r.json" 'len(d["policy_failures"]) <= d["violations"] and all(f["reason"] == "violation" for f in d["policy_failures"])')" = True ] ||
		bad "$name: a policy from its own log does not allow it"
done
case "$checked" in *embrave-research-ima-dep-cgn.binary_runtime_measurements/sha1*) ;; *) bad "embrave binary replay not checked" ;; esac
case "$checked" in *keylime-perf-ubuntu-ima-ng-sha256.ascii_runtime_measurements/sha256*) ;; *) bad "keylime-perf sha256 not checked" ;; esac
# the deliberately invalid one
"$BIN/eima" log verify "$CORPUS/keylime-create-runtime-policy-ima-log-unknown" --json >"$T/u.json"
[ $? = 1 ] || bad "unknown-algorithm log accepted"
[ "$(jq_ "$T/u.json" 'd["first_failure"]')" = parse ] || bad "unknown log: not a parse failure"
grep -q "line 1" "$T/u.json" || bad "unknown log: line not named"

# --- 2. tampered lists: the first failing check is named --------------------------------
"$BIN/eima-bench-make-ima-log" 40 "$T/eima.bin" "$T/eima.sha1" "$T/eima.sha256" || bad "make_ima_log"
embrave=$CORPUS/embrave-research-ima-dep-cgn.binary_runtime_measurements
"$BIN/eima" log verify "$embrave" --json >"$T/e.json"
$REF pcrfile "$T/e.json" sha1 "$T/embrave.sha1"
$REF pcrfile "$T/e.json" sha256 "$T/embrave.sha256"
for src in embrave eima; do
	log=$T/$src.bin; [ $src = embrave ] && log=$embrave
	pcrs="--pcrs sha1,$T/$src.sha1 --pcrs sha256,$T/$src.sha256"
	"$BIN/eima" log verify "$log" $pcrs --json >"$T/ok.json" || bad "$src: untampered list rejected"
	for case in flip_path:template_hash flip_digest:template_hash flip_file_digest:template_hash \
		drop:pcr_replay insert:pcr_replay swap:pcr_replay pcr:pcr_replay \
		append:appended_entries truncate:parse; do
		mode=${case%%:*} want=${case#*:}
		$REF tamper "$mode" "$log" "$T/t.bin"
		"$BIN/eima" log verify "$T/t.bin" $pcrs --json >"$T/t.json" 2>"$T/t.err"
		rc=$?
		[ $rc = 1 ] || bad "$src/$mode: exit $rc"
		got=$(jq_ "$T/t.json" 'd["first_failure"]' 2>/dev/null)
		[ "$got" = "$want" ] || bad "$src/$mode: first_failure $got, want $want"
	done
	$REF tamper append "$log" "$T/t.bin"
	"$BIN/eima" log verify "$T/t.bin" $pcrs --json >"$T/t.json"
	n=$(jq_ "$T/ok.json" 'd["entries"]')
	[ "$(jq_ "$T/t.json" 'd["early_match"]["sha256"]')" = $((n - 1)) ] || bad "$src/append: early match index"
done

# --- 3. bad input: exit 1 or 2, a message naming offset or line, no crash, bounded memory ----
printf '\x0a\x00\x00\x00' >"$T/short.bin"                                   # cut in the header
head -c 1000 "$embrave" >"$T/trunc.bin"
head -c 4096 /dev/urandom | { printf '\xff'; tail -c +2; } >"$T/garbage.bin"
python3 -c "
import struct,sys
open(sys.argv[1],'wb').write(struct.pack('<I',10)+bytes(range(1,21))+struct.pack('<I',0xfffffff0)+b'ima-ng')
open(sys.argv[2],'wb').write(struct.pack('<I',10)+bytes(range(1,21))+struct.pack('<I',6)+b'ima-ng'+struct.pack('<I',0xffffffff)+b'x'*64)
" "$T/name_len.bin" "$T/data_len.bin"
: >"$T/empty"
sed '3s/ima-ng sha256:/ima-ng sha256:zz/' "$CORPUS/keylime-perf-ubuntu-ima-ng-sha256.ascii_runtime_measurements" >"$T/broken.ascii"
# Bounded memory: a 200 MB address space; built with ASan (scripts/sanitize.sh), which
# reserves terabytes of address space for its shadow, ASan's own limit on resident memory.
limit_memory() {
	if ldd "$BIN/eima" | grep -q libasan; then
		export ASAN_OPTIONS=${ASAN_OPTIONS:-}:hard_rss_limit_mb=400
	else
		ulimit -v 200000
	fi
}
for f in short.bin trunc.bin garbage.bin name_len.bin data_len.bin empty broken.ascii; do
	(limit_memory; exec "$BIN/eima" log verify "$T/$f") >"$T/b.out" 2>"$T/b.err"
	rc=$?
	[ $rc = 1 ] || [ $rc = 2 ] || bad "$f: exit $rc (want 1 or 2)"
	case $f in
	empty) want='empty' ;;
	broken.ascii) want='line 3' ;;
	*) want='offset' ;;
	esac
	grep -q "$want" "$T/b.err" || bad "$f: message does not name '$want': $(cat "$T/b.err")"
	(limit_memory; exec "$BIN/eima" log verify "$T/$f" --json) >"$T/b.json" 2>/dev/null
	[ "$(jq_ "$T/b.json" 'd["first_failure"]' 2>/dev/null)" = parse ] || bad "$f: json first_failure"
done

[ $fails = 0 ] && echo "log_verify: all passed" || echo "log_verify: $fails failures"
[ $fails = 0 ]
