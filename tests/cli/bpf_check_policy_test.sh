#!/usr/bin/env bash
# func=BPF_CHECK on the command line, without root: `eima policy check` shows the rule, its
# keyrings, cgroup and exceptions (text and JSON) and names file:line of a bad one; `eima
# bpf enforce --policy` refuses a policy without the rule and flags that contradict it
# before it touches the kernel. The kernel side is kernel*.bpf_policy.
BIN=$1
source "$(dirname "$0")/../e2e/lib.sh"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

cat >"$T/bpf.policy" <<'P'
# only signed BPF, but not for the boot slice
dont_appraise func=BPF_CHECK cgroup=/sys/fs/cgroup/boot.slice
appraise func=BPF_CHECK appraise_type=imasig keyrings=eima|.platform
measure func=BPRM_CHECK
P
out=$("$BIN/eima" policy check "$T/bpf.policy"); rc=$?
echo "$out"
check_eq "a policy with the BPF rule is valid" 0 "$rc"
check "the text names the rule's line, enforce and the keyrings" \
	grep -q "^$T/bpf.policy:3: BPF loads: enforce — only signed BPF.*eima, .platform; tasks: all" <<<"$out"
check "and the exception with its line" \
	grep -q "^$T/bpf.policy:2: BPF loads: exception: the tasks of cgroup /sys/fs/cgroup/boot.slice are not judged" <<<"$out"
check_eq "BPF_CHECK is not listed as not honoured" 0 "$(grep -c 'not honoured' <<<"$out")"
json=$("$BIN/eima" policy check "$T/bpf.policy" --json)
check "JSON: bpf.mode, line, keyrings, exceptions" python3 -c '
import json, sys
b = json.loads(sys.stdin.read())["bpf"]
assert b["mode"] == "enforce" and b["line"] == 3, b
assert b["keyrings"] == ["eima", ".platform"] and b["cgroup"] is None, b
assert b["exceptions"] == [{"line": 2, "cgroup": "/sys/fs/cgroup/boot.slice",
    "rule": "dont_appraise func=BPF_CHECK cgroup=/sys/fs/cgroup/boot.slice"}], b' <<<"$json"

printf 'audit func=BPF_CHECK cgroup=/sys/fs/cgroup/t\n' >"$T/audit.policy"
out=$("$BIN/eima" policy check "$T/audit.policy")
check "the audit form says it refuses nothing" \
	grep -q "audit.policy:1: BPF loads: audit — what enforce would refuse is recorded, nothing refused.*of cgroup /sys/fs/cgroup/t only" <<<"$out"

printf 'measure func=BPRM_CHECK\nappraise func=BPF_CHECK appraise_type=imasig|modsig\n' >"$T/bad.policy"
out=$("$BIN/eima" policy check "$T/bad.policy" 2>&1); rc=$?
echo "$out"
check_eq "a malformed BPF rule makes the policy invalid" 1 "$rc"
check "the error names file:line and why" \
	grep -q "^$T/bad.policy:2: func=BPF_CHECK takes appraise_type=imasig only" <<<"$out"

# bpf enforce --policy: everything below fails before any kernel access (no root needed).
out=$("$BIN/eima" bpf enforce /nonexistent.o --policy "$T/bad.policy" 2>&1); rc=$?
echo "$out"
check_eq "bpf enforce refuses a malformed policy" 1 "$rc"
check "naming file:line" grep -q "bad.policy:2" <<<"$out"
printf 'measure func=BPRM_CHECK\n' >"$T/none.policy"
out=$("$BIN/eima" bpf enforce /nonexistent.o --policy "$T/none.policy" 2>&1)
echo "$out"
check "bpf enforce refuses a policy without the rule" grep -q "no appraise or audit func=BPF_CHECK rule" <<<"$out"
out=$("$BIN/eima" bpf enforce /nonexistent.o --policy "$T/bpf.policy" --audit 2>&1)
echo "$out"
check "--audit contradicts the policy" grep -q -- "--audit and a policy: the rule at $T/bpf.policy:3" <<<"$out"
out=$("$BIN/eima" bpf enforce /nonexistent.o --policy "$T/bpf.policy" --trust 5 2>&1)
check "--trust contradicts the policy's keyrings" grep -q -- "--trust and a policy" <<<"$out"
out=$("$BIN/eima" bpf enforce /nonexistent.o --policy "$T/audit.policy" --cgroup "$T" 2>&1)
check "--cgroup contradicts the rule's cgroup=" grep -q -- "--cgroup and the cgroup= of the rule at $T/audit.policy:1" <<<"$out"
finish
