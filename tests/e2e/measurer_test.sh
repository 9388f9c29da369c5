#!/usr/bin/env bash
# End to end: the measurer is measured (docs/measurer.md). Right after boot_aggregate the
# host list names eimad's binary with the digest of the file on disk, each BPF program eimad
# runs with the tag `bpftool prog show` reports and the SHA-256 of its object, and the
# compiled policy; they replay against the TPM like every entry (evmctl, eima log verify);
# a runtime policy pinning them, built from those independent sources, passes `eima verify
# --policy`, and fails, naming the entry, when one program, the binary or the policy differs.
# A restart appends them again. With `signed`, eimad gets --bpf-cert and loads its
# measuring programs from their signed object (measure_MODE.signed.bpf.o, checked by the
# kernel on 6.18+, by eimad before): each is recorded signed, by the build key's subject,
# with that object's SHA-256, and the same checks hold.
#
#   measurer_test.sh BIN_DIR trace|lsm [signed]
BIN=$1
MODE=$2
SIGNED=${3:-}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"

[[ $(id -u) -eq 0 ]] || skip_test "needs root (BPF)"
command -v jq >/dev/null || skip_test "jq is not installed"
command -v bpftool >/dev/null || PATH=$PATH:/usr/sbin
command -v bpftool >/dev/null || skip_test "bpftool is not installed"
T=$(mktemp -d "${EIMA_TEST_TMPDIR:-/tmp}/eima-measurer.XXXXXX")
RUN=$T/run
BPF_DIR=$(cd "$BIN/../bpf" && pwd)
cleanup() { stop_eimad >/dev/null 2>&1; rm -rf "$T"; }
trap cleanup EXIT
LIST=$RUN/host/ascii_runtime_measurements
SIGNING=()
WANT_SIGNED=false
if [[ $SIGNED == signed ]]; then
	SIGNING=(--bpf-cert "$BPF_DIR/test-signing.crt" --bpf-objects "$BPF_DIR")
	WANT_SIGNED=true
	# The subject eimad names as signer, in OpenSSL's one-line form.
	SIGNER=$(openssl x509 -in "$BPF_DIR/test-signing.crt" -noout -subject -nameopt compat | sed "s/^subject=//")
fi

# names FILE: the event names of an ascii list, one a line.
names() { awk '{print $5}' "$1"; }
# record NAME: the buffer of the first ima-buf entry NAME in the host list, as text.
record() { awk -v n="$1" '$3 == "ima-buf" && $5 == n {print $6; exit}' "$LIST" | xxd -r -p; }

echo "== eimad --mode $MODE --tpm swtpm ${SIGNING[*]}"
start_eimad "$RUN" "$T/eimad.log" --mode "$MODE" --tpm swtpm "${SIGNING[@]}" || { failed "eimad starts"; finish; exit; }
settle "$RUN"
cp "$LIST" "$T/list0"

