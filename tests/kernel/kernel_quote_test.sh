#!/usr/bin/env bash
# A real kernel's IMA list, checked end to end: in a guest booted with ima_policy=tcb and a
# TPM, `eima quote --kernel` quotes the guest TPM's PCR 10 and keeps exactly the entries of
# the kernel's own list the quote covers (the list keeps growing while we quote); `eima
# verify` accepts it, tpm2_checkquote accepts the quote, an independent replay (python,
# tests/cli/log_verify_tamper.py) gives the quoted PCR 10, and another nonce, another AK
# or a changed list are refused.
#
#   kernel_quote_test.sh BIN_DIR        (inside tests/vm/vmrun --tpm --append ima_policy=tcb)
BIN=$1
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../e2e/lib.sh"
REF="python3 $here/../cli/log_verify_tamper.py"

grep -q " /sys/kernel/security securityfs" /proc/mounts ||
	mount -t securityfs securityfs /sys/kernel/security
kernel_list=/sys/kernel/security/ima/binary_runtime_measurements
[[ -r $kernel_list ]] || skip_test "no kernel IMA list here (run inside vmrun --append ima_policy=tcb)"
[[ -e /dev/tpmrm0 ]] || skip_test "no TPM here (run inside vmrun --tpm)"
for c in tpm2_checkquote tpm2_pcrread jq python3 openssl xxd; do
	command -v $c >/dev/null || skip_test "$c is not installed"
done
export TPM2TOOLS_TCTI=device:/dev/tpmrm0

# tcb does not measure tmpfs (the guest's /tmp): scratch on the shared host disk.
T=$(mktemp -d "${EIMA_TEST_TMPDIR:?set EIMA_TEST_TMPDIR to a directory on a measured filesystem}/eima-kquote.XXXXXX")
trap 'rm -rf "$T"' EXIT

# new_exec NAME: a copy of true with contents unique to this run (so the kernel measures
# it, as a new entry), run once.
new_exec() {
	cp -L /usr/bin/true "$T/$1"
	printf 'eima-kquote-%s-%s' "$1" "$RANDOM" >> "$T/$1"
	"$T/$1"
}
# py_count_violations LIST: records whose header digest is all zeros.
py_count_violations() {
	python3 -c '
import struct, sys
b = open(sys.argv[1], "rb").read(); off = n = 0
while off < len(b):
    hdr = b[off + 4:off + 24]; nl = struct.unpack_from("<I", b, off + 24)[0]
    o = off + 28 + nl; off = o + 4 + struct.unpack_from("<I", b, o)[0]
    n += hdr == bytes(20)
print(n)' "$1"
}
# py_prefix_matching LIST HEX: the length of the shortest prefix whose sha256 replay of PCR 10
# is HEX (-1: none), computed here from the kernel's rule: PCR = sha256(PCR || sha256(template
# data)), 0xff * 32 for a violation.
py_prefix_matching() {
	python3 -c '
import hashlib, struct, sys
b = open(sys.argv[1], "rb").read(); want = bytes.fromhex(sys.argv[2])
pcr = bytes(32); off = n = 0
if pcr == want: print(0); sys.exit()
while off < len(b):
    p = struct.unpack_from("<I", b, off)[0]; hdr = b[off + 4:off + 24]
    nl = struct.unpack_from("<I", b, off + 24)[0]; o = off + 28 + nl
    dl = struct.unpack_from("<I", b, o)[0]; data = b[o + 4:o + 4 + dl]; off = o + 4 + dl; n += 1
    if p != 10: continue
    pcr = hashlib.sha256(pcr + (b"\xff" * 32 if hdr == bytes(20) else hashlib.sha256(data).digest())).digest()
    if pcr == want: print(n); sys.exit()
print(-1)' "$1" "$2"
}
verify_json() { "$BIN/eima" verify "$1" --nonce "$2" --ak "$3" --json; }

echo "== the kernel measures new execs and an open-writers violation"
new_exec kq-one
new_exec kq-two
new_exec kq-three
# Read by root while open for write: tcb measures it (FILE_CHECK, euid=0), and the kernel
# records an open_writers violation (zero digest, PCR 10 extended with 0xff..).
echo data > "$T/written"
(exec 3>>"$T/written"; cat "$T/written" >/dev/null)

