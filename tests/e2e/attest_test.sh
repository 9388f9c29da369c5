#!/usr/bin/env bash
# End to end: eimad measures host execs into swtpm; `eima quote` turns a quote and the host
# list it covers into evidence; `eima verify` accepts it under the AK and the nonce, and
# rejects another nonce, another AK and a tampered list; tpm2_checkquote (the reference
# verifier) accepts the quote files `eima quote --tpm2-tools` writes.
#
#   attest_test.sh BIN_DIR trace|lsm
BIN=$1
MODE=$2
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"

[[ $(id -u) -eq 0 ]] || skip_test "needs root (BPF)"
command -v tpm2_checkquote >/dev/null || skip_test "tpm2-tools is not installed"
command -v jq >/dev/null || skip_test "jq is not installed"
T=$(mktemp -d "${EIMA_TEST_TMPDIR:-/tmp}/eima-attest.XXXXXX")
RUN=$T/run
cleanup() { stop_eimad >/dev/null 2>&1; rm -rf "$T"; }
trap cleanup EXIT

# new_exec NAME: a copy of true with unique content (so it is measured), run once.
new_exec() {
	cp -L /usr/bin/true "$T/$1"
	printf 'eima-attest-%s-%s' "$1" "$RANDOM" >> "$T/$1"
	"$T/$1"
}

echo "== eimad --mode $MODE --tpm swtpm measures host execs"
start_eimad "$RUN" "$T/eimad.log" --mode "$MODE" --tpm swtpm || { failed "eimad starts"; finish; exit; }
new_exec one
new_exec two
settle "$RUN"

echo "== eima quote writes evidence and tpm2-tools files"
N1=$(head -c 20 /dev/urandom | xxd -p -c 64)
"$BIN/eima" quote --run-dir "$RUN" --nonce "$N1" -o "$T/ev1.json" --tpm2-tools "$T/q1"
check_eq "eima quote exits 0" 0 $?
check_eq "the evidence quotes sha256 PCRs 10 and 11" "sha256 10,11" \
	"$(jq -r '.quote.bank + " " + (.quote.pcrs | keys | join(","))' "$T/ev1.json")"
entries1=$(jq -r '.list.entries' "$T/ev1.json")
jq -r '.list.data' "$T/ev1.json" | base64 -d > "$T/list1.bin"
check "the evidence's list holds the measured execs" \
	bash -c "grep -aq '$T/one' '$T/list1.bin' && grep -aq '$T/two' '$T/list1.bin'"
check "its list is a prefix of the host list" \
	cmp -n "$(stat -c %s "$T/list1.bin")" "$T/list1.bin" "$RUN/host/binary_runtime_measurements"
AK=$T/q1/ak.pem # pinned on first use, as a verifier would after enrolment

echo "== eima verify accepts it"
"$BIN/eima" verify "$T/ev1.json" --nonce "$N1" --ak "$AK" > "$T/verify1.out"
rc=$?
check_eq "eima verify exits 0" 0 $rc
[[ $rc -eq 0 ]] || cat "$T/verify1.out"
"$BIN/eima" verify "$T/ev1.json" --nonce "$N1" --ak "$AK" --json > "$T/verify1.json"
check_eq "the JSON report says ok with every check passed" "true 9" \
	"$(jq -r '"\(.ok) \([.checks[] | select(.result == "pass")] | length)"' "$T/verify1.json")"
check_eq "it counts the entries" "$entries1" "$(jq -r .entries "$T/verify1.json")"

echo "== tpm2_checkquote accepts the --tpm2-tools files"
tpm2_checkquote -u "$T/q1/ak.pem" -m "$T/q1/attest" -s "$T/q1/signature" -f "$T/q1/pcrs" \
	-l sha256:10,11 -g sha256 -q "$N1" > "$T/checkquote.out" 2>&1
