#!/usr/bin/env bash
# End to end: a vTPM per container. Two containers run at once; eimad starts a swtpm for
# each, binds each into the host list, and `eima quote --container` returns evidence that
# `eima verify` accepts under the HOST's AK only. Swapping the two containers' logs or
# quotes, or replaying a quote under another nonce, fails with the check named. A policy
# built from a container's own list passes; one changed digest fails naming the entry.
# When a container's last process exits its vTPM goes, leaving its list and a final quote
# that still verifies. With --vtpm none no swtpm is started for containers.
#
#   vtpm_test.sh BIN_DIR trace|lsm
# The host TPM is a swtpm eimad starts, or with EIMA_TEST_TPM=device the machine's
# /dev/tpmrm0 (the VM's); the kernel's IMA then owns PCR 10, so eimad is given PCRs 14
# (host) and 15 (containers).
BIN=$1
MODE=$2
TPM=${EIMA_TEST_TPM:-swtpm}
PCR_ARGS=()
CPCR=11
if [[ $TPM == device ]]; then
	PCR_ARGS=(--host-pcr 14 --container-pcr 15)
	CPCR=15
fi
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"

[[ $(id -u) -eq 0 ]] || skip_test "needs root (BPF)"
[[ $TPM != device || -w /dev/tpmrm0 ]] || skip_test "no /dev/tpmrm0"
command -v swtpm >/dev/null || skip_test "swtpm is not installed"
command -v tpm2_checkquote >/dev/null || skip_test "tpm2-tools is not installed"
command -v jq >/dev/null || skip_test "jq is not installed"
T=$(mktemp -d "${EIMA_TEST_TMPDIR:-/tmp}/eima-vtpm.XXXXXX")
RUN=$T/run
cleanup() {
	for d in "$T"/rootfs-*/tmp; do touch "$d/go"; done 2>/dev/null
	wait $(jobs -p) 2>/dev/null # the containers, before their files go
	stop_eimad >/dev/null 2>&1
	rm -rf "$T"
}
trap cleanup EXIT
nonce() { head -c 20 /dev/urandom | xxd -p -c 64; }
verdict() { # verdict EVIDENCE NONCE AK [args]: first_failure ("" when it verifies)
	local ev=$1 n=$2 ak=$3; shift 3
	"$BIN/eima" verify "$ev" --nonce "$n" --ak "$ak" --json "$@" | jq -r .first_failure
}
vtpm_pids() { # swtpm processes whose state is under this test's containers
	pgrep -f "swtpm socket .*$RUN/containers/" | sort
}

echo "== eimad --mode $MODE --tpm $TPM ${PCR_ARGS[*]} (vTPMs on by default); two containers at once"
start_eimad "$RUN" "$T/eimad.log" --mode "$MODE" --tpm "$TPM" "${PCR_ARGS[@]}" || { failed "eimad starts"; finish; exit; }
two_containers
check_eq "two swtpm processes serve them, state under each container's directory" \
	"$(printf '%s\n' "$RUN/containers/$A/vtpm" "$RUN/containers/$B/vtpm" | sort | xargs)" \
	"$(ps_json | jq -r --arg a "$A" --arg b "$B" '[.containers[] | select(.id == $a or .id == $b) | .vtpm.dir] | sort | join(" ")')"
check_eq "...and they are live swtpm processes" 2 "$(vtpm_pids | wc -l)"
for id in "$A" "$B"; do
	check_eq "the host list binds $id's vTPM once, as ima-buf on PCR $CPCR" "1 $CPCR ima-buf" \
		"$(awk -v n="eima-vtpm:$id" '$5 == n { c++; p=$1; t=$3 } END { print c, p, t }' "$RUN/host/ascii_runtime_measurements")"
done
check "the binding's buffer names the container and holds the EK and AK" bash -c \
	"awk -v n='eima-vtpm:$A' '\$5 == n { print \$6 }' '$RUN/host/ascii_runtime_measurements' | xxd -r -p |
	 jq -e --arg id '$A' '.container == \$id and (.ek | startswith(\"-----BEGIN PUBLIC KEY\")) and (.ak | startswith(\"-----BEGIN PUBLIC KEY\"))' >/dev/null"
check_eq "eima pcrs --container reads the vTPM" vtpm \
	"$("$BIN/eima" pcrs --run-dir "$RUN" --container "$A" --format json | jq -r .source)"

echo "== the host AK is pinned (enrolment): the only key the verifier trusts"
NH=$(nonce)
"$BIN/eima" quote --run-dir "$RUN" --nonce "$NH" --pcrs "sha256:$CPCR" -o "$T/host.json" --tpm2-tools "$T/qh" 2>/dev/null
HOST_AK=$T/qh/ak.pem
check "host AK written" test -s "$HOST_AK"

