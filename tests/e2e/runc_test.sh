#!/usr/bin/env bash
# A container run by runc (an OCI bundle, as containerd and docker run them): eima names it
# by runc's container id, and its list holds the files it ran, with their digests.
#   runc_test.sh BIN_DIR trace|lsm
BIN=$1
MODE=$2
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
[[ $(id -u) -eq 0 ]] || skip_test "needs root"
command -v runc >/dev/null || skip_test "runc is not installed (scripts/setup.sh installs it)"
T=$(mktemp -d "${EIMA_TEST_TMPDIR:-/tmp}/eima-runc.XXXXXX")
RUN=$T/run
NAME=eima-test-$$
cleanup() { runc delete -f "$NAME" >/dev/null 2>&1; stop_eimad >/dev/null 2>&1; rm -rf "$T"; }
trap cleanup EXIT
make_rootfs "$T/bundle/rootfs"
(cd "$T/bundle" && runc spec)
# Not interactive, writable root, and the command. It lives a second after its last file:
# eimad names a container from its cgroup and runc's state when it reads the first event,
# and a container gone with both by then is named by its namespace (README: known limits).
# The sleep is busybox again, measured already: no entry.
sed -i -e 's/"terminal": true/"terminal": false/' -e 's/"readonly": true/"readonly": false/' \
	-e 's|"sh"$|"/bin/sh", "-c", "/bin/dyn-true \&\& /bin/dyn-env /bin/true \&\& sleep 1"|' \
	"$T/bundle/config.json"
grep -q '"/bin/dyn-true' "$T/bundle/config.json" || { failed "runc spec has the expected shape"; finish; exit; }

start_eimad "$RUN" "$T/eimad.log" --mode "$MODE" --tpm none || { failed "eimad starts"; finish; exit; }
timeout 60 runc run -b "$T/bundle" "$NAME" > "$T/runc.out" 2>&1
check_eq "runc runs the container" 0 $?
settle "$RUN"
row=$("$BIN/eima" ps --run-dir "$RUN" | awk -v n="$NAME" '$1 == n')
check "eima ps names the container by runc's id" test -n "$row"
check_eq "and says runc runs it" runc "$(awk '{ print $2 }' <<<"$row")"
r=$T/bundle/rootfs
list=$RUN/containers/$NAME/ascii_runtime_measurements
# runc's own init (re-executed from a sealed copy of runc) runs in the container first:
# its entries may precede the container's files; the files must follow, in order.
want="$(printf '%s\n' \
	"$(sha256_of $r/bin/busybox) /bin/busybox" \
	"$(sha256_of $r/bin/dyn-true) /bin/dyn-true" \
	"$(sha256_of $r/lib64/ld-linux-x86-64.so.2) /lib64/ld-linux-x86-64.so.2" \
	"$(sha256_of $r/lib/x86_64-linux-gnu/libc.so.6) /lib/x86_64-linux-gnu/libc.so.6" \
	"$(sha256_of $r/bin/dyn-env) /bin/dyn-env")"
got=$(list_entries "$list" | grep -E ' /(bin|lib|lib64)/')
check_eq "the list holds the container's files in order with their digests" "$want" "$got"
check "every other entry is runc's own" \
	awk 'NR > 1 && $5 !~ /^\/(bin|lib|lib64)\// && $5 !~ /runc/ { print "unexpected:", $5; exit 1 }' "$list"
stop_eimad
check_eq "eimad exits 0" 0 $?
finish