rc=$?
check_eq "tpm2_checkquote exits 0" 0 $rc
[[ $rc -eq 0 ]] || tail -5 "$T/checkquote.out"
N_OTHER=$(head -c 20 /dev/urandom | xxd -p -c 64)
check "tpm2_checkquote rejects another nonce" bash -c "! tpm2_checkquote -u '$T/q1/ak.pem' \
	-m '$T/q1/attest' -s '$T/q1/signature' -f '$T/q1/pcrs' -l sha256:10,11 -g sha256 \
	-q '$N_OTHER' >/dev/null 2>&1"

echo "== replayed with another nonce, under another AK, or tampered, it fails"
"$BIN/eima" verify "$T/ev1.json" --nonce "$N_OTHER" --ak "$AK" --json > "$T/replay.json"
check_eq "another nonce: exit 1" 1 $?
check_eq "another nonce: the nonce check fails first" nonce "$(jq -r .first_failure "$T/replay.json")"
openssl ecparam -name prime256v1 -genkey -noout -out "$T/other.key" 2>/dev/null
openssl ec -in "$T/other.key" -pubout -out "$T/other.pem" 2>/dev/null
check_eq "another trusted AK: the ak check fails" ak \
	"$("$BIN/eima" verify "$T/ev1.json" --nonce "$N1" --ak "$T/other.pem" --json | jq -r .first_failure)"
# The last record cut short by one byte.
head -c -1 "$T/list1.bin" > "$T/list-trunc.bin"
jq --arg d "$(base64 -w0 "$T/list-trunc.bin")" '.list.data = $d' "$T/ev1.json" > "$T/ev-trunc.json"
check_eq "a truncated list: the parse check fails" parse \
	"$("$BIN/eima" verify "$T/ev-trunc.json" --nonce "$N1" --ak "$AK" --json | jq -r .first_failure)"
jq '.quote.pcrs["10"] |= (.[0:63] + (if .[63:64] == "0" then "1" else "0" end))' "$T/ev1.json" > "$T/ev-pcr.json"
check_eq "a changed quoted PCR value: the pcr_digest check fails" pcr_digest \
	"$("$BIN/eima" verify "$T/ev-pcr.json" --nonce "$N1" --ak "$AK" --json | jq -r .first_failure)"

echo "== after more execs, a new quote verifies too and covers more entries"
new_exec three
settle "$RUN"
N2=$(head -c 32 /dev/urandom | xxd -p -c 64)
"$BIN/eima" quote --run-dir "$RUN" --nonce "$N2" -o "$T/ev2.json" --tpm2-tools "$T/q2"
check_eq "the second eima quote exits 0" 0 $?
entries2=$(jq -r '.list.entries' "$T/ev2.json")
check "it covers more entries ($entries1 -> $entries2)" test "$entries2" -gt "$entries1"
check "the AK is the same key" cmp -s "$T/q1/ak.pem" "$T/q2/ak.pem"
"$BIN/eima" verify "$T/ev2.json" --nonce "$N2" --ak "$AK" > "$T/verify2.out"
rc=$?
check_eq "eima verify accepts the second evidence" 0 $rc
[[ $rc -eq 0 ]] || cat "$T/verify2.out"
tpm2_checkquote -u "$AK" -m "$T/q2/attest" -s "$T/q2/signature" -f "$T/q2/pcrs" \
	-l sha256:10,11 -g sha256 -q "$N2" >/dev/null 2>&1
check_eq "tpm2_checkquote accepts the second quote" 0 $?
check_eq "the first evidence does not pass for the second nonce" nonce \
	"$("$BIN/eima" verify "$T/ev1.json" --nonce "$N2" --ak "$AK" --json | jq -r .first_failure)"

echo "== a container id eimad never saw is a clear error"
"$BIN/eima" quote --run-dir "$RUN" --container no-such-container --nonce "$N2" -o "$T/ev-c.json" 2> "$T/container.err"
check_eq "eima quote --container exits 1" 1 $?
check "and says why" grep -q "no such container: no-such-container" "$T/container.err"

echo "== eimad stops cleanly"
stop_eimad
check_eq "eimad exits 0" 0 $?
finish
