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
cleanup() { [[ -n "${EIMAD_PID:-}" ]] && kill -CONT "$EIMAD_PID" 2>/dev/null; for n in "$NAME" "$NAME-q1" "$NAME-q2" "$NAME-q3"; do runc delete -f "$n" >/dev/null 2>&1; done; stop_eimad >/dev/null 2>&1; rm -rf "$T"; }
trap cleanup EXIT
make_rootfs "$T/bundle/rootfs"
mkdir -p "$T/quick"
(cd "$T/bundle" && runc spec)
# Not interactive, writable root, and the command. It lives a second after its last file,
# so that this one is named while it runs (the quick ones below are named when gone). The
# sleep is busybox again, measured already: no entry.
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

# Containers that exit at once, while eimad is stopped: by the time it reads their first
# event, runc has removed their process, their cgroup (cgroupfs: /<id>) and their state
# directory. They are still named by runc's id: eimad saw the state directory appear, and
# the hook took the cgroup's path: the cgroup v2 one, or, on a host whose controllers are
# cgroup v1 (a hybrid layout, like this machine's) where runc makes no v2 cgroup for the
# container, the v1 memory cgroup's. The quick ones reuse the mount-namespace inode of a
# container eimad may not have retired yet, so this also checks that the hook knows
# namespaces by their unique id (a "known" mark keyed by the inode left them unnamed).
python3 - "$T/bundle/config.json" "$T/quick/config.json" "$T/bundle/rootfs" <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))
spec["process"]["args"] = ["/bin/dyn-true"]
spec["root"]["path"] = sys.argv[3]
json.dump(spec, open(sys.argv[2], "w"))
PY
kill -STOP "$EIMAD_PID"
for k in 1 2 3; do
	timeout 60 runc run -b "$T/quick" "$NAME-q$k" >> "$T/runc.out" 2>&1 || failed "quick container $k runs"
done
quick_state=$(ls /run/runc 2>/dev/null | grep -c -- "$NAME-q" || true)
kill -CONT "$EIMAD_PID"
check_eq "runc removed the quick containers' state before eimad looked" 0 "$quick_state"
settle "$RUN"
ps_json=$("$BIN/eima" ps --run-dir "$RUN" --json)
for k in 1 2 3; do
	got=$(python3 -c '
import json, sys
for c in json.load(sys.stdin)["containers"]:
    if c["id"] == sys.argv[1]:
        print(c.get("runtime", ""))' "$NAME-q$k" <<<"$ps_json")
	check_eq "a container gone before its first event was read is named by runc's id ($k)" runc "$got"
	check "and its list holds its program's digest ($k)" \
		grep -q " sha256:$(sha256_of $r/bin/dyn-true) /bin/dyn-true\$" \
		"$RUN/containers/$NAME-q$k/ascii_runtime_measurements"
done
stop_eimad
check_eq "eimad exits 0" 0 $?
finish
