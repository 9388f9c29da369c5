#!/usr/bin/env bash
# `eima identity` and `eima enroll` against two real swtpms whose EK certificates
# swtpm_setup --create-ek-cert made with swtpm_localca and a CA made here (never committed):
# the AK of the TPM that holds the certified EK is pinned and verifies `eima quote` evidence;
# the other TPM's AK, an EK certificate from another CA, a tampered challenge, a wrong
# secret and malformed files all fail with an error and pin nothing. No eimad, no BPF.
BIN=$1
source "$(dirname "$0")/lib.sh"
command -v swtpm_setup >/dev/null || skip_test "no swtpm_setup (Debian package swtpm-tools)"
command -v swtpm_localca >/dev/null || skip_test "no swtpm_localca (Debian package swtpm-tools)"
command -v jq >/dev/null || skip_test "no jq"
work=$(mktemp -d)
cleanup() {
	for t in a b; do
		[[ -f $work/$t/pid ]] && kill "$(cat "$work/$t/pid")" 2>/dev/null
	done
	rm -rf "$work"
}
trap cleanup EXIT
E=$BIN/eima

# A local CA (swtpm_localca creates its root and signing key on first use) for both TPMs.
mkdir -p "$work/ca"
cat >"$work/localca.conf" <<CONF
statedir = $work/ca
signingkey = $work/ca/signkey.pem
issuercert = $work/ca/issuercert.pem
certserial = $work/ca/certserial
CONF
printf -- '--platform-manufacturer eima\n--platform-version 2.1\n--platform-model test\n' >"$work/localca.options"
cat >"$work/setup.conf" <<CONF
create_certs_tool = $(command -v swtpm_localca)
create_certs_tool_config = $work/localca.conf
create_certs_tool_options = $work/localca.options
active_pcr_banks = sha256
CONF
for t in a b; do
	mkdir -p "$work/$t"
	swtpm_setup --tpm2 --tpmstate "$work/$t" --create-ek-cert --config "$work/setup.conf" \
		--overwrite >"$work/$t/setup.log" 2>&1 || { cat "$work/$t/setup.log"; failed "swtpm_setup $t"; finish; exit; }
	swtpm socket --tpm2 --tpmstate dir="$work/$t" --server type=unixio,path="$work/$t/sock" \
		--ctrl type=unixio,path="$work/$t/sock.ctrl" --flags startup-clear \
		--pid file="$work/$t/pid" --daemon || { failed "swtpm $t"; finish; exit; }
done
cat "$work/ca/issuercert.pem" "$work/ca/swtpm-localca-rootca-cert.pem" >"$work/ca.pem"
A=swtpm:path=$work/a/sock
B=swtpm:path=$work/b/sock

echo "== identity"
check "identity of TPM a" "$E" identity --tpm "$A" --json -o "$work/a.json"
check "identity of TPM b" "$E" identity --tpm "$B" --json -o "$work/b.json"
check "TPM a has an RSA EK certificate" jq -e '.ek.rsa2048.certificate | startswith("-----BEGIN CERTIFICATE")' "$work/a.json"
# The certificate in NV certifies the EK the TPM derives now (checked with openssl, not eima).
jq -r '.ek.rsa2048.certificate' "$work/a.json" | openssl x509 -noout -pubkey |
	openssl pkey -pubin -outform DER >"$work/cert-key.der"
jq -r '.ek.rsa2048.pem' "$work/a.json" | openssl pkey -pubin -outform DER >"$work/ek-key.der"
check "the certificate's key is the EK" cmp -s "$work/cert-key.der" "$work/ek-key.der"
check "openssl verifies the EK certificate against the CA" bash -c \
	"jq -r '.ek.rsa2048.certificate' '$work/a.json' | openssl verify -CAfile '$work/ca.pem' >/dev/null"
check "identity's text form names the AK" bash -c "'$E' identity --tpm '$A' | grep -q '^AK (name 000b'"

echo "== enrolment of TPM a"
check "challenge" "$E" enroll challenge --identity "$work/a.json" --ek-ca "$work/ca.pem" \
	-o "$work/ch.json" --secret-out "$work/s.json"
check_eq "the secret is private" 600 "$(stat -c %a "$work/s.json")"
check "activate on TPM a" "$E" enroll activate "$work/ch.json" --tpm "$A" -o "$work/resp.json"
check_status "activate on TPM b fails" 1 "$E" enroll activate "$work/ch.json" --tpm "$B" -o "$work/resp-b.json"
check_status "finish with another secret fails" 1 "$E" enroll finish --identity "$work/a.json" \
	--response <(jq -c '.secret = "00"' "$work/resp.json") --secret "$work/s.json" -o "$work/bad.pem"
[[ ! -e $work/bad.pem ]] && pass "nothing pinned" || failed "an AK was pinned on a wrong secret"
check "finish pins the AK" "$E" enroll finish --identity "$work/a.json" --response "$work/resp.json" \
	--secret "$work/s.json" -o "$work/ak.pem"
check_eq "the pinned AK is TPM a's" "$(jq -r .ak.pem "$work/a.json")" "$(cat "$work/ak.pem")"

echo "== the pinned AK verifies TPM a's quote, not TPM b's"
# An empty kernel list: the list checks fail (no boot_aggregate), what is checked here is
# the AK and signature lines of eima verify.
: >"$work/empty.list"
N=$(openssl rand -hex 16)
for t in a b; do
	tcti=swtpm:path=$work/$t/sock
	EIMA_KERNEL_IMA_LIST=$work/empty.list "$E" quote --kernel --tpm "$tcti" --nonce "$N" \
		-o "$work/ev-$t.json" >/dev/null 2>&1 || failed "quote $t"