echo "== each container's evidence verifies under the host AK"
NA=$(nonce)
NB=$(nonce)
"$BIN/eima" quote --run-dir "$RUN" --container "$A" --nonce "$NA" -o "$T/a.json" --tpm2-tools "$T/qa"
check_eq "eima quote --container a exits 0" 0 $?
"$BIN/eima" quote --run-dir "$RUN" --container "$B" --nonce "$NB" -o "$T/b.json"
check_eq "eima quote --container b exits 0" 0 $?
check_eq "a's evidence is a container's, quoting its vTPM's sha256 PCR 10, with host evidence" \
	"container $A sha256 10 host" \
	"$(jq -r '"\(.source) \(.container) \(.quote.bank) \(.quote.pcrs | keys | join(",")) \(.host.source)"' "$T/a.json")"
check_status "a's vTPM AK is not the host's" 1 cmp -s "$T/qa/ak.pem" "$HOST_AK"
tpm2_checkquote -u "$T/qa/ak.pem" -m "$T/qa/attest" -s "$T/qa/signature" -f "$T/qa/pcrs" \
	-l sha256:10 -g sha256 -q "$NA" >/dev/null 2>&1
check_eq "tpm2_checkquote accepts a's vTPM quote" 0 $?
"$BIN/eima" verify "$T/a.json" --nonce "$NA" --ak "$HOST_AK" > "$T/verify-a.out"
rc=$?
check_eq "eima verify accepts a's evidence" 0 $rc
[[ $rc -eq 0 ]] || cat "$T/verify-a.out"
check_eq "...and b's" "" "$(verdict "$T/b.json" "$NB" "$HOST_AK")"
check "a's list holds its own binary, not b's" bash -c \
	"jq -r .list.data '$T/a.json' | base64 -d | grep -aq /bin/dyn-true"
check "the binding check passed for a" bash -c \
	"$BIN/eima verify '$T/a.json' --nonce '$NA' --ak '$HOST_AK' --json | jq -e '.checks.binding.result == \"pass\"' >/dev/null"

echo "== swapped logs, swapped quotes, replayed nonces fail"
jq --slurpfile b "$T/b.json" '.list = $b[0].list' "$T/a.json" > "$T/a-with-b-list.json"
check_eq "a's evidence with b's list: the replay fails" replay \
	"$(verdict "$T/a-with-b-list.json" "$NA" "$HOST_AK")"
jq --slurpfile b "$T/b.json" '.quote = $b[0].quote | .ak = $b[0].ak | .list = $b[0].list' \
	"$T/a.json" > "$T/a-with-b-vtpm.json"
check_eq "a's id with b's whole vTPM evidence under a's nonce: the nonce fails" nonce \
	"$(verdict "$T/a-with-b-vtpm.json" "$NA" "$HOST_AK")"
# b's complete container part, claimed for a, under b's nonce and host evidence for b's nonce
jq --slurpfile a "$T/a.json" '.container = $a[0].container' "$T/b.json" > "$T/b-as-a.json"
check_eq "b's vTPM evidence claimed as a's: the binding fails" binding \
	"$(verdict "$T/b-as-a.json" "$NB" "$HOST_AK")"
check_eq "a's evidence replayed for b's nonce: the host nonce fails first" host.nonce \
	"$(verdict "$T/a.json" "$NB" "$HOST_AK")"
openssl ecparam -name prime256v1 -genkey -noout -out "$T/other.key" 2>/dev/null
openssl ec -in "$T/other.key" -pubout -out "$T/other.pem" 2>/dev/null
check_eq "under another host AK: host.ak fails" host.ak "$(verdict "$T/a.json" "$NA" "$T/other.pem")"
check_eq "under a's own vTPM AK as the trusted key: host.ak fails (the vTPM is no root of trust)" \
	host.ak "$(verdict "$T/a.json" "$NA" "$T/qa/ak.pem")"

echo "== a stalled vTPM holds up only its own quote: eimad goes on answering"
A_TPM=$(ps_json | jq -r --arg id "$A" '.containers[] | select(.id == $id) | .vtpm.pid')
kill -STOP "$A_TPM"
NS=$(nonce)
"$BIN/eima" quote --run-dir "$RUN" --container "$A" --nonce "$NS" -o "$T/stalled.json" 2>"$T/stalled.err" &
QPID=$!
waiting=
for _ in $(seq 1 100); do # eima status answering at all is half the point
	status=$(timeout 10 "$BIN/eima" status --run-dir "$RUN" --json) || break
	waiting=$(jq .requests_waiting <<<"$status")
	[[ $waiting == 1 ]] && break
	sleep 0.05
