#!/usr/bin/env bash
# Self-test of the test VM (tests/vm/vmrun): boots the guest several times and checks the
# kernel, the LSM list, exit status and output plumbing, the TPM, kernel IMA, timeouts,
# boot-failure reporting, the retry of a boot that crashed, and that a BPF LSM program loads, attaches and enforces.
# Usage: selftest.sh [--kernel 6.12|6.18|PATH] (default: EIMA_VM_KERNEL, else 6.12): every
# check boots that kernel; one more boots the other cached series (6.18, or 6.12 when
# testing 6.18) and checks that BPF LSM and IMA are active there too.
# Needs root and scripts/setup.sh. Prints "N passed, N failed" last; exits 1 on failure.
# shellcheck disable=SC2016 # the single-quoted scripts expand in the guest
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
vmrun=$here/vmrun
cache=${EIMA_VM_CACHE:-/var/cache/eima-vm}
kernel=${EIMA_VM_KERNEL:-6.12}
if [[ ${1:-} == --kernel ]]; then
	kernel=${2:?--kernel needs a value}
	shift 2
fi
(($# == 0)) || { echo "usage: selftest.sh [--kernel 6.12|6.18|PATH]" >&2; exit 2; }
# The series (6.12, 6.18) the checks expect uname -r to start with.
case $kernel in
[0-9]*.[0-9]*) series=$kernel ;;
*) series=$(basename "$kernel"); series=${series#vmlinuz-}; series=$(cut -d. -f1-2 <<<"$series") ;;
esac
other=6.18
[[ $series == 6.18 ]] && other=6.12
passed=0 failed=0
work=$(mktemp -d /tmp/vmrun-selftest.XXXXXX)
trap 'rm -rf -- "$work"' EXIT

# run NAME -- vmrun args: runs vmrun, leaves stdout in $out, stderr in $err, status in $rc,
# and in $cmd_err the command's own stderr: $err without vmrun's notices ("vmrun: ..." and
# the "  | " console lines under them), which a boot that crashed and was retried adds.
run() {
	local t0=$SECONDS
	"$vmrun" --kernel "$kernel" "$@" >"$work/out" 2>"$work/err"
	rc=$?
	out=$(<"$work/out") err=$(<"$work/err")
	cmd_err=$(grep -a -v -e '^vmrun: ' -e '^  | ' "$work/err")
	secs=$((SECONDS - t0))
}
pass() {
	passed=$((passed + 1))
	echo "ok   - $1 (${secs}s)"
}
fail() {
	failed=$((failed + 1))
	echo "FAIL - $1 (${secs}s): $2"
	echo "       rc=$rc stdout: $(head -c 400 <<<"$out")"
	echo "       stderr: $(tail -n 8 <<<"$err" | head -c 1200)"
}

echo "# guest kernel: $kernel"

# 1. The guest runs the kernel asked for.
run -- uname -r
if [[ $rc == 0 && $out == "$series".* ]]; then pass "uname -r is $series ($out)"; else fail "uname -r" "want $series.*, rc 0"; fi

# 2. BPF LSM and IMA are active (lsm= on the kernel command line took effect).
run -- cat /sys/kernel/security/lsm
if [[ $rc == 0 && ,$out, == *,bpf,* && ,$out, == *,ima,* ]]; then
	pass "bpf and ima in /sys/kernel/security/lsm ($out)"
else
	fail "lsm list" "want bpf and ima in it (rc $rc, out [$out], err [$(head -c 300 <<<"$err")])"
fi

# 2b. The other kernel series boots with BPF LSM and IMA active as well; 6.18 is given
#     lsm=...,bpf,ima,evm (6.12: ...,bpf,integrity).
if [[ -r $cache/current-$other ]]; then
	want_lsm=integrity
	[[ $other == 6.18 ]] && want_lsm=ima,evm
	kernel_saved=$kernel kernel=$other
	run -- sh -c 'uname -r; cat /sys/kernel/security/lsm; echo; cat /proc/cmdline'
	kernel=$kernel_saved
	lines=()
	mapfile -t lines <<<"$out"
	if [[ $rc == 0 && ${lines[0]:-} == "$other".* && ,${lines[1]:-}, == *,bpf,* &&
		,${lines[1]:-}, == *,ima,* && " ${lines[2]:-} " == *",bpf,$want_lsm "* ]]; then
		pass "$other boots with BPF LSM and IMA (${lines[0]}: ${lines[1]})"
	else
		fail "$other kernel" "want $other.*, bpf and ima in the LSM list, lsm=...,bpf,$want_lsm"
	fi
else
	secs=0 rc=- out='' err="no $cache/current-$other"
	fail "$other kernel" "not cached: run scripts/setup.sh"
fi

# 3. Exit status, stdout and stderr come back separately and intact.
run -- sh -c 'echo to-out; echo to-err >&2; exit 7'
if [[ $rc == 7 && $out == to-out && $cmd_err == to-err ]]; then pass "exit 7, stdout and stderr apart"; else fail "exit status" "want rc 7, out to-out, err to-err"; fi
run -- no-such-command-here
if [[ $rc == 127 ]]; then pass "missing command gives 127"; else fail "missing command" "want 127"; fi

# 4. --tpm: a TPM 2.0 in the guest that tpm2-tools can read through the resource manager.
run --tpm -- sh -c 'test -c /dev/tpm0 && test -c /dev/tpmrm0 && tpm2_pcrread sha256:0 -T device:/dev/tpmrm0'
if [[ $rc == 0 && $out =~ 0\ :\ 0x[0-9A-F]{64} ]]; then pass "--tpm: /dev/tpmrm0 and tpm2_pcrread"; else fail "--tpm" "want rc 0 and a sha256 PCR 0"; fi

# 5. --append ima_policy=tcb: the guest kernel's own IMA measures (boot_aggregate first).
run --append ima_policy=tcb -- sh -c 'f=/sys/kernel/security/ima/ascii_runtime_measurements; head -n1 $f; wc -l <$f'
n=$(tail -n1 <<<"$out")
if [[ $rc == 0 && $out == *boot_aggregate* && $n =~ ^[0-9]+$ ]] && ((n > 1)); then
	pass "ima_policy=tcb: $n measurements"
else
	fail "ima_policy=tcb" "want boot_aggregate and more entries"
fi

# 6. The job's host cwd is the guest's cwd even under /tmp (hidden by the guest's tmpfs),
#    EIMA_* variables come through, and the guest writes where the command writes.
mkdir -p "$work/cwd"
cd "$work/cwd" || exit 1
EIMA_SELFTEST="a b'c" run -- sh -c 'pwd; echo "$EIMA_SELFTEST"; echo hi >written'
cd - >/dev/null || exit 1
if [[ $rc == 0 && $out == "$work/cwd"$'\n'"a b'c" && $(cat "$work/cwd/written" 2>/dev/null) == hi ]]; then
	pass "cwd under /tmp, EIMA_* passed, writes reach the host"
else
	fail "cwd/env" "want the cwd, the variable and the file"
fi

# 7. --timeout: 124 and a message.
run --timeout 5 -- sleep 120
if [[ $rc == 124 && $err == *"timed out"* ]]; then pass "--timeout 5 gives 124"; else fail "--timeout" "want 124"; fi

# 8. A guest that cannot boot: 125 and the console tail.
run --append rdinit=/no-such-init -- true
if [[ $rc == 125 && $err == *"Kernel panic"* ]]; then pass "boot failure gives 125 and the console"; else fail "boot failure" "want 125 and a panic in the console tail"; fi

# 8b. A kernel crash while booting, before the command ran, is booted again (the fault is
#     injected on the first attempt only); a crash that repeats would end in 125 as above.
EIMA_VM_FAULT=boot-oops run --tpm -- sh -c 'test -e /dev/tpm0 && echo ran'
if [[ $rc == 0 && $out == ran && $err == *"booting again (2/3)"* && $err == *"Oops: injected"* ]]; then
	pass "a crash at boot is retried with fresh helpers"
else
	fail "boot retry" "want the command to run on the second boot, with the Oops reported"
fi

# 9. A BPF LSM program loads, attaches and denies in the guest (the host refuses to load it).
secs=0
if command -v clang-19 >/dev/null &&
	clang-19 -O2 -g -target bpf -I/usr/include/x86_64-linux-gnu \
		-c "$here/lsm_smoke.bpf.c" -o "$work/lsm_smoke.bpf.o" 2>"$work/err"; then
	run --bind "$work" --bind "$here" -- sh -c "bpftool prog load '$work/lsm_smoke.bpf.o' /sys/fs/bpf/smoke &&
		python3 '$here/lsm_smoke.py' /sys/fs/bpf/smoke"
	if [[ $rc == 0 && $out == *"attached: socket(AF_VSOCK) errno 1"* ]]; then
		pass "BPF LSM program loads and denies"
	else
		fail "BPF LSM smoke" "want load, EPERM while attached, none after"
	fi
else
	rc=- out='' err=$(<"$work/err")
	fail "BPF LSM smoke" "clang-19 could not build lsm_smoke.bpf.c"
fi

echo "$passed passed, $failed failed"
((failed == 0))