done
for t in a b; do
	"$E" verify "$work/ev-$t.json" --nonce "$N" --ak "$work/ak.pem" >"$work/verify-$t.txt" 2>&1
done
check "TPM a's quote: ak and signature pass with the pinned AK" \
	grep -qE '^ak +pass' "$work/verify-a.txt"
check "TPM a's quote: signature passes" grep -qE '^signature +pass' "$work/verify-a.txt"
check "TPM b's quote: ak fails with it" grep -qE '^ak +FAIL' "$work/verify-b.txt"
check "TPM b's quote: signature fails" grep -qE '^signature +FAIL' "$work/verify-b.txt"

echo "== an AK from another TPM"
# TPM a's certified EK with TPM b's AK: the verifier cannot tell, the TPMs can.
jq --slurpfile b "$work/b.json" '.ak = $b[0].ak' "$work/a.json" >"$work/swapped.json"
check "challenge for a's EK and b's AK" "$E" enroll challenge --identity "$work/swapped.json" \
	--ek-ca "$work/ca.pem" -o "$work/ch-swap.json" --secret-out "$work/s-swap.json"
check_status "TPM a refuses it (b's AK is not in it)" 1 "$E" enroll activate "$work/ch-swap.json" --tpm "$A" -o "$work/r1.json"
check_status "TPM b refuses it (a's EK is not in it)" 1 "$E" enroll activate "$work/ch-swap.json" --tpm "$B" -o "$work/r2.json"
check_status "finish with TPM a's earlier answer fails" 1 "$E" enroll finish --identity "$work/swapped.json" \
	--response "$work/resp.json" --secret "$work/s-swap.json" -o "$work/swap.pem"
check_status "finish of one identity with another's secret fails" 1 "$E" enroll finish \
	--identity "$work/b.json" --response "$work/resp.json" --secret "$work/s.json" -o "$work/swap.pem"
[[ ! -e $work/swap.pem ]] && pass "nothing pinned" || failed "a swapped AK was pinned"

echo "== an EK the CA did not certify"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=eima-other-ca \
	-keyout "$work/other-key.pem" -out "$work/other-ca.pem" 2>/dev/null
check_status "a's EK certificate against another CA" 1 "$E" enroll challenge --identity "$work/a.json" \
	--ek-ca "$work/other-ca.pem" -o "$work/x.json" --secret-out "$work/xs.json"
jq --slurpfile b "$work/b.json" '.ek.rsa2048.certificate = $b[0].ek.rsa2048.certificate' "$work/a.json" >"$work/swap-cert.json"
check_status "a's EK with b's certificate" 1 "$E" enroll challenge --identity "$work/swap-cert.json" \
	--ek-ca "$work/ca.pem" -o "$work/x.json" --secret-out "$work/xs.json"
jq '.ek.rsa2048.certificate = null' "$work/a.json" >"$work/nocert.json"
check_status "an EK without a certificate" 1 "$E" enroll challenge --identity "$work/nocert.json" \
	--ek-ca "$work/ca.pem" -o "$work/x.json" --secret-out "$work/xs.json"

echo "== a tampered challenge"
for field in credential_blob encrypted_secret; do
	jq --arg f $field '.[$f] |= (.[0:20] + (if .[20:21] == "0" then "1" else "0" end) + .[21:])' \
		"$work/ch.json" >"$work/tampered.json"
	check_status "one nibble of $field changed" 1 "$E" enroll activate "$work/tampered.json" --tpm "$A" -o "$work/t.json"
done
jq '.ak_name = "000b" + ("00" * 32)' "$work/ch.json" >"$work/tampered.json"
check "the AK name is informational: activate still answers" "$E" enroll activate "$work/tampered.json" --tpm "$A" -o "$work/t.json"

echo "== malformed input: errors, never a crash"
printf '{"version":1,' >"$work/trunc.json"
printf '[1,2]' >"$work/array.json"
jq '.ak.public = "00zz"' "$work/a.json" >"$work/badhex.json"
jq '.ak.public = "0004deadbeef"' "$work/a.json" >"$work/short.json"
jq '.ek.rsa2048.public = $x' --arg x "$(jq -r .ak.public "$work/a.json")" "$work/a.json" >"$work/wrongtype.json"
jq '.ek.rsa2048.certificate = "not a cert"' "$work/a.json" >"$work/badcert.json"
jq '.version = 2' "$work/a.json" >"$work/v2.json"
for f in trunc array badhex short wrongtype badcert v2; do
	"$E" enroll challenge --identity "$work/$f.json" --ek-ca "$work/ca.pem" -o "$work/x.json" \
		--secret-out "$work/xs.json" 2>"$work/err"
	rc=$?
	[[ $rc -eq 1 ]] && grep -q "$work/$f.json" "$work/err" &&
		pass "identity $f: $(head -c 160 "$work/err")" || failed "identity $f: exit $rc: $(cat "$work/err")"
	"$E" enroll activate "$work/$f.json" --tpm "$A" -o "$work/x.json" 2>"$work/err"
	rc=$?
	[[ $rc -eq 1 ]] && pass "challenge $f: $(head -c 160 "$work/err")" || failed "challenge $f: exit $rc"
done
jq '.credential_blob = ("00" * 300)' "$work/ch.json" >"$work/bigblob.json"
check_status "a blob of the wrong size" 1 "$E" enroll activate "$work/bigblob.json" --tpm "$A" -o "$work/x.json"
check_status "a response that is not JSON" 1 "$E" enroll finish --identity "$work/a.json" \
	--response "$work/trunc.json" --secret "$work/s.json" -o "$work/x.pem"
check "TPM a still answers after all that" "$E" enroll activate "$work/ch.json" --tpm "$A" -o "$work/resp2.json"
finish
