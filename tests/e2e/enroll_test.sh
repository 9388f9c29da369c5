#!/usr/bin/env bash
# `eima identity` and `eima enroll` against two real swtpms whose EK certificates
# swtpm_setup --create-ek-cert made with swtpm_localca and a CA made here (never committed):
# the AK of the TPM that holds the certified EK is pinned and verifies `eima quote` evidence;
# the other TPM's AK, an EK certificate from another CA, a tampered challenge, a wrong
# secret and malformed files all fail with an error and pin nothing. Both EKs: RSA 2048
# (certificate by swtpm_setup) and ECC P-256 (swtpm_setup 0.7 certifies a P-384 one only, so
# the test issues it with swtpm_cert and the same CA, and writes it to NV as a manufacturer
# would). Then, as root, eimad --mode trace owns TPM a: enrolment through its control socket
# pins the AK eimad quotes with, and a quote from that eimad verifies with it.
#
#   enroll_test.sh BIN_DIR [trace]
BIN=$1
MODE=${2:-trace}
source "$(dirname "$0")/lib.sh"
command -v swtpm_setup >/dev/null || skip_test "no swtpm_setup (Debian package swtpm-tools)"
command -v swtpm_localca >/dev/null || skip_test "no swtpm_localca (Debian package swtpm-tools)"
command -v jq >/dev/null || skip_test "no jq"
work=$(mktemp -d)
# TPM a's state is where eimad --tpm swtpm keeps its TPM (RUN/tpm), so that eimad later
# owns this very TPM, EK certificates included.
RUN=$work/run
declare -A dir=([a]=$RUN/tpm [b]=$work/b)
stop_swtpm() {
	local pid
	[[ -f ${dir[$1]}/pid ]] || return 0
	pid=$(cat "${dir[$1]}/pid")
	rm -f "${dir[$1]}/pid"
	kill "$pid" 2>/dev/null
	for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
}
cleanup() {
	stop_eimad >/dev/null 2>&1
	for t in a b; do stop_swtpm $t; done
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
start_swtpm() {
	swtpm socket --tpm2 --tpmstate dir="${dir[$1]}" --server type=unixio,path="${dir[$1]}/sock" \
		--ctrl type=unixio,path="${dir[$1]}/sock.ctrl" --flags startup-clear \
		--pid file="${dir[$1]}/pid" --daemon
}
for t in a b; do
	mkdir -p "${dir[$t]}"
	swtpm_setup --tpm2 --tpmstate "${dir[$t]}" --create-ek-cert --config "$work/setup.conf" \
		--overwrite >"$work/setup-$t.log" 2>&1 || { cat "$work/setup-$t.log"; failed "swtpm_setup $t"; finish; exit; }
	start_swtpm $t || { failed "swtpm $t"; finish; exit; }
done
cat "$work/ca/issuercert.pem" "$work/ca/swtpm-localca-rootca-cert.pem" >"$work/ca.pem"
A=swtpm:path=${dir[a]}/sock
B=swtpm:path=${dir[b]}/sock

# The ECC P-256 EK's certificate, as the manufacturer of TPM a would make it: issued by the
# same CA for the EK's public point, written to the profile's NV index 0x01c0000a.
ecc_certify() {
	local t=$1 tcti=swtpm:path=${dir[$1]}/sock pub size
	pub=$("$E" identity --tpm "$tcti" --json | jq -r '.ek["ecc-p256"].public')
	# TPM2B_PUBLIC ends with the point: x and y, each a 2-byte size and 32 bytes.
	swtpm_cert --tpm2 --type ek --decryption --ecc-curveid secp256r1 \
		--ecc-x "${pub: -132:64}" --ecc-y "${pub: -64}" \
		--signkey "$work/ca/signkey.pem" --issuercert "$work/ca/issuercert.pem" \
		--subject "CN=eima test ECC EK $t" --serial $((RANDOM + 1000)) --days 1 \
		--tpm-manufacturer id:00001014 --tpm-model swtpm --tpm-version id:20191023 \
		--tpm-spec-family 2.0 --tpm-spec-level 0 --tpm-spec-revision 164 \
		--out-cert "$work/ecc-ek-$t.der" >"$work/swtpm_cert-$t.log" 2>&1 || return 1
	size=$(stat -c %s "$work/ecc-ek-$t.der")
	tpm2_nvdefine -T "$tcti" -C p -s "$size" \
		-a "ppwrite|ppread|ownerread|authread|no_da|platformcreate" 0x01c0000a >/dev/null &&
		tpm2_nvwrite -T "$tcti" -C p -i "$work/ecc-ek-$t.der" 0x01c0000a
}
for t in a b; do
	ecc_certify $t || { cat "$work/swtpm_cert-$t.log"; failed "certify TPM $t's ECC EK"; finish; exit; }
done

echo "== identity"
check "identity of TPM a" "$E" identity --tpm "$A" --json -o "$work/a.json"
check "identity of TPM b" "$E" identity --tpm "$B" --json -o "$work/b.json"
for ek in rsa2048 ecc-p256; do
	check "TPM a has an $ek EK certificate" jq -e --arg k $ek '.ek[$k].certificate | startswith("-----BEGIN CERTIFICATE")' "$work/a.json"
	# The certificate in NV certifies the EK the TPM derives now (checked with openssl, not eima).
	jq -r --arg k $ek '.ek[$k].certificate' "$work/a.json" | openssl x509 -noout -pubkey |
		openssl pkey -pubin -outform DER >"$work/cert-key.der"
	jq -r --arg k $ek '.ek[$k].pem' "$work/a.json" | openssl pkey -pubin -outform DER >"$work/ek-key.der"
	check "the $ek certificate's key is the EK" cmp -s "$work/cert-key.der" "$work/ek-key.der"
	check "openssl verifies the $ek EK certificate against the CA" bash -c \
		"jq -r --arg k $ek '.ek[\$k].certificate' '$work/a.json' | openssl verify -CAfile '$work/ca.pem' >/dev/null"
done
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

echo "== enrolment of TPM a by its ECC P-256 EK"
check "challenge --ek ecc-p256" "$E" enroll challenge --identity "$work/a.json" --ek ecc-p256 \
	--ek-ca "$work/ca.pem" -o "$work/ch-ecc.json" --secret-out "$work/s-ecc.json"
check_eq "the challenge names the ECC EK" ecc-p256 "$(jq -r .ek "$work/ch-ecc.json")"
check_eq "its encrypted secret is an ECC point (2+32+2+32 bytes, sized)" 140 \
	"$(jq -r '.encrypted_secret | length' "$work/ch-ecc.json")"
check "activate on TPM a" "$E" enroll activate "$work/ch-ecc.json" --tpm "$A" -o "$work/resp-ecc.json"
check_status "activate on TPM b fails" 1 "$E" enroll activate "$work/ch-ecc.json" --tpm "$B" -o "$work/x.json"
check "finish pins the AK" "$E" enroll finish --identity "$work/a.json" --response "$work/resp-ecc.json" \
	--secret "$work/s-ecc.json" -o "$work/ak-ecc.pem"
check "the AK pinned by the ECC EK is the one pinned by the RSA EK" cmp -s "$work/ak.pem" "$work/ak-ecc.pem"
jq '.ek = "rsa2048"' "$work/ch-ecc.json" >"$work/ch-ecc-as-rsa.json"
check_status "the ECC challenge given to the RSA EK fails" 1 "$E" enroll activate "$work/ch-ecc-as-rsa.json" --tpm "$A" -o "$work/x.json"

echo "== the pinned AK verifies TPM a's quote, not TPM b's"
# An empty kernel list: the list checks fail (no boot_aggregate), what is checked here is
# the AK and signature lines of eima verify.
: >"$work/empty.list"
N=$(openssl rand -hex 16)
for t in a b; do
	tcti=swtpm:path=${dir[$t]}/sock
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
for ek in rsa2048 ecc-p256; do
	check "$ek: challenge for a's EK and b's AK" "$E" enroll challenge --identity "$work/swapped.json" \
		--ek $ek --ek-ca "$work/ca.pem" -o "$work/ch-swap-$ek.json" --secret-out "$work/s-swap-$ek.json"
	check_status "$ek: TPM a refuses it (b's AK is not in it)" 1 "$E" enroll activate "$work/ch-swap-$ek.json" --tpm "$A" -o "$work/r1.json"
	check_status "$ek: TPM b refuses it (a's EK is not in it)" 1 "$E" enroll activate "$work/ch-swap-$ek.json" --tpm "$B" -o "$work/r2.json"
done
cp "$work/s-swap-rsa2048.json" "$work/s-swap.json"
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
jq --slurpfile b "$work/b.json" '.ek["ecc-p256"].certificate = $b[0].ek["ecc-p256"].certificate' "$work/a.json" >"$work/swap-cert-ecc.json"
check_status "a's ECC EK with b's certificate" 1 "$E" enroll challenge --identity "$work/swap-cert-ecc.json" \
	--ek ecc-p256 --ek-ca "$work/ca.pem" -o "$work/x.json" --secret-out "$work/xs.json"
jq '.ek["ecc-p256"].certificate = .ek.rsa2048.certificate' "$work/a.json" >"$work/rsa-cert-on-ecc.json"
check_status "the RSA EK's certificate on the ECC EK" 1 "$E" enroll challenge --identity "$work/rsa-cert-on-ecc.json" \
	--ek ecc-p256 --ek-ca "$work/ca.pem" -o "$work/x.json" --secret-out "$work/xs.json"
for ek in rsa2048 ecc-p256; do
	jq --arg k $ek '.ek[$k].certificate = null' "$work/a.json" >"$work/nocert.json"
	check_status "an $ek EK without a certificate" 1 "$E" enroll challenge --identity "$work/nocert.json" \
		--ek $ek --ek-ca "$work/ca.pem" -o "$work/x.json" --secret-out "$work/xs.json"
done

echo "== a tampered challenge"
for ch in ch ch-ecc; do
	for field in credential_blob encrypted_secret; do
		jq --arg f $field '.[$f] |= (.[0:20] + (if .[20:21] == "0" then "1" else "0" end) + .[21:])' \
			"$work/$ch.json" >"$work/tampered.json"
		check_status "$ch: one nibble of $field changed" 1 "$E" enroll activate "$work/tampered.json" --tpm "$A" -o "$work/t.json"
	done
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

if [[ $(id -u) -ne 0 ]]; then
	echo "SKIP: enrolment through eimad needs root (BPF)"
	finish
	exit
fi
echo "== eimad --mode $MODE owns TPM a: enrolment through its control socket"
# swtpm serves one client: eimad's. The test's own swtpm on TPM a goes; eimad starts its
# own on the same state.
stop_swtpm a
start_eimad "$RUN" "$work/eimad.log" --mode "$MODE" --tpm swtpm || { failed "eimad starts"; finish; exit; }
check "identity through eimad" "$E" identity --run-dir "$RUN" --json -o "$work/d.json"
check_eq "it is TPM a's identity (EKs, certificates, AK)" "$(jq -S . "$work/a.json")" "$(jq -S . "$work/d.json")"
check "identity's text form through eimad" bash -c "'$E' identity --run-dir '$RUN' | grep -q '^AK (name 000b'"
check "--tpm and --run-dir together are refused" bash -c "! '$E' identity --run-dir '$RUN' --tpm '$A' 2>/dev/null"
for ek in rsa2048 ecc-p256; do
	rm -f "$work/ak-d-$ek.pem"
	check "$ek: challenge from eimad's identity" "$E" enroll challenge --identity "$work/d.json" --ek $ek \
		--ek-ca "$work/ca.pem" -o "$work/ch-d-$ek.json" --secret-out "$work/s-d-$ek.json"
	check "$ek: activate through eimad" "$E" enroll activate "$work/ch-d-$ek.json" --run-dir "$RUN" -o "$work/resp-d-$ek.json"
	check "$ek: finish pins eimad's AK" "$E" enroll finish --identity "$work/d.json" \
		--response "$work/resp-d-$ek.json" --secret "$work/s-d-$ek.json" -o "$work/ak-d-$ek.pem"
	"$E" enroll activate "$work/ch-swap-$ek.json" --run-dir "$RUN" -o "$work/x.json" 2>"$work/err"
	rc=$?
	check_eq "$ek: a's EK with b's AK fails through eimad" 1 $rc
	check "$ek: saying why" grep -q "integrity check failed\|not made for this TPM" "$work/err"
done

echo "== a quote from that eimad verifies with the AK pinned through it"
cp -L /usr/bin/true "$work/measured"
printf 'eima-enroll-%s' "$RANDOM" >>"$work/measured"
"$work/measured"
settle "$RUN"
N=$(openssl rand -hex 20)
check "eima quote through eimad" "$E" quote --run-dir "$RUN" --nonce "$N" -o "$work/ev-d.json"
"$E" verify "$work/ev-d.json" --nonce "$N" --ak "$work/ak-d-ecc-p256.pem" >"$work/verify-d.txt" 2>&1
rc=$?
check_eq "eima verify passes every check with the enrolled AK" 0 $rc
[[ $rc -eq 0 ]] || cat "$work/verify-d.txt"
jq -r .ak.pem "$work/b.json" >"$work/ak-b.pem"
"$E" verify "$work/ev-d.json" --nonce "$N" --ak "$work/ak-b.pem" >"$work/verify-d-b.txt" 2>&1
check "and fails with TPM b's AK" grep -qE '^ak +FAIL' "$work/verify-d-b.txt"

echo "== bad requests to eimad: errors, eimad keeps serving"
# The raw control protocol, as a buggy or hostile client would speak it.
control() {
	python3 - "$RUN/eimad.sock" "$1" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
print(s.makefile().readline().strip())
PY
}
for req in '{"cmd":"activate"}' '{"cmd":"activate","challenge":"x"}' \
	'{"cmd":"activate","challenge":{"version":1}}' \
	"$(jq -c '{cmd: "activate", challenge: (. + {credential_blob: "zz"})}' "$work/ch-d-rsa2048.json")" \
	"$(jq -c '{cmd: "activate", challenge: (. + {ek: "ecc-p384"})}' "$work/ch-d-rsa2048.json")" \
	"$(jq -c '{cmd: "activate", challenge: (. + {encrypted_secret: ("00" * 600)})}' "$work/ch-d-rsa2048.json")"; do
	reply=$(control "$req")
	check "${req:0:60}...: an error reply: ${reply:0:140}" jq -e '.error | length > 0' <<<"$reply"
done
# Challenges the TPM itself refuses (a seed that does not decrypt: TPM_RC_FAILURE for RSA,
# a point off the curve for ECC) leave eimad's TPM serving.
for ek in rsa2048 ecc-p256; do
	jq '.encrypted_secret |= (.[0:20] + (if .[20:21] == "0" then "1" else "0" end) + .[21:])' \
		"$work/ch-d-$ek.json" >"$work/tampered-d.json"
	check_status "$ek: a tampered seed through eimad fails" 1 "$E" enroll activate "$work/tampered-d.json" --run-dir "$RUN" -o "$work/x.json"
	check "$ek: eimad still activates" "$E" enroll activate "$work/ch-d-$ek.json" --run-dir "$RUN" -o "$work/x.json"
done
N=$(openssl rand -hex 20)
check "and still quotes" "$E" quote --run-dir "$RUN" --nonce "$N" -o "$work/ev-d2.json"
check "what verifies with the enrolled AK" "$E" verify "$work/ev-d2.json" --nonce "$N" --ak "$work/ak-d-rsa2048.pem"
# nobody may read the challenge (stdin, opened here), not talk to eimad.
for cmd in "identity" "enroll activate /dev/stdin -o -"; do
	out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$E" $cmd --run-dir "$RUN" 2>&1 <"$work/ch-d-rsa2048.json")
	rc=$?
	check_eq "eima ${cmd% /dev*} as nobody fails" 1 $rc
	check "saying why: ${out:0:120}" grep -q "eimad.sock.*Permission denied" <<<"$out"
done
stop_eimad
check_eq "eimad stops cleanly" 0 $?
finish
