#!/usr/bin/env bash
# "Only signed BPF" (eima bpf enforce) on both paths, inside the test's own cgroup:
#   native (6.18+, bpf/bpf_policy.bpf.c): the kernel checks signatures; an unsigned
#     BPF_PROG_LOAD is refused and one signed against an untrusted keyring too;
#   trusted-loader (6.12-6.17, bpf/bpf_policy_tl.bpf.c): eima checks them in user space and
#     is the only loader trusted; an unsigned load is refused, a signed object with changed
#     instructions or data is refused by `eima bpf load`, and a program loaded by hand is
#     created only if its tag is one `eima bpf load` recorded (the same instructions load,
#     one changed immediate does not).
# On both, eima's own signed objects load, outside the cgroup nothing changes, audit mode
# refuses nothing and records, and every refusal (and every audited load) is a JSON line
# of the audit log that `eima audit` reads back. Then an IMA policy FILE with
# `appraise func=BPF_CHECK appraise_type=imasig` drives it (eima bpf enforce --policy): for
# every task but its exception's cgroup, with its keyrings=; and its audit form. Last, eimad
# applies the same rule from its own --policy: unsigned loads refused while its own
# measurement goes on, refusals in RUN/audit.jsonl, the policy kept across a kill -9 and
# replaced by the restarted eimad, gone after `eima stop`; with --protect, the policy's
# pins, link, switch and keyring refused to root as the rest of eima is, until `eima stop`;
# its audit form; and a refusal to start where it cannot enforce (trace mode). Pins under
# its own bpffs directories, and removes them, its cgroups, its keyrings, eimad and the
# enforcing process on every exit.
#   bpf_policy_test.sh BIN_DIR BPF_DIR UNSIGNED.bpf.o SOCKET_SAMPLE.bpf.o EXPECTED_PATH
BIN=$1
BPF=$2
UNSIGNED=$3
SOCKET_SAMPLE=$4
EXPECTED_PATH=$5
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../e2e/lib.sh"
source "$here/keyrings.sh"
[[ $(id -u) -eq 0 ]] || skip_test "needs root (BPF, keyrings, cgroups)"
T=$(mktemp -d "${EIMA_TEST_TMPDIR:-/tmp}/eima-bpf-policy.XXXXXX")
PIN=/sys/fs/bpf/eima-bpf-policy-test-$$
CG=/sys/fs/cgroup/eima-bpf-policy-test-$$
CGX=/sys/fs/cgroup/eima-bpf-policy-exempt-$$
EPIN=/sys/fs/bpf/eima-bpf-policy-eimad-$$
TPIN=/sys/fs/bpf/eima-bpf-policy-trace-$$
ERUN=$T/eimad-run
ENFORCER=
cleanup() {
	[[ -n $ENFORCER ]] && kill "$ENFORCER" 2>/dev/null && wait "$ENFORCER" 2>/dev/null
	# A protected eimad refuses signals: its authorized stop first, then what it left.
	if [[ -n ${EIMAD_PID:-} ]] && kill -0 "$EIMAD_PID" 2>/dev/null; then
		"$BIN/eima" stop --run-dir "$ERUN" --timeout 60 >/dev/null 2>&1 ||
			"$BIN/eima" stop --force-cleanup --pin-dir "$EPIN" >/dev/null 2>&1
	fi
	[[ -n ${EIMAD_PID:-} ]] && kill -KILL "$EIMAD_PID" 2>/dev/null && wait "$EIMAD_PID" 2>/dev/null
	rm -rf "$PIN" "$EPIN" "$TPIN" /sys/fs/bpf/eima-bpf-policy-unsigned-$$
	rmdir "$CG" "$CGX" 2>/dev/null
	unlink_keyrings
	rm -rf "$T"
}
trap cleanup EXIT

PATH_KIND=$("$BIN/eima" bpf path)
check_eq "eima bpf path names this kernel's path" "$EXPECTED_PATH" "$PATH_KIND"
KR=$(new_keyring eima-test-build "$BPF/test-signing.crt")
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=eima untrusted" \
	-addext subjectKeyIdentifier=hash -keyout "$T/c.key" -out "$T/c.crt" 2>/dev/null
KR_OTHER=$(new_keyring eima-test-other "$T/c.crt")
"$BIN/eima" bpf sign "$UNSIGNED" --key "$T/c.key" --cert "$T/c.crt" -o "$T/other-signed.o" >/dev/null
"$BIN/eima" bpf sign "$SOCKET_SAMPLE" --key "$BPF/test-signing.key" --cert "$BPF/test-signing.crt" \
	-o "$T/socket-signed.o" >/dev/null
