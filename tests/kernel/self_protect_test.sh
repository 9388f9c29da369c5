#!/usr/bin/env bash
# Self-protection in lsm mode, on a real kernel (inside tests/vm/vmrun): eimad --protect
# with enforcement (a locked keyring of --trusted-cert) and its set pinned under this test's
# own bpffs directory. As root, each of these must be refused and change nothing:
# `bpftool map update` of eima's appraisal switch, `bpftool link detach` of an eima link,
# kill -9 and SIGTERM of eimad, ptrace access to its memory, `rm` of its pins, `keyctl
# unlink` and `keyctl invalidate` of its keyring and key; `keyctl clear @u` leaves the
# keyring alive (a blessed program still verifies). `eima stop` still stops it and
# lifts everything. Then a crash (kill -9 through the test-only bypass, from a cgroup of
# this test's): enforcement and protection stay in force while eimad is down, and the
# restarted eimad adopts the pinned set. Last, `eima stop --force-cleanup` after a crash
# removes every pin and keyring. The EXIT trap stops eimad and removes pins, keyrings and
# the cgroup on every path.
#
#   self_protect_test.sh BIN_DIR
BIN=$1
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../e2e/lib.sh"

grep -q bpf /sys/kernel/security/lsm 2>/dev/null || skip_test "BPF LSM is not active (run inside vmrun)"
[[ $(id -u) -eq 0 ]] || skip_test "needs root"
for t in bpftool keyctl python3 curl promtool; do
	command -v $t >/dev/null || skip_test "no $t"
done
grep -q -- --protect-test-kill-cgroup <<<"$("$BIN/eimad" --help)" ||
	skip_test "eimad was built without EIMA_TEST_BYPASS (the crash needs it)"