echo "== eima quote --kernel"
N=$(head -c 20 /dev/urandom | xxd -p -c 64)
"$BIN/eima" quote --kernel --nonce "$N" -o "$T/ev.json" --tpm2-tools "$T/q" 2> "$T/quote.err"
rc=$?
check_eq "eima quote --kernel exits 0" 0 $rc
[[ $rc -eq 0 ]] || { cat "$T/quote.err"; finish; exit; }
entries=$(jq -r .list.entries "$T/ev.json")
check "it says what it quoted" \
	grep -qxF "$T/ev.json: quote over sha256:10 and $entries kernel list entries" "$T/quote.err"
check_eq "the evidence is the kernel's, quoting sha256 PCR 10" "kernel sha256 10" \
	"$(jq -r '.source + " " + .quote.bank + " " + (.quote.pcrs | keys | join(","))' "$T/ev.json")"
jq -r .list.data "$T/ev.json" | base64 -d > "$T/list.bin"
cp "$kernel_list" "$T/kernel-now.bin"
check "it covers more than 10 entries ($entries)" test "$entries" -gt 10
check "its list is a prefix of the kernel's list read afterwards" \
	cmp -n "$(stat -c %s "$T/list.bin")" "$T/list.bin" "$T/kernel-now.bin"
check "the kernel's list has grown past it" \
	test "$(stat -c %s "$T/kernel-now.bin")" -gt "$(stat -c %s "$T/list.bin")"
check "it holds the new execs" \
	bash -c "grep -aq '$T/kq-one' '$T/list.bin' && grep -aq '$T/kq-three' '$T/list.bin'"
violations=$(py_count_violations "$T/list.bin")
check "it holds the kernel's open_writers violation ($violations violations)" \
	test "$violations" -ge 1
for f in attest signature pcrs ak.pem; do
	check "--tpm2-tools wrote $f" test -s "$T/q/$f"
done
check_eq "the pcrs file is one sha256 value" 32 "$(stat -c %s "$T/q/pcrs")"
AK=$T/q/ak.pem # pinned on first use, as a verifier would after enrolment

echo "== tpm2_checkquote accepts the quote"
tpm2_checkquote -u "$AK" -m "$T/q/attest" -s "$T/q/signature" -f "$T/q/pcrs" \
	-l sha256:10 -g sha256 -q "$N" > "$T/checkquote.out" 2>&1
rc=$?
check_eq "tpm2_checkquote exits 0" 0 $rc
[[ $rc -eq 0 ]] || tail -5 "$T/checkquote.out"

