#!/usr/bin/env bash
# "Only signed BPF" on 6.18+ (bpf/bpf_policy.bpf.c, eima bpf enforce): inside the test's
# own cgroup an unsigned BPF_PROG_LOAD is refused and one signed against an untrusted
# keyring too, while eima's own signed objects load; outside the cgroup nothing changes;
# audit mode refuses nothing and records. Pins under its own bpffs directory, and removes
# it, its cgroup and its keyrings on every exit (removing the pinned link detaches).
#   bpf_policy_test.sh BIN_DIR BPF_DIR UNSIGNED.bpf.o
BIN=$1
BPF=$2
UNSIGNED=$3
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../e2e/lib.sh"
source "$here/keyrings.sh"
[[ $(id -u) -eq 0 ]] || skip_test "needs root (BPF, keyrings, cgroups)"
T=$(mktemp -d "${EIMA_TEST_TMPDIR:-/tmp}/eima-bpf-policy.XXXXXX")
PIN=/sys/fs/bpf/eima-bpf-policy-test-$$
CG=/sys/fs/cgroup/eima-bpf-policy-test-$$
cleanup() {
	rm -rf "$PIN" /sys/fs/bpf/eima-bpf-policy-unsigned-$$
	rmdir "$CG" 2>/dev/null
	unlink_keyrings
	rm -rf "$T"
}
trap cleanup EXIT

KR=$(new_keyring eima-test-build "$BPF/test-signing.crt")
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=eima untrusted" \
	-addext subjectKeyIdentifier=hash -keyout "$T/c.key" -out "$T/c.crt" 2>/dev/null
KR_OTHER=$(new_keyring eima-test-other "$T/c.crt")
"$BIN/eima" bpf sign "$UNSIGNED" --key "$T/c.key" --cert "$T/c.crt" -o "$T/other-signed.o" >/dev/null
mkdir "$CG"
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

check "before enforcement an unsigned load works in the cgroup" unsigned_load in_cgroup

echo "== enforce"
check "eima bpf enforce loads the signed policy program" \
	"$BIN/eima" bpf enforce "$BPF/bpf_policy.signed.bpf.o" --keyring "$KR" --pin "$PIN" --cgroup "$CG"
check_status "an unsigned load (bpftool prog load) is refused in the cgroup" 255 unsigned_load in_cgroup
grep -m1 "failed\|rror" "$T/bpftool.out"
check "bpftool reports EPERM" grep -q "Operation not permitted" "$T/bpftool.out"
out=$(in_cgroup "$BIN/eima" bpf load "$T/other-signed.o" --keyring "$KR_OTHER" 2>&1)
echo "$out"
check "a load signed against an untrusted keyring is refused" \
	grep -q "load the signed loader.*Operation not permitted" <<<"$out"
for obj in measure_lsm measure_trace bpf_policy; do
	out=$(in_cgroup "$BIN/eima" bpf load "$BPF/$obj.signed.bpf.o" --keyring "$KR" 2>&1)
	echo "$out"
	check "eima's own signed $obj loads in the cgroup" grep -q "loaded .* with its signature" <<<"$out"
done
check "outside the cgroup an unsigned load still works" unsigned_load
check "refusals are counted ($(stat_of refused))" test "$(stat_of refused)" -ge 2
check "signed loaders are counted ($(stat_of allowed_signed))" test "$(stat_of allowed_signed)" -ge 3
check "the programs they loaded from BPF are counted ($(stat_of allowed_kernel))" \
	test "$(stat_of allowed_kernel)" -ge 3
rm -rf "$PIN"
check "unpinned, the policy is gone: an unsigned load works again" unsigned_load in_cgroup

echo "== audit"
check "eima bpf enforce --audit" \
	"$BIN/eima" bpf enforce "$BPF/bpf_policy.signed.bpf.o" --keyring "$KR" --pin "$PIN" --cgroup "$CG" --audit
check "in audit mode an unsigned load works" unsigned_load in_cgroup
check "and is recorded ($(stat_of audited))" test "$(stat_of audited)" -ge 1
check "with its loader's name" bash -c "bpftool map dump pinned '$PIN/map_policy_stats' | grep -q bpftool"
check_eq "nothing was refused" 0 "$(stat_of refused)"
finish