exe=$(readlink -f "$BIN/eimad")
# No process substitution: the test VM has no /dev/fd.
names "$T/list0" | sed -n 's/^eima-bpf-prog://p' > "$T/progs.txt"
mapfile -t progs < "$T/progs.txt"
n=${#progs[@]}
echo "  $n programs recorded: ${progs[*]}"
check "eimad recorded at least one BPF program" test "$n" -gt 0
expected=$(printf '%s\n' boot_aggregate "$exe" "${progs[@]/#/eima-bpf-prog:}" eima-policy)
check_eq "boot_aggregate, eimad, its programs, its policy: the list's first entries" \
	"$expected" "$(names "$T/list0" | head -$((n + 3)))"
check_eq "eimad's entry: host PCR 10, ima-ng, the digest of the binary on disk" \
	"10 ima-ng sha256:$(sha256_of "$exe") $exe" \
	"$(awk -v p="$exe" '$5 == p {print $1, $3, $4, $5; exit}' "$T/list0")"

echo "== each program: the tag bpftool reports for eimad's programs, the object's SHA-256"
# eimad's programs: the ids of the programs its fds hold (a program's or link's fdinfo
# names it), as the kernel says, then what bpftool reports for those ids. bpftool names a
# program by its first 15 bytes (BPF_OBJ_NAME_LEN).
grep -h '^prog_id:' /proc/"$EIMAD_PID"/fdinfo/* 2>/dev/null | awk '{print $2}' | sort -un > "$T/ids.txt"
mapfile -t ids < "$T/ids.txt"
echo "  eimad holds programs ${ids[*]}"
for id in "${ids[@]}"; do bpftool prog show id "$id" --json; done | jq -s . > "$T/progs.json"
# bpftool prints the full name where the program's BTF has it (the kernel keeps 15 bytes).
jq -r '.[] | "\(.name[0:15]) \(.type) \(.tag)"' "$T/progs.json" | sort > "$T/bpftool.txt"
: > "$T/recorded.txt"
for p in "${progs[@]}"; do
	rec=$(record "eima-bpf-prog:$p")
	jq -r '"\(.name[0:15]) \(.type) \(.tag)"' <<<"$rec" >> "$T/recorded.txt"
	obj=$(jq -r .object <<<"$rec")
	check_eq "$p: object_sha256 is sha256sum of $obj" "$(sha256_of "$BPF_DIR/$obj")" \
		"$(jq -r .object_sha256 <<<"$rec")"
	check_eq "$p: recorded signed=$WANT_SIGNED, as eimad loads it" $WANT_SIGNED "$(jq -r .signed <<<"$rec")"
	if [[ $WANT_SIGNED == true ]]; then
		check_eq "$p: from the signed object" "measure_$MODE.signed.bpf.o" "$obj"
		check_eq "$p: signed by the build key's subject" "$SIGNER" "$(jq -r .signer <<<"$rec")"
	fi
	check_eq "$p: the record is compact JSON with sorted keys (jq -cS rebuilds it)" \
		"$rec" "$(jq -cS . <<<"$rec")"
done
sort -o "$T/recorded.txt" "$T/recorded.txt"
check_eq "name, type and tag of every program eimad holds, as bpftool shows them" \
	"$(cat "$T/bpftool.txt")" "$(cat "$T/recorded.txt")"
check_eq "the policy entry is eima policy check's digest of the policy eimad runs (exec)" \
	"sha256:$("$BIN/eima" policy check exec --mode "$MODE" --json | jq -r .eima_policy_sha256)" \
	"$(awk '$5 == "eima-policy" {print $4; exit}' "$T/list0")"

echo "== and they measure: a container's binary and the libc it maps, with their digests"
# The exec comes from one program, the mmap of libc from another (in trace mode a syscall
# tracepoint, attached through a perf event): each must have run.
start_container a || failed "container a starts"
settle "$RUN"
A=$(container_id a)
check "eima ps lists the container" test -n "$A"
r=$T/rootfs-a
for f in /bin/dyn-true /lib/x86_64-linux-gnu/libc.so.6; do
	list_entries "$RUN/containers/$A/ascii_runtime_measurements" > "$T/a.txt"
	check "its list has $f with the digest of the file" grep -qxF "$(sha256_of "$r$f") $f" "$T/a.txt"
done
touch "$r/tmp/go"
wait "$CPID_a"

echo "== they are in the TPM like every entry"
snapshot "$RUN" "$T/snap"
if command -v evmctl >/dev/null; then
	evmctl ima_measurement --ignore-violations --pcrs sha1,"$T/snap/pcrs.sha1" \
		--pcrs sha256,"$T/snap/pcrs.sha256" "$T/snap/binary_runtime_measurements" > "$T/evmctl.out" 2>&1
	rc=$?
	check_eq "evmctl ima_measurement validates the host list" 0 "$rc"
	[[ $rc -eq 0 ]] || tail -5 "$T/evmctl.out"
else
	failed "evmctl is not installed (scripts/setup.sh installs ima-evm-utils)"
fi
check "eima log verify replays it to the TPM's PCRs at its last entry" \
	"$BIN/eima" log verify "$T/snap/binary_runtime_measurements" --pcrs sha1,"$T/snap/pcrs.sha1" --pcrs sha256,"$T/snap/pcrs.sha256"

echo "== a runtime policy pinning them, from independent sources, passes eima verify"
N=$(head -c 20 /dev/urandom | xxd -p -c 64)
"$BIN/eima" quote --run-dir "$RUN" --nonce "$N" -o "$T/ev.json" --tpm2-tools "$T/q" >/dev/null
check_eq "eima quote exits 0" 0 $?
AK=$T/q/ak.pem
jq -r '.list.data' "$T/ev.json" | base64 -d > "$T/ev-list.bin"
# Everything else the host ran is allowed as the quoted list has it; eimad's entries are
# then replaced by values a verifier knows without the list: sha256sum of the binary, and
# each program's record rebuilt from bpftool's type and tag and the object's sha256sum.
"$BIN/eima" policy from-log "$T/ev-list.bin" -o "$T/from-log.json" 2>/dev/null
pin=$(jq -n --arg exe "$exe" --arg d "sha256:$(sha256_of "$exe")" '{($exe): [$d]}')
bufs='{}'
for p in "${progs[@]}"; do
	rec=$(record "eima-bpf-prog:$p")
	obj=$(jq -r .object <<<"$rec")
	read -r type tag <<<"$(jq -r --arg n "${p:0:15}" '.[] | select(.name[0:15] == $n) |
		"\(.type) \(.tag)"' "$T/progs.json")"
	rebuilt=$(jq -cnS --arg name "$p" --arg type "$type" --arg tag "$tag" --arg obj "$obj" \
		--arg sha "$(sha256_of "$BPF_DIR/$obj")" --argjson signed $WANT_SIGNED \
		--arg signer "${SIGNER:-}" '{format: "eima-bpf-prog", version: 1, name: $name,
		type: $type, tag: $tag, object: $obj, object_sha256: $sha, signed: $signed} +
		if $signed then {signer: $signer} else {} end')
	bufs=$(jq --arg k "eima-bpf-prog:$p" --arg d "sha256:$(printf '%s' "$rebuilt" | sha256sum | cut -d' ' -f1)" \
		'. + {($k): [$d]}' <<<"$bufs")
done
bufs=$(jq --arg d "sha256:$("$BIN/eima" policy check exec --mode "$MODE" --json | jq -r .eima_policy_sha256)" \
	'. + {"eima-policy": [$d]}' <<<"$bufs")
jq --argjson pin "$pin" --argjson bufs "$bufs" '.digests += $pin | .ima_buf += $bufs' \
	"$T/from-log.json" > "$T/pinned.json"
"$BIN/eima" verify "$T/ev.json" --nonce "$N" --ak "$AK" --policy "$T/pinned.json" --json > "$T/v-ok.json"
rc=$?
check_eq "eima verify --policy (pinned) exits 0" 0 $rc
[[ $rc -eq 0 ]] || jq -c '.first_failure, .policy_failures[0:3]' "$T/v-ok.json"

# verify_fails WHAT POLICY NAME REASON: verify exits 1 at the policy check, whose only
# failure names NAME with a reason containing REASON.
verify_fails() {
	"$BIN/eima" verify "$T/ev.json" --nonce "$N" --ak "$AK" --policy "$2" --json > "$T/v.json"
	check_eq "$1: eima verify exits 1" 1 $?
	check_eq "$1: the policy check fails, naming the entry" "policy 1 $3" \
		"$(jq -r '"\(.first_failure) \(.policy_failures | length) \(.policy_failures[0].path)"' "$T/v.json")"
	jq -r '.policy_failures[0].reason' "$T/v.json" > "$T/reason.txt"
	check "$1: the reason says what differs" grep -q -- "$4" "$T/reason.txt"
	"$BIN/eima" verify "$T/ev.json" --nonce "$N" --ak "$AK" --policy "$2" > "$T/v.txt" 2>&1
	check "$1: the text report names it too" grep -q -- "$3" "$T/v.txt"
}
other=$(printf '%064d' 1)
p0=${progs[0]}
jq --arg k "eima-bpf-prog:$p0" --arg d "sha256:$other" '.ima_buf[$k] = [$d]' "$T/pinned.json" > "$T/bad-prog.json"
verify_fails "one program pinned to another digest" "$T/bad-prog.json" "eima-bpf-prog:$p0" \
	"eimad's BPF program $p0 differs from the one pinned (tag $(jq -r .tag <<<"$(record "eima-bpf-prog:$p0")")"
jq --arg k "$exe" --arg d "sha256:$other" '.digests[$k] = [$d]' "$T/pinned.json" > "$T/bad-exe.json"
verify_fails "eimad's binary pinned to another digest" "$T/bad-exe.json" "$exe" "digest not allowed"
jq --arg d "sha256:$other" '.ima_buf["eima-policy"] = [$d]' "$T/pinned.json" > "$T/bad-policy.json"
verify_fails "the policy pinned to another digest" "$T/bad-policy.json" "eima-policy" "another compiled policy"
jq '.ima_buf["eima-bpf-prog:eima_not_loaded"] = .ima_buf["eima-policy"]' "$T/pinned.json" > "$T/extra.json"
verify_fails "a pinned program eimad did not record" "$T/extra.json" "eima-bpf-prog:eima_not_loaded" \
	"missing from the list"

echo "== a restart appends them again, after what the list holds"
stop_eimad
start_eimad "$RUN" "$T/eimad2.log" --mode "$MODE" --tpm swtpm "${SIGNING[@]}" || { failed "eimad restarts"; finish; exit; }
settle "$RUN"
check_eq "two eima-policy entries" 2 "$(names "$LIST" | grep -cx eima-policy)"
check_eq "two entries for eimad's binary" 2 "$(names "$LIST" | grep -cxF "$exe")"
check_eq "the list still starts with one boot_aggregate" 1 "$(names "$LIST" | grep -cx boot_aggregate)"
snapshot "$RUN" "$T/snap2"
check "the resumed list replays to the TPM's PCRs at its last entry" \
	"$BIN/eima" log verify "$T/snap2/binary_runtime_measurements" --pcrs sha1,"$T/snap2/pcrs.sha1" --pcrs sha256,"$T/snap2/pcrs.sha256"
stop_eimad

if [[ $SIGNED == signed ]]; then
	echo "== killed, the signed set stays attached from its pins and the next eimad adopts it"
	PINS=/sys/fs/bpf/eima-measurer-$$
	trap 'cleanup; rm -rf "$PINS"' EXIT
	ARUN=$T/adopt-run
	start_eimad "$ARUN" "$T/eimad3.log" --mode "$MODE" --tpm none --vtpm none "${SIGNING[@]}" \
		--pin-dir "$PINS" || failed "eimad starts with pins"
	check "each program's link is pinned" test -e "$PINS/link_${progs[0]}" -a -e "$PINS/link_${progs[-1]}"
	kill -KILL "$EIMAD_PID"
	wait "$EIMAD_PID" 2>/dev/null
	start_eimad "$ARUN" "$T/eimad4.log" --mode "$MODE" --tpm none --vtpm none "${SIGNING[@]}" \
		--pin-dir "$PINS" || failed "eimad restarts on the pins"
	"$BIN/eima" status --run-dir "$ARUN" --json > "$T/adopt.json"
	check_eq "the killed eimad's signed set is adopted" true "$(jq -r .probe_adopted "$T/adopt.json")"
	[[ $(jq -r .probe_adopted "$T/adopt.json") == true ]] || jq -r .probe_adoption "$T/adopt.json"
	check_eq "it is still the signed object's, signed" "measure_$MODE.signed.bpf.o true" \
		"$(jq -r '"\(.programs_object.object) \(.programs_object.signed)"' "$T/adopt.json")"
	stop_eimad
	check_status "a clean stop removes the pins" 1 test -e "$PINS/link_${progs[0]}"
fi
finish