echo "== eima verify accepts it"
verify_json "$T/ev.json" "$N" "$AK" > "$T/verify.json"
rc=$?
check_eq "eima verify exits 0" 0 $rc
[[ $rc -eq 0 ]] || cat "$T/verify.json"
# policy is the one check not asked for here (no runtime policy given): skipped, not failed.
check_eq "every check passes (policy: not asked for)" "true 0 skipped" \
	"$(jq -r '"\(.ok) \([.checks | to_entries[] | select(.key != "policy" and .value.result != "pass")] | length) \(.checks.policy.result // "skipped")"' "$T/verify.json")"
check "and there are at least 9 of them" \
	test "$(jq '[.checks[] | select(.result == "pass")] | length' "$T/verify.json")" -ge 9
check_eq "it counts the evidence's entries" "$entries" "$(jq -r .entries "$T/verify.json")"

echo "== an independent replay agrees with the quote"
quoted=$(jq -r '.quote.pcrs["10"]' "$T/ev.json")
check_eq "python's sha256 replay of the list is the quoted PCR 10" "$quoted" \
	"$($REF replay "$T/list.bin" | jq -r '.sha256["10"]')"
check_eq "no shorter prefix replays to it (the quote covers exactly these entries)" \
	"$entries" "$(py_prefix_matching "$T/list.bin" "$quoted")"
# The TPM now: a later value, which some longer prefix of the list read after it gives.
tpm2_pcrread sha256:10 -o "$T/pcr-now.bin" >/dev/null
cp "$kernel_list" "$T/kernel-later.bin"
now=$(py_prefix_matching "$T/kernel-later.bin" "$(xxd -p -c 64 "$T/pcr-now.bin")")
check "tpm2_pcrread's PCR 10 is the replay of a longer prefix of the list ($entries -> $now)" \
	test "$now" -ge "$entries"
if command -v evmctl >/dev/null; then
	{
		for i in $(seq 0 23); do
			printf 'PCR-%02d: %s\n' "$i" \
				"$([[ $i -eq 10 ]] && echo "$quoted" || printf '%064d' 0)"
		done
	} > "$T/pcrs.sha256"
	evmctl ima_measurement --ignore-violations --pcrs "sha256,$T/pcrs.sha256" "$T/list.bin" \
		> "$T/evmctl.out" 2>&1
	rc=$?
	check_eq "evmctl ima_measurement replays the list to the quoted PCR 10" 0 $rc
	[[ $rc -eq 0 ]] || tail -5 "$T/evmctl.out"
fi

echo "== another nonce, another AK or a changed list: refused"
N_OTHER=$(head -c 20 /dev/urandom | xxd -p -c 64)
verify_json "$T/ev.json" "$N_OTHER" "$AK" > "$T/nonce.json"
check_eq "another nonce: exit 1" 1 $?
check_eq "another nonce: the nonce check fails first" nonce "$(jq -r .first_failure "$T/nonce.json")"
check "tpm2_checkquote rejects another nonce" bash -c "! tpm2_checkquote -u '$AK' \
	-m '$T/q/attest' -s '$T/q/signature' -f '$T/q/pcrs' -l sha256:10 -g sha256 \
	-q '$N_OTHER' >/dev/null 2>&1"
openssl ecparam -name prime256v1 -genkey -noout -out "$T/other.key" 2>/dev/null
openssl ec -in "$T/other.key" -pubout -out "$T/other.pem" 2>/dev/null
verify_json "$T/ev.json" "$N" "$T/other.pem" > "$T/ak.json"
check_eq "another trusted AK: exit 1" 1 $?
check_eq "another trusted AK: the ak check fails first" ak "$(jq -r .first_failure "$T/ak.json")"
python3 -c 'import sys; b = bytearray(open(sys.argv[1], "rb").read()); b[-1] ^= 1; open(sys.argv[2], "wb").write(b)' \
	"$T/list.bin" "$T/list-flipped.bin"
jq --arg d "$(base64 -w0 "$T/list-flipped.bin")" '.list.data = $d' "$T/ev.json" > "$T/ev-flipped.json"
verify_json "$T/ev-flipped.json" "$N" "$AK" > "$T/flipped.json"
check_eq "the list's last byte flipped: exit 1" 1 $?
first=$(jq -r .first_failure "$T/flipped.json")
check "the list's last byte flipped: template_hash or parse fails first ($first)" \
	test "$first" = template_hash -o "$first" = parse

echo "== after more execs, a second quote covers more entries and verifies"
new_exec kq-four
N2=$(head -c 32 /dev/urandom | xxd -p -c 64)
"$BIN/eima" quote --kernel --nonce "$N2" -o "$T/ev2.json" 2>/dev/null
check_eq "the second eima quote --kernel exits 0" 0 $?
entries2=$(jq -r .list.entries "$T/ev2.json")
check "it covers more entries ($entries -> $entries2)" test "$entries2" -gt "$entries"
check_eq "it is the same AK" "$(jq -r .ak.pem "$T/ev.json")" "$(jq -r .ak.pem "$T/ev2.json")"
verify_json "$T/ev2.json" "$N2" "$AK" > "$T/verify2.json"
check_eq "eima verify accepts it" 0 $?
check_eq "the first evidence does not pass for the second nonce" nonce \
	"$(verify_json "$T/ev.json" "$N2" "$AK" | jq -r .first_failure)"

echo "== clear errors without IMA or a TPM"
EIMA_KERNEL_IMA_LIST=$T/absent "$BIN/eima" quote --kernel --nonce "$N" -o "$T/x.json" 2> "$T/noima.err"
check_eq "no IMA list: exit 1" 1 $?
check "and it names the path" grep -q "$T/absent" "$T/noima.err"
"$BIN/eima" quote --kernel --tpm device:/dev/absent-tpm --nonce "$N" -o "$T/x.json" 2> "$T/notpm.err"
check_eq "no TPM: exit 1" 1 $?
check "and it says there is no TPM" grep -q "no TPM" "$T/notpm.err"

echo "kernel.ima_quote: $entries kernel IMA entries ($violations violations) under a sha256:10" \
	"quote, verified by eima verify, tpm2_checkquote and an independent replay"
finish