if [[ $PATH_KIND == native ]]; then
	POLICY=$BPF/bpf_policy.signed.bpf.o
	SIGNER=(--keyring "$KR")
else
	POLICY=$BPF/bpf_policy_tl.signed.bpf.o
	SIGNER=(--cert "$BPF/test-signing.crt")
fi
mkdir "$CG" "$T/run"
LOG=$T/run/audit.jsonl
in_cgroup() { bash -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$CG" "$@"; }
unsigned_load() { # where: in_cgroup or nothing; exit status of bpftool prog load
	"$@" bpftool prog load "$UNSIGNED" /sys/fs/bpf/eima-bpf-policy-unsigned-$$ >"$T/bpftool.out" 2>&1
	local rc=$?
	rm -f /sys/fs/bpf/eima-bpf-policy-unsigned-$$
	return $rc
}
stat_of() { # FIELD -> its value in the pinned policy_stats
	bpftool -j map dump pinned "$PIN/map_policy_stats" | grep -o "\"$1\":[0-9]*" | head -n1 | cut -d: -f2
}
start_enforcing() { # [--cgroup DIR] [--audit] [--policy FILE]: eima bpf enforce, staying to
	# write the audit log
	"$BIN/eima" bpf enforce "$POLICY" "${SIGNER[@]}" --pin "$PIN" \
		--audit-log "$LOG" "$@" >"$T/enforce.out" 2>&1 &
	ENFORCER=$!
	for _ in $(seq 600); do
		grep -q "writing refused" "$T/enforce.out" && break
		kill -0 "$ENFORCER" 2>/dev/null || break
		sleep 0.2
	done
	cat "$T/enforce.out"
	grep -q "writing refused" "$T/enforce.out"
}
stop_enforcing() { # the audit log is complete once it has exited
	kill -TERM "$ENFORCER" && wait "$ENFORCER"
	local rc=$?
	ENFORCER=
	tail -n1 "$T/enforce.out"
	return $rc
}
log_count() { # PATTERN -> lines of the audit log matching it
	local n
	n=$(grep -c -- "$1" "$LOG" 2>/dev/null)
	echo "${n:-0}"
}

check "before enforcement an unsigned load works in the cgroup" unsigned_load in_cgroup

# A signed object whose program the verifier refuses: the loader's refusal says why.
"$BIN/eima" bpf sign "$(dirname "$SOCKET_SAMPLE")/refused_sample.bpf.o" \
	--key "$BPF/test-signing.key" --cert "$BPF/test-signing.crt" -o "$T/refused-signed.o" >/dev/null
out=$(in_cgroup "$BIN/eima" bpf load "$T/refused-signed.o" "${SIGNER[@]}" 2>&1)
rc=$?
echo "$out"
check "a signed program the verifier refuses is not loaded (rc $rc)" test "$rc" != 0
check "and eima bpf load gives the verifier's reason" grep -q "(verifier: " <<<"$out"

echo "== enforce ($PATH_KIND)"
check "eima bpf enforce loads the signed policy program" start_enforcing --cgroup "$CG"
check "and says which path it took" grep -q "$([[ $PATH_KIND == native ]] && echo "native: the kernel checked" || echo "trusted-loader: eima checked")" "$T/enforce.out"
check_status "an unsigned load (bpftool prog load) is refused in the cgroup" 255 unsigned_load in_cgroup
grep -m1 "failed\|rror" "$T/bpftool.out"
check "bpftool reports EPERM" grep -q "Operation not permitted" "$T/bpftool.out"
if [[ $PATH_KIND == native ]]; then
	out=$(in_cgroup "$BIN/eima" bpf load "$T/other-signed.o" --keyring "$KR_OTHER" 2>&1)
	echo "$out"
	check "a load signed against an untrusted keyring is refused" \
		grep -q "load the signed loader.*Operation not permitted" <<<"$out"
else
	out=$(in_cgroup "$BIN/eima" bpf load "$T/other-signed.o" --cert "$BPF/test-signing.crt" 2>&1)
	echo "$out"
	check "an object signed by another key is refused by eima bpf load" \
		grep -q "loader signature of" <<<"$out"
	# One instruction of the signed program, inside the loader's data, changed: the data's
	# hash is no longer the one the signed loader names.
	objcopy_=$(command -v llvm-objcopy-19 || command -v llvm-objcopy)
	"$objcopy_" --dump-section .eima.loader.data="$T/data" "$T/socket-signed.o"
	python3 - "$T/data" <<'PY'
import struct, sys
d = bytearray(open(sys.argv[1], "rb").read())
i = d.find(struct.pack("<BBhi", 0xB4, 0, 0, 7) + struct.pack("<BBhi", 0x95, 0, 0, 0))
assert i >= 0, "w0 = 7; exit not in the loader's data"
d[i + 4] = 8
open(sys.argv[1], "wb").write(d)
PY
	cp "$T/socket-signed.o" "$T/socket-changed.o"
	"$objcopy_" --update-section .eima.loader.data="$T/data" "$T/socket-changed.o"
	out=$(in_cgroup "$BIN/eima" bpf load "$T/socket-changed.o" --cert "$BPF/test-signing.crt" 2>&1)
	echo "$out"
	check "a signed object whose program was changed is refused by eima bpf load" \
		grep -q "SHA-256 is not the one its signed" <<<"$out"
	out=$(in_cgroup "$BIN/eima" bpf load "$T/socket-signed.o" 2>&1)
	check "without --cert eima bpf load says why it cannot check" grep -q -- "--cert" <<<"$out"
	out=$(in_cgroup python3 "$here/raw_prog_load.py" 7)
	echo "by hand, w0 = 7; exit, before eima recorded its tag: $out"
	check "the sample by hand is refused before its tag is recorded" test "$out" = "errno EPERM"
	out=$(in_cgroup "$BIN/eima" bpf load "$T/socket-signed.o" "${SIGNER[@]}" --policy "$PIN" 2>&1)
	echo "$out"
	check "eima bpf load loads the signed sample and records its tag" \
		grep -q "tags recorded in $PIN" <<<"$out"
	tag=$(awk '/^program:  socket_sample tag/ { print $4 }' <<<"$out")
	out=$(in_cgroup python3 "$here/raw_prog_load.py" 7)
	echo "by hand, w0 = 7; exit: $out"
	check_eq "the same instructions, by hand, load (their tag was recorded)" "loaded tag $tag" "$out"
	out=$(in_cgroup python3 "$here/raw_prog_load.py" 8)
	echo "by hand, w0 = 8; exit: $out"
	check_eq "one changed instruction, by hand, is refused" "errno EPERM" "$out"
fi
# eima's own signed objects load on both paths.
for obj in measure_lsm "$(basename "$POLICY" .signed.bpf.o)"; do
	out=$(in_cgroup "$BIN/eima" bpf load "$BPF/$obj.signed.bpf.o" "${SIGNER[@]}" 2>&1)
	echo "$out"
	check "eima's own signed $obj loads in the cgroup" grep -q "loaded .* signature" <<<"$out"
done
# measure_trace attached: its tp_btf program with a plain link, its two syscall
# tracepoints through a perf event each (what eimad does in trace mode with --bpf-cert).
out=$(in_cgroup "$BIN/eima" bpf load "$BPF/measure_trace.signed.bpf.o" "${SIGNER[@]}" \
	--attach --pin "$TPIN" 2>&1)
echo "$out"
check "eima's own signed measure_trace loads and attaches in the cgroup" \
	grep -q "loaded .* signature" <<<"$out"
for p in eima_exec:raw_tracepoint eima_mmap:perf_event eima_mprotect:perf_event; do
	link=$(bpftool -j link show pinned "$TPIN/link_${p%%:*}" 2>/dev/null | jq -r .type)
	check_eq "${p%%:*} is attached by a ${p#*:} link" "${p#*:}" "$link"
done
rm -rf "$TPIN"
check "outside the cgroup an unsigned load still works" unsigned_load
refused=$(stat_of refused)
check "refusals are counted ($refused)" test "$refused" -ge 2
if [[ $PATH_KIND == native ]]; then
	check "signed loaders are counted ($(stat_of allowed_signed))" test "$(stat_of allowed_signed)" -ge 3
	check "the programs they loaded from BPF are counted ($(stat_of allowed_kernel))" \
		test "$(stat_of allowed_kernel)" -ge 3
else
	check "loads by the trusted loader are counted ($(stat_of allowed_loader))" \
		test "$(stat_of allowed_loader)" -ge 4
	check_eq "one load was allowed by its recorded tag" 1 "$(stat_of allowed_tag)"
fi
check "eima bpf enforce --audit-log stops on SIGTERM" stop_enforcing
check_eq "every refusal is an audit event" "$refused" "$(log_count '"decision":"denied"')"
check_eq "each names the BPF policy" "$refused" "$(log_count '"mechanism":"bpf_policy"')"
check "bpftool's refusal is there, with its comm and the operation" \
	grep -q '"comm":"bpftool".*"operation":"bpf_prog_load"' "$LOG"
if [[ $PATH_KIND == native ]]; then
	check "the reason of an unsigned load" grep -q '"reason":"unsigned_bpf"' "$LOG"
	check "the reason of an untrusted keyring" grep -q '"reason":"untrusted_keyring"' "$LOG"
else
	check "the changed program's refusal names its tag" \
		grep -q '"digest":"tag:[0-9a-f]\{16\}".*"reason":"unknown_tag"' "$LOG"
fi
"$BIN/eima" audit --run-dir "$T/run"
check "eima audit reads the log back" bash -c "'$BIN/eima' audit --run-dir '$T/run' | grep -q 'DENIED host.*bpf_prog_load'"
rm -rf "$PIN"
# The kernel releases an unpinned link from a work item, a moment after rm returns.
unsigned_load_soon() {
	for _ in $(seq 50); do
		unsigned_load in_cgroup && return 0
		sleep 0.2
	done
	return 1
}
check "unpinned and its process gone, the policy is gone: an unsigned load works again" \
	unsigned_load_soon

echo "== audit"
rm -f "$LOG"
check "eima bpf enforce --audit" start_enforcing --cgroup "$CG" --audit
check "in audit mode an unsigned load works" unsigned_load in_cgroup
audited=$(stat_of audited)
check "and is counted ($audited)" test "$audited" -ge 1
check "with its loader's name" bash -c "bpftool map dump pinned '$PIN/map_policy_stats' | grep -q bpftool"
check_eq "nothing was refused" 0 "$(stat_of refused)"
check "eima bpf enforce --audit-log stops" stop_enforcing
check_eq "every audited load is an audit event, as would_deny" "$audited" "$(log_count '"decision":"would_deny"')"
check_eq "none says denied" 0 "$(log_count '"decision":"denied"')"
check "with nobody writing the log, an audited load still works" unsigned_load in_cgroup
check "eima bpf drain writes what waited in the ring" \
	"$BIN/eima" bpf drain --pin "$PIN" --audit-log "$LOG"
check_eq "so every audited load is still an audit event" "$(stat_of audited)" \
	"$(log_count '"decision":"would_deny"')"

# The guest runs nothing but this test, so these policies judge every task (no cgroup=
# scope) and the exception's cgroup shows that it is the policy that exempts; the pins go in
# the teardown whatever happens.
echo "== policy file: appraise func=BPF_CHECK appraise_type=imasig"
rm -rf "$PIN"
mkdir "$CGX"
in_exempt() { bash -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$CGX" "$@"; }
rm -f "$LOG"
extra=
[[ $PATH_KIND == native ]] && extra=" keyrings=$KR_OTHER"
cat >"$T/bpf.policy" <<P
measure func=BPRM_CHECK
dont_appraise func=BPF_CHECK cgroup=$CGX
appraise func=BPF_CHECK appraise_type=imasig$extra
P
"$BIN/eima" policy check "$T/bpf.policy"
check "eima policy check shows the rule" \
	bash -c "'$BIN/eima' policy check '$T/bpf.policy' | grep -q '$T/bpf.policy:3: BPF loads: enforce'"
check "and its exception" \
	bash -c "'$BIN/eima' policy check '$T/bpf.policy' | grep -q '$T/bpf.policy:2: BPF loads: exception: the tasks of cgroup $CGX'"
check "eima bpf enforce --policy FILE" start_enforcing --policy "$T/bpf.policy"
check "says what the policy set" grep -q "policy $T/bpf.policy:3: enforce, 1 exception" "$T/enforce.out"
check_status "the rule refuses an unsigned load (bpftool prog load) of any task" 255 unsigned_load
check "with EPERM" grep -q "Operation not permitted" "$T/bpftool.out"
check_status "in the test's cgroup too" 255 unsigned_load in_cgroup
out=$("$BIN/eima" bpf load "$T/socket-signed.o" "${SIGNER[@]}" 2>&1)
echo "$out"
check "a signed object loads" grep -q "loaded .* signature" <<<"$out"
if [[ $PATH_KIND == native ]]; then
	out=$("$BIN/eima" bpf load "$T/other-signed.o" --keyring "$KR_OTHER" 2>&1)
	echo "$out"
	check "one signed against the rule's keyrings= loads" grep -q "loaded .* signature" <<<"$out"
fi
check "the exception's cgroup loads unsigned" unsigned_load in_exempt
refused=$(stat_of refused)
check "refusals are counted ($refused)" test "$refused" -ge 2
check "eima bpf enforce --policy stops" stop_enforcing
check_eq "every refusal is an audit event" "$refused" "$(log_count '"decision":"denied"')"
rm -rf "$PIN"
unsigned_load_anywhere_soon() {
	for _ in $(seq 50); do
		unsigned_load && return 0
		sleep 0.2
	done
	return 1
}
check "unpinned, the policy's enforcement is gone" unsigned_load_anywhere_soon

echo "== policy file: audit func=BPF_CHECK"
rm -f "$LOG"
printf 'audit func=BPF_CHECK\n' >"$T/audit.policy"
check "eima bpf enforce --policy with the audit form" start_enforcing --policy "$T/audit.policy"
check "says audit" grep -q "policy $T/audit.policy:1: audit" "$T/enforce.out"
check "in the audit form an unsigned load works" unsigned_load
out=$("$BIN/eima" bpf load "$T/socket-signed.o" "${SIGNER[@]}" 2>&1)
check "and so does a signed one" grep -q "loaded .* signature" <<<"$out"
audited=$(stat_of audited)
check "the unsigned load is counted ($audited)" test "$audited" -ge 1
check_eq "nothing was refused" 0 "$(stat_of refused)"
check "eima bpf enforce --policy (audit) stops" stop_enforcing
check_eq "every audited load is an audit event, as would_deny" "$audited" "$(log_count '"decision":"would_deny"')"
check "bpftool's unsigned load is logged" grep -q '"comm":"bpftool".*"decision":"would_deny"' "$LOG"
check_eq "none says denied" 0 "$(log_count '"decision":"denied"')"
rm -rf "$PIN"
echo "== eimad: func=BPF_CHECK in its own policy"
LOG=$ERUN/audit.jsonl
EIMAD=(--tpm none --vtpm none --pin-dir "$EPIN" --bpf-cert "$BPF/test-signing.crt"
	--bpf-objects "$BPF")
cat >"$T/eimad.policy" <<P
measure func=BPRM_CHECK
dont_appraise func=BPF_CHECK cgroup=$CGX
appraise func=BPF_CHECK appraise_type=imasig
P
field() { "$BIN/eima" status --run-dir "$ERUN" --json | python3 -c 'import json,sys
v=json.load(sys.stdin)
for k in sys.argv[1].split("."): v=v[k]
print(v)' "$1"; }
eimad_start() { # LOG POLICY [eimad args]: start_eimad, given more time under TCG
	local log=$1 pol=$2
	shift 2
	"$BIN/eimad" --run-dir "$ERUN" "${EIMAD[@]}" --mode lsm --policy "$pol" "$@" >"$log.out" 2>"$log" &
	EIMAD_PID=$!
	for _ in $(seq 600); do
		grep -q "eimad: ready" "$log.out" 2>/dev/null && return 0
		kill -0 "$EIMAD_PID" 2>/dev/null || break
		sleep 0.1
	done
	cat "$log" "$log.out"
	return 1
}
signed_load() {
	if [[ $PATH_KIND == native ]]; then
		"$BIN/eima" bpf load "$T/socket-signed.o" --keyring "$(field bpf_check.keyring)"
	else
		"$BIN/eima" bpf load "$T/socket-signed.o" --cert "$BPF/test-signing.crt"
	fi
}
"$BIN/eimad" --run-dir "$ERUN" "${EIMAD[@]}" --policy "$T/eimad.policy" --mode trace \
	>"$T/trace.out" 2>&1
check_eq "in trace mode eimad refuses to start with an enforcing func=BPF_CHECK rule" 1 $?
grep critical "$T/trace.out"
check "saying why" grep -q "func=BPF_CHECK (enforce) cannot be applied: .*trace mode" "$T/trace.out"
check "eimad starts with the rule" eimad_start "$T/eimad.1.log" "$T/eimad.policy"
check "eima status says it enforces" grep -q "^enforcing" <<<"$(field bpf_check.state)"
"$BIN/eima" status --run-dir "$ERUN" | grep -A1 "bpf loads"
check_eq "on this kernel's path" "$PATH_KIND" "$(field bpf_check.signing_path)"
check_eq "pinned under eimad's pin directory" "$EPIN/bpf_policy_$EIMAD_PID" "$(field bpf_check.pins)"
check_status "an unsigned load (bpftool prog load) is refused" 255 unsigned_load
check "with EPERM" grep -q "Operation not permitted" "$T/bpftool.out"
out=$(signed_load 2>&1)
echo "$out"
check "a signed object loads through eima bpf load" grep -q "loaded .* signature" <<<"$out"
check "the exception's cgroup loads unsigned" unsigned_load in_exempt
/bin/true
settle "$ERUN"
check "eimad's own measurement goes on: an exec is measured" \
	grep -qE " (/usr)?/bin/true$" "$ERUN/host/ascii_runtime_measurements"
check "its policy program is in the host list (the measurer is measured)" \
	grep -q "eima-bpf-prog:eima_bpf_prog" "$ERUN/host/ascii_runtime_measurements"
# With --bpf-cert the measuring programs come from measure_lsm.signed.bpf.o too, loaded
# on this kernel's path: the unsigned skeleton would be refused here on the native path.
check_eq "its measuring programs were loaded signed" True "$(field programs_object.signed)"
check_eq "from measure_lsm's signed object" measure_lsm.signed.bpf.o "$(field programs_object.object)"
check "on this kernel's path" grep -q "$([[ $PATH_KIND == native ]] && echo "native: the kernel checked" || echo "trusted-loader: eima checked")" <<<"$(field programs_object.loaded)"
measuring_recorded() { # the host list's records of measure_lsm's programs
	awk '$3 == "ima-buf" && $5 ~ /^eima-bpf-prog:/ {print $6}' "$ERUN/host/ascii_runtime_measurements" |
		while read -r h; do xxd -r -p <<<"$h"; echo; done | python3 -c 'import json,sys
for l in sys.stdin:
	r=json.loads(l)
	if r["object"].startswith("measure_lsm"): print(r["name"][:15], r["tag"], r["object"], r["signed"], r.get("signer"))' | sort
}
measuring_shown() { # what bpftool shows of them (the attached ones; the rest were freed)
	bpftool -j prog show | python3 -c 'import json,sys
for p in json.load(sys.stdin):
	n=p.get("name", "")
	if n.startswith("eima_") and not n.startswith(("eima_bpf_", "eima_protect")):
		print(n[:15], p["tag"], "measure_lsm.signed.bpf.o True /CN=eima test build key")' | sort
}
recorded=$(measuring_recorded)
check "the host list records the measuring programs ($(wc -l <<<"$recorded"))" test -n "$recorded"
check_eq "each signed, with the tag bpftool shows and its signer" "$(measuring_shown)" "$recorded"
programs=$("$BIN/eima" status --run-dir "$ERUN" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["programs"]))')
check_eq "only the programs eimad chose stay loaded" "$programs" "$(wc -l <<<"$recorded")"
denied=$(log_count '"mechanism":"bpf_policy"')
check "the refusal is in RUN/audit.jsonl ($denied)" test "$denied" -ge 1
reason=$([[ $PATH_KIND == native ]] && echo unsigned_bpf || echo unknown_tag)
check "with the documented fields" grep -q "\"comm\":\"bpftool\".*\"decision\":\"denied\".*\"mechanism\":\"bpf_policy\".*\"operation\":\"bpf_prog_load\".*\"reason\":\"$reason\"" "$LOG"
"$BIN/eima" audit --run-dir "$ERUN" | tail -n 3
check "eima audit reads it" bash -c "'$BIN/eima' audit --run-dir '$ERUN' | grep -q 'DENIED host.*bpf_prog_load'"
# The same decision in eimad's event stream (docs/events.md), valid against its schema.
timeout 10 "$BIN/eima" events --run-dir "$ERUN" --json >"$T/events.jsonl" 2>&1
check "eima events has the refusal as a decision event, valid against the schema" \
	python3 - "$here/../../docs/events.schema.json" "$T/events.jsonl" <<'PY'
import json, sys
import jsonschema
validator = jsonschema.Draft202012Validator(json.load(open(sys.argv[1])))
found = []
for line in open(sys.argv[2]):
    ev = json.loads(line)
    if ev.get("type") == "decision" and ev.get("mechanism") == "bpf_policy":
        validator.validate(ev)
        found.append(ev)
assert any(ev["operation"] == "bpf_prog_load" and ev["verdict"] == "denied" and
           ev["comm"] == "bpftool" and ev["container"] == "host" for ev in found), found
print(json.dumps(found[-1]))
PY
# A killed eimad leaves the policy pinned: BPF loads are still judged, and the refusals
# wait in its ring for the next eimad.
old=$EIMAD_PID
kill -KILL "$old"
wait "$old" 2>/dev/null
EIMAD_PID=
check_status "with eimad killed, the pinned policy still refuses an unsigned load" 255 unsigned_load
before=$(log_count '"decision":"denied"')
# While the restarted eimad starts, another process keeps trying unsigned loads: the earlier
# policy trusts the keyring (native) or the executable (trusted loader) this eimad loads
# with, so it keeps enforcing, and not one of them may get through (an audit-mode window
# would let them).
touch "$T/probing"
(
	while [[ -e $T/probing ]]; do
		if bpftool prog load "$UNSIGNED" "/sys/fs/bpf/eima-bpf-policy-probe-$BASHPID" >/dev/null 2>&1; then
			echo loaded
			rm -f "/sys/fs/bpf/eima-bpf-policy-probe-$BASHPID"
		else
			echo refused
		fi
	done >"$T/probe.out"
) &
probe_pid=$!
check "a restarted eimad starts (its own loads pass the earlier policy)" \
	eimad_start "$T/eimad.2.log" "$T/eimad.policy"
rm -f "$T/probing"
wait "$probe_pid"
echo "  unsigned loads tried while eimad started: $(grep -c refused "$T/probe.out") refused, $(grep -c loaded "$T/probe.out") loaded"
check "some were tried" grep -q refused "$T/probe.out"
check_status "none loaded: the earlier policy never stopped enforcing" 1 grep -q loaded "$T/probe.out"
check "it says the earlier policy kept enforcing" \
	grep -q "bpf_policy_$old" <<<"$(field bpf_check.earlier_sets_kept_enforcing)"
check_status "and relaxed none" 1 grep -q earlier_sets_relaxed <<<"$("$BIN/eima" status --run-dir "$ERUN" --json)"
check "it adopted the signed measuring programs" grep -q "^signed: adopted" <<<"$(field programs_object.loaded)"
check "and replaces the earlier policy" grep -q "bpf_policy_$old" <<<"$(field bpf_check.replaced_earlier_sets)"
check_status "the earlier set's pins are gone" 1 test -e "$EPIN/bpf_policy_$old"
check "the refusal made while eimad was down is in the audit log" \
	test "$(log_count '"decision":"denied"')" -gt "$before"
check_status "the restarted eimad refuses an unsigned load" 255 unsigned_load
check "eima stop stops it" "$BIN/eima" stop --run-dir "$ERUN" --timeout 60
wait "$EIMAD_PID" 2>/dev/null
EIMAD_PID=
check_status "the clean stop removed the pins" 1 test -e "$EPIN"
check "after eima stop an unsigned load works again" unsigned_load_anywhere_soon

echo "== eimad --protect --bpf-cert: protection's programs load signed, or not at all"
# One of eima's objects signed by another key: the kernel (native) or eimad (trusted loader)
# refuses it, and so eimad does not start; it never falls back to the skeleton it carries.
refused_other_key() { # OBJECT WHAT [eimad args]
	local obj=$1 what=$2 dir=$T/objs-$1
	shift 2
	mkdir "$dir"
	cp "$BPF"/*.signed.bpf.o "$dir/"
	"$BIN/eima" bpf sign "$BPF/$obj.bpf.o" --key "$T/c.key" --cert "$T/c.crt" \
		-o "$dir/new.o" >/dev/null
	mv "$dir/new.o" "$dir/$obj.signed.bpf.o"
	"$BIN/eimad" --run-dir "$ERUN" --tpm none --vtpm none --pin-dir "$EPIN" \
		--bpf-cert "$BPF/test-signing.crt" --bpf-objects "$dir" --mode lsm \
		--policy "$T/eimad.policy" "$@" >"$dir.out" 2>&1
	check_eq "eimad does not start with $what signed by another key" 1 $?
	grep critical "$dir.out"
	if [[ $PATH_KIND == native ]]; then
		check "the kernel refused the signature (ENOKEY)" \
			grep -q "$obj.signed.bpf.o.*Required key not available" "$dir.out"
	else
		check "eimad refused the signature" grep -q "loader signature of .*$obj" "$dir.out"
	fi
}
refused_other_key self_protect "--protect and a protection object" --protect
refused_other_key measure_lsm "measuring programs"
check_status "and left no pins" 1 test -e "$EPIN/link_eima_file_mprotect"

echo "== eimad --protect: the BPF policy is protected like the rest of eima"
check "eimad starts with the rule and --protect" \
	eimad_start "$T/eimad.4.log" "$T/eimad.policy" --protect
check_eq "protection is on" True "$(field protection.on)"
check_eq "its programs were loaded signed" True "$(field protection.programs.signed)"
check_eq "from the signed object" self_protect.signed.bpf.o "$(field protection.programs.object)"
check "on this kernel's path" grep -q "$([[ $PATH_KIND == native ]] && echo "native: the kernel checked" || echo "trusted-loader: eima checked")" <<<"$(field protection.programs.loaded)"
# The host list says so (docs/measurer.md): each protection program with the tag bpftool
# shows, the signed object and its signer.
recorded=$(awk '$3 == "ima-buf" && $5 ~ /^eima-bpf-prog:eima_protect/ {print $6}' \
	"$ERUN/host/ascii_runtime_measurements" | while read -r h; do xxd -r -p <<<"$h"; echo; done |
	python3 -c 'import json,sys
for l in sys.stdin: r=json.loads(l); print(r["name"][:15], r["tag"], r["object"], r["signed"], r.get("signer"))' | sort)
shown=$(bpftool -j prog show | python3 -c 'import json,sys
for p in json.load(sys.stdin):
	if p.get("name", "").startswith("eima_protect"):
		print(p["name"][:15], p["tag"], "self_protect.signed.bpf.o True /CN=eima test build key")' | sort)
check "the host list records protection programs ($(wc -l <<<"$recorded"))" test -n "$recorded"
check_eq "each signed, with its tag and signer" "$shown" "$recorded"
check "eima status says it enforces" grep -q "^enforcing" <<<"$(field bpf_check.state)"
PP=$EPIN/bpf_policy_$EIMAD_PID
plink=$(ls "$PP" | grep -m1 '^link_')
check "the policy's pins are there ($plink)" test -e "$PP/$plink" -a -e "$PP/map_policy_config"
check_refused "rm of the policy's link pin is refused" rm -f "$PP/$plink"
check_refused "rm -rf of its pin directory is refused" rm -rf "$PP"
check_refused "bpftool link detach of its link is refused" bpftool link detach pinned "$PP/$plink"
# The switch that turns enforcement into audit or off: no writable fd, so no update.
check_refused "bpftool map update of its policy_config is refused" \
	bpftool map update pinned "$PP/map_policy_config" key hex 00 00 00 00 value hex 00
check_refused "kill -9 of eimad is refused" kill -9 "$EIMAD_PID"
if [[ $PATH_KIND == native ]]; then
	BKR=$(field bpf_check.keyring)
	BKEY=$(keyctl rlist "$BKR" | awk '{print $1}')
	check "its keyring holds the signer's key ($BKR: $BKEY)" test -n "$BKEY"
	check_refused "keyctl unlink of the policy's keyring is refused" keyctl unlink "$BKR" @u
	# EACCES, before any LSM is asked: the locked keyring grants no write (as appraisal's).
	keyctl unlink "$BKEY" "$BKR" >/dev/null 2>&1
	check_status "keyctl unlink of the signer's key from it fails" 1 test $? -eq 0
	check_refused "keyctl invalidate of the keyring is refused" keyctl invalidate "$BKR"
else
	echo "  (trusted-loader path: the policy has no keyring; eimad checks against --bpf-cert)"
fi
check "eimad still runs" kill -0 "$EIMAD_PID"
check "every pin is still there" test -e "$PP/$plink" -a -e "$PP/map_policy_config"
if [[ $PATH_KIND == native ]]; then
	check_eq "the keyring still holds the key, linked in @u" "$BKEY 1" \
		"$(keyctl rlist "$BKR") $(keyctl rlist @u | tr ' ' '\n' | grep -cx "$BKR")"
fi
check_status "the policy still refuses an unsigned load" 255 unsigned_load
check "with EPERM" grep -q "Operation not permitted" "$T/bpftool.out"
out=$(signed_load 2>&1)
check "a signed object still loads" grep -q "loaded .* signature" <<<"$out"
refused=$("$BIN/eima" status --run-dir "$ERUN" --json | python3 -c 'import json,sys
print(sum(json.load(sys.stdin)["protection"]["refused"].values()))')
check "protection counted the refusals ($refused)" test "$refused" -ge 5
check "eima stop stops it" "$BIN/eima" stop --run-dir "$ERUN" --timeout 60
wait "$EIMAD_PID" 2>/dev/null
EIMAD_PID=
check_status "the clean stop removed every pin" 1 test -e "$EPIN"
check "after eima stop an unsigned load works again" unsigned_load_anywhere_soon

echo "== eimad: audit func=BPF_CHECK"
rm -f "$LOG"
printf 'measure func=BPRM_CHECK\naudit func=BPF_CHECK\n' >"$T/eimad-audit.policy"
check "eimad starts with the audit form" eimad_start "$T/eimad.3.log" "$T/eimad-audit.policy"
check "eima status says it audits" grep -q "^auditing" <<<"$(field bpf_check.state)"
check "in the audit form an unsigned load works" unsigned_load
out=$(signed_load 2>&1)
check "and so does a signed one" grep -q "loaded .* signature" <<<"$out"
check "eima stop stops it" "$BIN/eima" stop --run-dir "$ERUN" --timeout 60
wait "$EIMAD_PID" 2>/dev/null
EIMAD_PID=
check "bpftool's unsigned load is a would_deny record" grep -q '"comm":"bpftool".*"decision":"would_deny"' "$LOG"
check_eq "none says denied" 0 "$(log_count '"decision":"denied"')"
check_status "the clean stop removed the pins" 1 test -e "$EPIN"
finish