done
check_eq "eima status answers while a's quote waits on its stopped vTPM" 1 "$waiting"
timeout 10 "$BIN/eima" quote --run-dir "$RUN" --nonce "$NS" -o "$T/host-meanwhile.json" 2>/dev/null
check_eq "...and so does a host quote" 0 $?
check "the container quote is still waiting" kill -0 "$QPID"
kill -CONT "$A_TPM"
wait "$QPID"
check_eq "once a's vTPM runs again, its quote completes" 0 $?
check_eq "...and verifies" "" "$(verdict "$T/stalled.json" "$NS" "$HOST_AK")"

echo "== a policy built from a's own list passes; one changed digest fails naming the entry"
jq -r .list.data "$T/a.json" | base64 -d > "$T/a-list.bin"
"$BIN/eima" policy from-log "$T/a-list.bin" -o "$T/a-policy.json" 2>/dev/null
check_eq "eima policy from-log exits 0" 0 $?
check_eq "eima verify --policy (a's own) passes" "" \
	"$(verdict "$T/a.json" "$NA" "$HOST_AK" --policy "$T/a-policy.json")"
d=$(jq -r '.digests["/bin/dyn-true"][0]' "$T/a-policy.json")
jq --arg d "${d:0:-1}$([[ ${d: -1} == 0 ]] && echo 1 || echo 0)" '.digests["/bin/dyn-true"] = [$d]' \
	"$T/a-policy.json" > "$T/a-policy-bad.json"
"$BIN/eima" verify "$T/a.json" --nonce "$NA" --ak "$HOST_AK" --json --policy "$T/a-policy-bad.json" > "$T/policy-bad.json"
check_eq "a changed digest: exit 1" 1 $?
check_eq "...the policy check fails first" policy "$(jq -r .first_failure "$T/policy-bad.json")"
check_eq "...naming /bin/dyn-true with its digest and why" \
	"/bin/dyn-true sha256:$(sha256_of "$T/rootfs-a/bin/dyn-true") digest not allowed" \
	"$(jq -r '.policy_failures[] | "\(.path) \(.digest) \(.reason)"' "$T/policy-bad.json")"

echo "== when a's last process exits, its vTPM goes; its list and a final quote stay"
touch "$T/rootfs-a/tmp/go"
wait "$CPID_a"
# Retiring takes two quotes and a swtpm stop, off the event loop: "pending", then a path.
a_state() { ps_json | jq -r --arg id "$A" '.containers[] | select(.id == $id) | "\(.state) \(.final_evidence)"'; }
for _ in $(seq 1 200); do
	[[ $(a_state) == "exited /"* && $("$BIN/eima" status --run-dir "$RUN" --json | jq .vtpms_stopping) == 0 ]] && break
	sleep 0.05
done
check_eq "eima ps shows a exited, with its final evidence" "exited $RUN/containers/$A/final-evidence.json" "$(a_state)"
check_eq "one vTPM is left (b's)" 1 "$(vtpm_pids | wc -l)"
check "a's vTPM state (its seeds) is removed" test ! -e "$RUN/containers/$A/vtpm"
check "a's list stays" test -s "$RUN/containers/$A/binary_runtime_measurements"
FINAL=$RUN/containers/$A/final-evidence.json
check "a's final evidence is kept" test -s "$FINAL"
NF=$(sha256sum "$RUN/containers/$A/binary_runtime_measurements" | cut -d' ' -f1)
check_eq "its nonce is the SHA-256 of a's final list" "$NF" "$(jq -r .nonce "$FINAL")"
check_eq "the final evidence verifies under the host AK" "" "$(verdict "$FINAL" "$NF" "$HOST_AK")"
check_eq "...referring to the host list by file, not carrying a copy" \
	"$RUN/host/binary_runtime_measurements null" "$(jq -r '"\(.host.list.file) \(.host.list.data)"' "$FINAL")"
# The quote authenticates the file: a verifier's copy with one byte of a binding changed
# fails. (The byte is in the binding's PEM text, so the record still parses.)
cp "$RUN/host/binary_runtime_measurements" "$T/host-copy.bin"
off=$(grep -abo -- "-----BEGIN PUBLIC KEY-----" "$T/host-copy.bin" | tail -1 | cut -d: -f1)
printf 'X' | dd of="$T/host-copy.bin" bs=1 seek=$((off + 30)) conv=notrunc 2>/dev/null
check_eq "verified against a changed copy of the host list (--host-list): host.template_hash fails" host.template_hash \
	"$(verdict "$FINAL" "$NF" "$HOST_AK" --host-list "$T/host-copy.bin")"
