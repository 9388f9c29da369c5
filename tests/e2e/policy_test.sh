#!/usr/bin/env bash
# The IMA policy is evaluated in the kernel: what it excludes never reaches the lists.
#   policy_test.sh BIN_DIR trace|lsm
BIN=$1
MODE=$2
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
[[ $(id -u) -eq 0 ]] || skip_test "needs root (namespaces, BPF)"
T=$(mktemp -d "${EIMA_TEST_TMPDIR:-/tmp}/eima-policy.XXXXXX")
RUN=$T/run
cleanup() { stop_eimad >/dev/null 2>&1; rm -rf "$T"; }
trap cleanup EXIT
make_rootfs "$T/rootfs"

cat > "$T/policy" <<'POLICY'
# execs on the host only; executable mappings everywhere; never files owned by uid 4242
dont_measure fowner=4242
measure func=BPRM_CHECK container=host
measure func=MMAP_CHECK mask=MAY_EXEC
POLICY
chown 4242 "$T/rootfs/lib/x86_64-linux-gnu/libc.so.6"
start_eimad "$RUN" "$T/eimad.log" --mode "$MODE" --tpm none --policy "$T/policy" ||
	{ failed "eimad starts with the policy"; finish; exit; }
check "eima status counts 3 policy rules" bash -c "'$BIN/eima' status --run-dir '$RUN' | grep -q '(3 rules)'"

"$BIN/eima-test-container" "$T/rootfs" -- /bin/sh -c 'touch /tmp/ready; while [ ! -e /tmp/go ]; do sleep 0.05; done; /bin/dyn-true' &
cpid=$!
mntns=$(container_mntns $cpid)
touch "$T/rootfs/tmp/go"
wait $cpid
settle "$RUN"
cid=$("$BIN/eima" ps --run-dir "$RUN" | awk -v ns="$mntns" '$3 == ns { print $1 }')
check "the container is known" test -n "$cid"
got=$(list_entries "$RUN/containers/$cid/ascii_runtime_measurements" | tail -n +2 | cut -d' ' -f2)
# The ELF loader maps executables PROT_EXEC: MMAP_CHECK sees them even where BPRM_CHECK
# is excluded, as with kernel IMA.
check_eq "in the container only executable mappings are measured, not uid 4242's libc" \
	"$(printf '%s\n' /bin/busybox /bin/dyn-true /lib64/ld-linux-x86-64.so.2)" "$got"
cp -L /usr/bin/true "$T/host-true"; printf 'p%s' "$RANDOM" >> "$T/host-true"
"$T/host-true"
settle "$RUN"
check "a host exec is measured" grep -q " $T/host-true\$" "$RUN/host/ascii_runtime_measurements"
counters=$("$BIN/eima" status --run-dir "$RUN" --json)
check "the kernel skipped accesses by policy" \
	bash -c "grep -q '\"policy_skip\": [1-9]' <<<'$counters'"
stop_eimad
check_eq "eimad exits 0" 0 $?

echo "== FILE_CHECK: files a container reads"
printf 'measure func=FILE_CHECK mask=MAY_READ fowner=4343\n' > "$T/policy-file"
printf 'secret-%s\n' "$RANDOM" > "$T/rootfs/tmp/data"
chown 4343 "$T/rootfs/tmp/data"
# --fresh: the first part's container (kept, exited) must not be in this part's lists.
start_eimad "$RUN" "$T/eimad.log" --mode "$MODE" --tpm none --policy "$T/policy-file" --fresh
status=$("$BIN/eima" status --run-dir "$RUN")
if [[ $MODE == trace ]]; then
	check "trace mode reports FILE_CHECK as not honoured" grep -q "not honoured.*FILE_CHECK" <<<"$status"
else
	# The container lives on after the read: eimad resolves the path beneath the root of a
	# live process of the container (see README, "Known limits").
	"$BIN/eima-test-container" "$T/rootfs" -- /bin/sh -c 'cat /tmp/data; sleep 1' >/dev/null
	settle "$RUN"
	got=$(cat "$RUN"/containers/*/ascii_runtime_measurements | awk 'NR > 1 { print $4, $5 }')
	check_eq "the read file is measured in the container's list, nothing else" \
		"sha256:$(sha256_of "$T/rootfs/tmp/data") /tmp/data" "$got"
	[[ $got == *0000000000* ]] && tail -5 "$T/eimad.log"
fi
stop_eimad
check_eq "eimad exits 0" 0 $?
finish
