#!/usr/bin/env bash
# Native signed BPF on 6.18+ (docs/signed-bpf.md): eima bpf sign, verify and load against a
# user keyring, and what the kernel refuses, each with its errno.
#   signed_bpf_test.sh BIN_DIR SAMPLE.bpf.o OTHER.bpf.o
# Runs in the 6.18 guest (kernel618.signed_bpf); pins under its own bpffs directory and
# removes it, and its keyrings, on every exit.
BIN=$1
OBJ=$2
OTHER=$3
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../e2e/lib.sh"
source "$here/keyrings.sh"
[[ $(id -u) -eq 0 ]] || skip_test "needs root (BPF, keyrings)"
T=$(mktemp -d "${EIMA_TEST_TMPDIR:-/tmp}/eima-signed.XXXXXX")
PIN=/sys/fs/bpf/eima-signed-test-$$
cleanup() {
	rm -rf "$PIN"
	unlink_keyrings
	rm -rf "$T"
}
trap cleanup EXIT

for k in a b; do
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=eima test $k" \
		-addext subjectKeyIdentifier=hash -keyout "$T/$k.key" -out "$T/$k.crt" 2>/dev/null
done

KR=$(new_keyring eima-test-a "$T/a.crt")
check "a keyring holds key a" test -n "$KR"

section_offset() { # FILE SECTION -> the section's file offset, decimal
	local hex
	hex=$(readelf -SW "$1" | awk -v s="$2" '{ for (i = 1; i < NF; i++) if ($i == s) { print $(i + 3); exit } }')
	echo $((16#$hex))
}
flip_byte() { # FILE OFFSET
	local b
	b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	printf "\\x$(printf %02x $((b ^ 1)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
load() { "$BIN/eima" bpf load "$@" 2>&1; }

echo "== sign and verify"
check "eima bpf sign" "$BIN/eima" bpf sign "$OBJ" --key "$T/a.key" --cert "$T/a.crt" -o "$T/signed.o"
check "eima bpf verify with the signer's certificate" \
	"$BIN/eima" bpf verify "$T/signed.o" --cert "$T/a.crt"
check_status "eima bpf verify with another certificate fails" 1 \
	"$BIN/eima" bpf verify "$T/signed.o" --cert "$T/b.crt"
"$BIN/eima" bpf sign "$OBJ" --key "$T/b.key" --cert "$T/b.crt" -o "$T/signed-b.o" >/dev/null
"$BIN/eima" bpf sign "$OTHER" --key "$T/a.key" --cert "$T/a.crt" -o "$T/other.o" >/dev/null

echo "== a signed load"
out=$(load "$T/signed.o" --keyring "$KR" --pin "$PIN" --attach)
check "the signed object loads, attaches and pins" grep -q "loaded .* with its signature" <<<"$out"
echo "$out"
check "its program is pinned and is an LSM program" \
	bash -c "bpftool prog show pinned '$PIN/prog_sample_bpf_calls' | grep -q 'lsm  name sample_bpf_calls'"
check "its link is pinned" test -e "$PIN/link_sample_bpf_calls"
# The configuration value came from the signed blob: 0x5eed1234, little endian.
rodata=$(bpftool -j map dump pinned "$PIN/map_signed_s_rodata")
echo "rodata: $rodata"
check "its .rodata holds the signed value" grep -Eq '"sample_magic": ?1592594996' <<<"$rodata"
bpftool prog show >/dev/null
count=$(bpftool -j map dump pinned "$PIN/map_sample_counts" | grep -o '"value":[0-9][0-9]*' | head -n1 | cut -d: -f2)
check "the attached program counts bpf() calls ($count)" test "${count:-0}" -gt 0
check "no loader program is left behind" bash -c "! bpftool prog show | grep -q eima_loader"
rm -rf "$PIN"

echo "== what the kernel refuses"
cp "$T/signed.o" "$T/insn.o"
flip_byte "$T/insn.o" $(($(section_offset "$T/insn.o" .eima.loader) + 8 * 30 + 4))
out=$(load "$T/insn.o" --keyring "$KR")
echo "$out"
check "one changed instruction: EKEYREJECTED" grep -q "load the signed loader.*Key was rejected by service" <<<"$out"

out=$(load "$T/signed-b.o" --keyring "$KR")
echo "$out"
check "another key: ENOKEY" grep -q "load the signed loader.*Required key not available" <<<"$out"

llvm-objcopy-19 --dump-section .eima.sig="$T/sig.der" "$T/signed.o"
head -c $(($(stat -c %s "$T/sig.der") - 20)) "$T/sig.der" >"$T/sig-cut.der"
cp "$T/signed.o" "$T/cut.o"
llvm-objcopy-19 --update-section .eima.sig="$T/sig-cut.der" "$T/cut.o"
out=$(load "$T/cut.o" --keyring "$KR")
echo "$out"
check "a truncated signature: EBADMSG" grep -q "load the signed loader.*Bad message" <<<"$out"

llvm-objcopy-19 --dump-section .eima.sig="$T/other-sig.der" "$T/other.o"
cp "$T/signed.o" "$T/swapped.o"
llvm-objcopy-19 --update-section .eima.sig="$T/other-sig.der" "$T/swapped.o"
out=$(load "$T/swapped.o" --keyring "$KR")
echo "$out"
check "a signature made for another program: EKEYREJECTED" \
	grep -q "load the signed loader.*Key was rejected by service" <<<"$out"

out=$(load "$T/signed.o" --keyring 0)
echo "$out"
check "the builtin keyring (0) does not hold the key: ENOKEY" \
	grep -q "load the signed loader.*Required key not available" <<<"$out"

echo "== the data blob is checked by the signed loader"
cp "$T/signed.o" "$T/data.o"
flip_byte "$T/data.o" $(($(section_offset "$T/data.o" .eima.loader.data) + 4))
check_status "eima bpf verify refuses changed data" 1 \
	"$BIN/eima" bpf verify "$T/data.o" --cert "$T/a.crt"
out=$(load "$T/data.o" --keyring "$KR")
echo "$out"
check "changed data: the kernel accepts the signature, the loader refuses (EBADMSG)" \
	grep -q "signed loader refused or failed .*its data is not the signed data: Bad message" <<<"$out"
check "nothing of it stays loaded" bash -c "! bpftool prog show | grep -q sample_bpf_call"
finish