check_eq "...and against a missing one: the evidence cannot be read" evidence \
	"$(verdict "$FINAL" "$NF" "$HOST_AK" --host-list "$T/no-such-file")"
"$BIN/eima" quote --run-dir "$RUN" --container "$A" --nonce "$NA" -o "$T/late.json" 2> "$T/late.err"
check_eq "quoting an exited container fails" 1 $?
check "...and points at its final evidence" grep -q final-evidence.json "$T/late.err"

echo "== containers in quick succession (a freed namespace inode is reused at once) are each their own"
before=$(ps_json | jq -c '[.containers[].id]')
new_exited() { # containers not in $before that have exited, as jq selects
	ps_json | jq --argjson old "$before" "[.containers[] | select((.id | IN(\$old[])) | not) | select(.state == \"exited\" ${1:-})]"
}
for i in 1 2 3; do
	"$BIN/eima-test-container" "$T/rootfs-a" -- /bin/dyn-true
done
settle "$RUN"
for _ in $(seq 1 200); do # each seen, bound, then reaped or retired
	[[ $(new_exited 'and (.final_evidence | startswith("/"))' | jq length) -ge 3 ]] && break
	sleep 0.05
done
check_eq "three new containers, each exited with final evidence" 3 \
	"$(new_exited 'and (.final_evidence | startswith("/"))' | jq length)"
for dir in $(new_exited | jq -r '.[].log'); do
	check_eq "$(basename "$dir"): its own list, nothing inherited from the namespace before" \
		"/bin/dyn-true /lib/x86_64-linux-gnu/libc.so.6 /lib64/ld-linux-x86-64.so.2 boot_aggregate" \
		"$(list_entries "$dir/ascii_runtime_measurements" | cut -d' ' -f2 | sort | xargs)"
done

echo "== eimad stops cleanly: b still runs, so its list and vTPM state stay for the next eimad"
stop_eimad
check_eq "eimad exits 0" 0 $?
check "b's vTPM state is kept" test -e "$RUN/containers/$B/vtpm/tpm2-00.permall"
check "b has no final evidence (it has not exited)" test ! -e "$RUN/containers/$B/final-evidence.json"
check_eq "no vTPM swtpm is left (each saved its state)" 0 "$(vtpm_pids | wc -l)"
touch "$T/rootfs-b/tmp/go"
wait "$CPID_b"

echo "== --vtpm none: containers are only in the host list"
rm -rf "$RUN"
start_eimad "$RUN" "$T/eimad2.log" --mode "$MODE" --tpm "$TPM" "${PCR_ARGS[@]}" --vtpm none --keep-exited 1 || { failed "eimad --vtpm none starts"; finish; exit; }
echo "== --keep-exited 1: of two exited containers, the newer one stays"
for i in 1 2; do
	"$BIN/eima-test-container" "$T/rootfs-a" -- /bin/dyn-true
	settle "$RUN"
	for _ in $(seq 1 100); do
		[[ $("$BIN/eima" status --run-dir "$RUN" --json | jq '.containers_exited + .containers_pruned') -ge $i ]] && break
		sleep 0.05
	done
	[[ $i == 1 ]] && first=$(ps_json | jq -r '.containers[0].log')
done
check_eq "eima ps shows one exited container" 1 "$(ps_json | jq '[.containers[] | select(.state == "exited")] | length')"
check_eq "eima status counts one pruned" 1 "$("$BIN/eima" status --run-dir "$RUN" --json | jq .containers_pruned)"
check "the older one had a directory under RUN/containers" test "${first#"$RUN"/containers/}" != "$first"
check "...which is removed" test ! -e "$first"
check "the newer one's list stays" test -s "$(ps_json | jq -r '.containers[0].log')/binary_runtime_measurements"

rm -f "$T/rootfs-b/tmp/go" "$T/rootfs-b/tmp/ready"
start_container b || failed "container b starts again"
settle "$RUN"
B2=$(container_id b)
check_eq "eima ps shows no vTPM for it" none \
	"$(ps_json | jq -r --arg id "$B2" '.containers[] | select(.id == $id) | .vtpm.state')"
check_eq "no swtpm for containers" 0 "$(vtpm_pids | wc -l)"
check_eq "no binding entry in the host list" 0 "$(grep -c ' eima-vtpm:' "$RUN/host/ascii_runtime_measurements")"
"$BIN/eima" quote --run-dir "$RUN" --container "$B2" --nonce "$NA" -o "$T/none.json" 2> "$T/none.err"
check_eq "eima quote --container fails" 1 $?
check "...saying there is no vTPM" grep -q "vtpm none" "$T/none.err"
touch "$T/rootfs-b/tmp/go"
wait "$CPID_b"
stop_eimad
check_eq "eimad exits 0" 0 $?
finish
