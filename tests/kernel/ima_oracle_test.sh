#!/usr/bin/env bash
# The kernel is the oracle: in a guest booted with ima_policy=tcb, the kernel's own IMA
# measures every exec too. Every file the kernel measured for the container's execs must be
# in eima's container list with the same digest.
#
#   ima_oracle_test.sh BIN_DIR        (inside tests/vm/vmrun --append ima_policy=tcb)
BIN=$1
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../e2e/lib.sh"

kernel_list=/sys/kernel/security/ima/ascii_runtime_measurements
[[ -r $kernel_list ]] || skip_test "no kernel IMA list here (run inside vmrun --append ima_policy=tcb)"
grep -q bpf /sys/kernel/security/lsm || skip_test "BPF LSM is not active"

# tcb does not measure tmpfs: the root filesystem lives on the shared host disk.
T=$(mktemp -d "${EIMA_TEST_TMPDIR:?set EIMA_TEST_TMPDIR to a directory on a measured filesystem}/eima-oracle.XXXXXX")
cleanup() { stop_eimad >/dev/null 2>&1; rm -rf "$T"; }
trap cleanup EXIT
make_rootfs "$T/rootfs"
# Contents unique to this run, so the kernel's entries for them are this test's.
for f in dyn-true dyn-env; do printf 'eima-oracle-%s-%s' "$f" "$RANDOM" >> "$T/rootfs/bin/$f"; done

start_eimad "$T/run" "$T/eimad.log" --mode lsm --tpm none || { failed "eimad starts"; finish; exit; }
"$BIN/eima-test-container" "$T/rootfs" -- /bin/sh -c \
	'while [ ! -e /tmp/go ]; do sleep 0.05; done; /bin/dyn-true; /bin/dyn-env /bin/true' &
cpid=$!
mntns=$(container_mntns $cpid)
touch "$T/rootfs/tmp/go"
wait $cpid
check_eq "the container ran" 0 $?
settle "$T/run"
cid=$("$BIN/eima" ps --run-dir "$T/run" | awk -v ns="$mntns" '$3 == ns { print $1 }')
check "eima knows the container" test -n "$cid"
ours=$(list_entries "$T/run/containers/$cid/ascii_runtime_measurements" | sort -u)

r=$T/rootfs
compared=0
for p in /bin/dyn-true /bin/dyn-env /bin/busybox /lib64/ld-linux-x86-64.so.2 /lib/x86_64-linux-gnu/libc.so.6; do
	want=$(sha256_of "$r$p")
	# The kernel's entry for this content at this path. The kernel names files by
	# d_absolute_path, which in the VM starts with the guest's /newroot: match the tail.
	kernel=$(awk -v p="$p" -v d="sha256:$want" \
		'$4 == d && substr($5, length($5) - length(p) + 1) == p { print $4, $5 }' \
		"$kernel_list" | head -1)
	if [[ -z $kernel ]]; then
		failed "the kernel measured $p ($want)"
		continue
	fi
	compared=$((compared + 1))
	check "eima measured $p like the kernel did" grep -qx "$want $p" <<<"$ours"
done
check_eq "every file was compared with the kernel's measurement" 5 "$compared"
stop_eimad
check_eq "eimad exits 0" 0 $?
finish