T=$(mktemp -d /tmp/eima-protect.XXXXXX)
RUN=$T/run
PIN=/sys/fs/bpf/eima-test-protect-$$
CG=/sys/fs/cgroup/eima-test-protect-$$
mkdir "$CG" || skip_test "no cgroup v2 at /sys/fs/cgroup"
alive() { [[ -n ${EIMAD_PID:-} ]] && kill -0 "$EIMAD_PID" 2>/dev/null; }
# kill -9 of eimad from this test's cgroup: what --protect-test-kill-cgroup lets through.
crash() {
	bash -c 'echo $$ >"$1/cgroup.procs" && kill -9 "$2"' _ "$CG" "$EIMAD_PID"
	wait "$EIMAD_PID" 2>/dev/null
	EIMAD_PID=
}
cleanup() {
	if alive; then
		"$BIN/eima" stop --run-dir "$RUN" --timeout 20 >/dev/null 2>&1 || crash
	fi
	# What a crashed eimad's protection leaves: removed as eimad's executable may.
	"$BIN/eimad" --force-cleanup --pin-dir "$PIN" >/dev/null 2>&1
	rm -rf "$PIN"
	for k in $(keyctl rlist @u 2>/dev/null); do
		[[ $(keyctl rdescribe "$k" 2>/dev/null) == keyring\;*\;eima:"$RUN" ]] &&
			keyctl unlink "$k" @u >/dev/null 2>&1
	done
	rmdir "$CG" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=eima-protect" \
	-keyout "$T/key.pem" -out "$T/cert.pem" 2>/dev/null
root=$T/root
make_rootfs "$root"
chmod -R a+rX "$root"
# Appraisal in containers only: nothing in $root is blessed, so under enforcement every
# exec there is refused (eima-test-container exits 125 when its exec fails).
cat >"$T/policy" <<'EOP'
measure func=BPRM_CHECK
appraise func=BPRM_CHECK appraise_type=imasig container=*
EOP
in_container() { "$BIN/eima-test-container" "$root" -- /bin/true 2>/dev/null; }
# A root whose static busybox is blessed, twice (two files: a verdict, once cached, would
# not ask the keyring again). They run under enforcement only while the keyring lives.
broot=$T/blessed-root
make_rootfs "$broot"
cp "$broot/bin/busybox" "$broot/bin/busybox-after"
chmod -R a+rX "$broot"
printf '{"spdxVersion": "SPDX-2.3", "name": "protect", "files": [%s, %s]}\n' \
	"$(printf '{"fileName": "/bin/%s", "checksums": [{"algorithm": "SHA256", "checksumValue": "%s"}]}' \
		busybox "$(sha256_of "$broot/bin/busybox")")" \
	"$(printf '{"fileName": "/bin/%s", "checksums": [{"algorithm": "SHA256", "checksumValue": "%s"}]}' \
		busybox-after "$(sha256_of "$broot/bin/busybox")")" >"$T/sbom.json"
blessed_runs() { "$BIN/eima-test-container" "$broot" -- "/bin/$1" true 2>/dev/null; }
# in_container once the kernel has let go of the programs: it frees a sleepable LSM
# program's link after an RCU-tasks-trace grace period, not at close, and under TCG that
# took over a second once in CI (the exec still refused). Enforcement must end within 20 s.
runs_once_released() {
	for _ in $(seq 1 200); do in_container && return 0; sleep 0.1; done
	in_container
}
in_container
check_eq "before eimad, a program runs in the container" 0 $?

"$BIN/eima" bless --sbom "$T/sbom.json" --root "$broot" --key "$T/key.pem" --cert "$T/cert.pem" \
	>"$T/bless.out" 2>&1
check_eq "eima bless exits 0" 0 $?

starts=0
start() {
	starts=$((starts + 1))
	start_eimad "$RUN" "$T/eimad.$starts.log" --mode lsm --tpm none --vtpm none \
		--pin-dir "$PIN" --policy "$T/policy" --appraise enforce \
		--trusted-cert "$T/cert.pem" --protect --protect-test-kill-cgroup "$CG" \
		--metrics "unix:$RUN/metrics.sock"
}
status_json() { "$BIN/eima" status --run-dir "$RUN" --json; }
field() { status_json | python3 -c 'import json,sys
v=json.load(sys.stdin)
for k in sys.argv[1].split("."): v=v[k]
print(str(v).lower() if isinstance(v, bool) else v)' "$1"; }
refusals() { field "protection.refused.$1"; }
# progs NAME_PREFIX: how many BPF programs of that name are loaded, once the count has
# settled (a detached program is freed after an RCU grace period).
progs() {
	local n
	for _ in $(seq 1 50); do
		n=$(bpftool prog show | grep -c "name $1")
		[[ $n -eq ${2:-$n} ]] && break
		sleep 0.1
	done
	echo "$n"
}
zero_cfg=(key hex 00 00 00 00 value hex 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00)

start || exit 1
check_eq "protection is on" true "$(field protection.on)"
hooks=$(bpftool prog show | grep -c 'name eima_protect')
check "protection's hooks are attached ($hooks)" test "$hooks" -ge 8
# The measurer is measured (docs/measurer.md): its programs are in the host list, each with
# the tag bpftool shows for it, after the measuring set's records.
recorded=$(awk '$3 == "ima-buf" && $5 ~ /^eima-bpf-prog:eima_protect/ {print $6}' \
	"$RUN/host/ascii_runtime_measurements" | while read -r h; do xxd -r -p <<<"$h"; echo; done |
	python3 -c 'import json,sys
for l in sys.stdin: r=json.loads(l); print(r["name"][:15], r["tag"], r["object"])' | sort)
shown=$(bpftool -j prog show | python3 -c 'import json,sys
for p in json.load(sys.stdin):
	if p.get("name", "").startswith("eima_protect"): print(p["name"][:15], p["tag"], "self_protect.bpf.o")' | sort)
check "the host list records protection programs ($(wc -l <<<"$recorded"))" test -n "$recorded"
check_eq "the host list records each protection program with its tag" "$shown" "$recorded"
# Without --bpf-cert eimad has nothing to check a signature against: the skeleton it
# carries, unsigned, and said so (bpf_policy_test.sh has the signed load).
check_eq "without --bpf-cert its programs are unsigned" false "$(field protection.programs.signed)"
check "and status says why" grep -q "no --bpf-cert" <<<"$(field protection.programs.loaded)"
check_eq "and so are its measuring programs, from the skeleton" "false measure_lsm.bpf.o" \
	"$(field programs_object.signed) $(field programs_object.object)"
check_eq "status reports the test bypass" true "$(field protection.test_bypass)"
objects=$(field protection.objects)
check "eima's BPF objects are protected ($objects)" test "$objects" -ge 10
KR=$(field enforcement.keyring)
CERTKEY=$(keyctl rlist "$KR" | awk '{print $1}')
check "the keyring holds the certificate's key" test -n "$CERTKEY"
in_container
check_eq "enforcement: an unblessed program is refused in the container" 125 $?

# ---- each tampering is refused, and changes nothing ----
check_refused "bpftool map update of appraise_cfg (enforcement's switch) is refused" \
	bpftool map update pinned "$PIN/appraise_cfg" "${zero_cfg[@]}"
mid=$(bpftool -j prog show | python3 -c 'import json,sys
print(next(p["map_ids"][0] for p in json.load(sys.stdin) if p.get("name") == "eima_bprm_check_hash" or p.get("name") == "eima_bprm_check"))')
check_refused "bpftool map update by id (map $mid of eima_bprm_check) is refused" \
	bpftool map update id "$mid" key hex 00 00 00 00 value hex 00
check_refused "bpftool map delete is refused" \
	bpftool map delete pinned "$PIN/appraise_cfg" key hex 00 00 00 00
link=$(ls "$PIN" | grep -m1 '^link_')
check_refused "bpftool link detach of $link is refused" bpftool link detach pinned "$PIN/$link"
plink=$(ls -d "$PIN"/protect_*/link_eima_protect_kill | head -1)
check_refused "detaching protection's own kill hook is refused" bpftool link detach pinned "$plink"
check_refused "kill -9 of eimad is refused" kill -9 "$EIMAD_PID"
check_refused "SIGTERM from root is refused (eima stop and PID 1 stop eimad)" kill -TERM "$EIMAD_PID"
check "kill -0 (does it exist?) still works" kill -0 "$EIMAD_PID"
# /proc/PID/mem turns the hook's EPERM into EACCES: the hook's counter shows it was the hook.
before=$(refusals ptrace)
python3 -c 'import sys; open(f"/proc/{sys.argv[1]}/mem", "r+b")' "$EIMAD_PID" 2>/dev/null
check_status "opening eimad's memory (ptrace access) is refused" 1 test $? -eq 0
check "... by the ptrace hook" test "$(refusals ptrace)" -gt "$before"
check_refused "rm of a pin is refused" rm -f "$PIN/appraise_cfg"
rm -rf "$PIN" 2>/dev/null
check "rm -rf of the pin directory leaves the pins" test -e "$PIN/appraise_cfg"
check_refused "renaming a pin is refused" mv "$PIN/$link" "$PIN/renamed"
check_refused "keyctl unlink of the keyring is refused" keyctl unlink "$KR" @u
check_refused "keyctl invalidate of the keyring is refused" keyctl invalidate "$KR"
# The keyring's lock (no write or setattr permission, enforcement's own) refuses these
# before the hook is asked (EACCES).
keyctl unlink "$CERTKEY" "$KR" >/dev/null 2>&1
check_status "keyctl unlink of the certificate's key is refused" 1 test $? -eq 0
keyctl setperm "$KR" 0x3f3f0000 >/dev/null 2>&1
check_status "keyctl setperm of the keyring is refused" 1 test $? -eq 0
openssl x509 -in "$T/cert.pem" -outform DER -out "$T/cert.der"
keyctl padd asymmetric "" "$KR" <"$T/cert.der" >/dev/null 2>&1
check_status "adding a key to the keyring is refused" 1 test $? -eq 0
# EPERM from the hook where root possesses the key (through @u), else EACCES.
keyctl invalidate "$CERTKEY" >/dev/null 2>&1
check_status "keyctl invalidate of the certificate's key is refused" 1 test $? -eq 0
check "eimad still runs" alive
check_eq "keyring still linked" 1 "$(keyctl rlist @u | tr ' ' '\n' | grep -cx "$KR")"
in_container
check_eq "enforcement still refuses after all that" 125 $?
for k in map_write link signal ptrace pin key; do
	check "refusals counted: $k" test "$(refusals $k)" -ge 1
done
# Every refusal is an audit record in RUN/audit.jsonl, beside enforcement's, once eimad's
# loop has read the ring: as many records as refusals counted, none lost.
records_settled() {
	status_json | python3 -c 'import json,sys
p=json.load(sys.stdin)["protection"]
sys.exit(0 if p["records_written"] + p["records_lost"] == sum(p["refused"].values()) else 1)'
}
for _ in $(seq 50); do records_settled && break; sleep 0.2; done
check "every refusal counted has its audit record" records_settled
check_eq "none was lost to a full ring" 0 "$(field protection.records_lost)"
for k in map_write link signal ptrace pin key; do
	check "an audit record of a $k refusal" \
		grep -q "\"mechanism\":\"self_protection\".*\"operation\":\"$k\"" "$RUN/audit.jsonl"
done
check "kill -9's record names the signal" \
	grep -q '"detail":"signal 9 to eimad".*"mechanism":"self_protection"' "$RUN/audit.jsonl"
# The same counts, as a monitoring system reads them (docs/metrics.md).
curl -sf --unix-socket "$RUN/metrics.sock" http://eimad/metrics >"$T/metrics.txt"
check "promtool accepts the metrics" bash -c 'promtool check metrics <"$1"' _ "$T/metrics.txt"
check_eq "eima_protection_on is 1" 1 "$(awk '$1 == "eima_protection_on" {print $2}' "$T/metrics.txt")"
for k in signal key; do
	check_eq "eima_protection_refusals_total{attempt=\"$k\"} is the count status shows" \
		"$(refusals $k)" "$(sed -n "s/^eima_protection_refusals_total{attempt=\"$k\"} //p" "$T/metrics.txt")"
done
blessed_runs busybox
check_eq "a blessed program runs under enforcement" 0 $?
# Emptying root's user keyring asks no permission of the keyrings in it: @u loses its
# link, and eimad's process keyring still holds the keyring.
keyctl clear @u
check_eq "keyctl clear @u (not refusable: it asks @u, root's own)" 0 $?
check_eq "the keyring is no longer linked in @u" 0 "$(keyctl rlist @u 2>/dev/null | tr ' ' '\n' | grep -cx "$KR")"
check "the keyring lives on (eimad's process keyring holds it)" keyctl describe "$KR"
blessed_runs busybox-after
check_eq "a blessed program never run before still verifies after keyctl clear @u" 0 $?

# ---- eima stop: authorized over the control socket; protection lifted by eimad ----
"$BIN/eima" stop --run-dir "$RUN" --timeout 30 >"$T/stop.out" 2>&1
check_eq "eima stop exits 0" 0 $?
wait "$EIMAD_PID" 2>/dev/null
check_eq "eimad's exit status after eima stop" 0 $?
check_status "eimad has exited" 1 kill -0 "$EIMAD_PID"
EIMAD_PID=
check_status "the clean stop removed the pins" 1 test -e "$PIN"
check_eq "no protection hook left" 0 "$(progs eima_protect 0)"
runs_once_released
check_eq "enforcement ended with eimad" 0 $?
# Its last link was eimad's process keyring (@u was emptied above): gone with eimad.
freed=no
for _ in $(seq 1 50); do
	keyctl describe "$KR" >/dev/null 2>&1 || { freed=yes; break; }
	sleep 0.1
done
check_eq "the keyring is freed once eimad has exited" yes "$freed"

# ---- crash: kill -9 through the test bypass; everything stays in force ----
start || exit 1
old=$EIMAD_PID
crash
check_status "the bypass killed eimad" 1 kill -0 "$old"
check "the pins outlive the crash" test -e "$PIN/appraise_cfg"
in_container
check_eq "enforcement stays in force while eimad is down" 125 $?
check_refused "rm of a pin is refused while eimad is down" rm -f "$PIN/appraise_cfg"
check_refused "bpftool map update is refused while eimad is down" \
	bpftool map update pinned "$PIN/appraise_cfg" "${zero_cfg[@]}"
protect_records() { grep -c '"mechanism":"self_protection"' "$RUN/audit.jsonl"; }
before=$(protect_records)
start || exit 1
check "the refusals made while eimad was down reach the audit log ($before, then $(protect_records))" \
	test "$(protect_records)" -ge $((before + 2))
check_eq "the restarted eimad adopts the pinned set" true "$(field probe_adopted)"
check_eq "protection is on again" true "$(field protection.on)"
check_eq "one protection set (the crashed one's was replaced)" 1 "$(ls -d "$PIN"/protect_* | wc -l)"
check_eq "one set of protection hooks attached" "$hooks" "$(progs eima_protect "$hooks")"
in_container
check_eq "enforcement after the restart" 125 $?
check_refused "kill -9 of the restarted eimad is refused" kill -9 "$EIMAD_PID"
"$BIN/eima" stop --run-dir "$RUN" --timeout 30 >/dev/null 2>&1
check_eq "eima stop stops the restarted eimad" 0 $?
wait "$EIMAD_PID" 2>/dev/null
EIMAD_PID=
check_status "the pins are gone" 1 test -e "$PIN"

# ---- eima stop --force-cleanup: what a crashed eimad left ----
start || exit 1
"$BIN/eima" stop --force-cleanup --run-dir "$RUN" --pin-dir "$PIN" >/dev/null 2>&1
check_status "force-cleanup is refused while eimad runs" 1 test $? -eq 0
check "... and removed nothing" test -e "$PIN/appraise_cfg"
crash
"$BIN/eima" stop --force-cleanup --run-dir "$RUN" --pin-dir "$PIN" >"$T/cleanup.out" 2>&1
check_eq "eima stop --force-cleanup after a crash exits 0" 0 $?
check_status "its pins are gone" 1 test -e "$PIN"
check_eq "no eima BPF program left" 0 "$(progs eima_ 0)"
check_eq "no eima keyring left" 0 "$(for k in $(keyctl rlist @u); do keyctl rdescribe "$k"; done |
	grep -c ';eima:')"
runs_once_released
check_eq "nothing enforces any more" 0 $?
cat "$T/cleanup.out"
finish
