#!/usr/bin/env bash
# podman (rootful, runc, overlay storage): an image made locally (podman import of a
# busybox-static rootfs tar, no registry); eima ps shows podman's own 64-hex id and
# runtime podman; the container's list holds its files with the paths it sees, digests
# computed by the test from the image's files.
#
#   podman_test.sh BIN_DIR trace|lsm
BIN=$1
MODE=$2
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"

[[ $(id -u) -eq 0 ]] || skip_test "needs root (BPF, rootful podman)"
command -v podman >/dev/null || skip_test "podman is not installed"
command -v jq >/dev/null || skip_test "jq is not installed"
T=$(mktemp -d "${EIMA_TEST_TMPDIR:-/tmp}/eima-podman.XXXXXX")
RUN=$T/run
IMAGE=localhost/eima-test-busybox:$$
CID=
cleanup() {
	[[ -n $CID ]] && podman rm -f "$CID" >/dev/null 2>&1
	podman rmi -f "$IMAGE" >/dev/null 2>&1
	stop_eimad >/dev/null 2>&1
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

echo "== an image from a local rootfs (podman import)"
make_rootfs "$T/rootfs"
tar -C "$T/rootfs" -cf "$T/rootfs.tar" .
podman import "$T/rootfs.tar" "$IMAGE" >"$T/import.out" 2>&1 ||
	{ cat "$T/import.out"; failed "podman import"; finish; exit; }
pass "podman import made $IMAGE"
driver=$(podman info --format '{{.Store.GraphDriverName}}')
echo "storage driver: $driver, cgroup manager: $(podman info --format '{{.Host.CgroupManager}}')"

start_eimad "$RUN" "$T/eimad.log" --mode "$MODE" --tpm none --vtpm none ||
	{ failed "eimad starts"; finish; exit; }

echo "== podman run"
# The sandboxes this runs in refuse podman's default RLIMIT_NOFILE (1048576) and an
# RLIMIT_NPROC above a few thousand (measured: 4096 works, 65536 does not): modest limits.
CID=$(podman run -d --network none --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 "$IMAGE" \
	/bin/sh -c '/bin/dyn-true; /bin/dyn-env /bin/true; while [ ! -e /tmp/stop ]; do sleep 0.1; done' 2>"$T/run.err")
if [[ ! $CID =~ ^[0-9a-f]{64}$ ]]; then
	cat "$T/run.err"
	failed "podman run gives a container id"
	CID=
	finish
	exit
fi
pass "podman run: $CID"
wait_ps_state "$RUN" "$CID" running >/dev/null # checked below
settle "$RUN"
"$BIN/eima" ps --run-dir "$RUN" --json >"$T/ps.json"
check_eq "eima ps shows podman's id with runtime podman" "$CID podman running" \
	"$(jq -r --arg id "$CID" '.containers[] | select(.id == $id) | "\(.id) \(.runtime) \(.state)"' "$T/ps.json")"
list=$RUN/containers/$CID/ascii_runtime_measurements
check "the container has its own list" test -s "$list"
check_image_files "$list" "$T/rootfs"
check "no entry names the overlay's host path" bash -c "! grep -q -e '/var/lib/containers' -e '/merged/' '$list'"

echo "== the container stops"
podman exec "$CID" /bin/sh -c 'touch /tmp/stop' 2>/dev/null || podman stop -t 1 "$CID" >/dev/null
podman wait "$CID" >/dev/null 2>&1
check_eq "eima ps shows it exited" exited "$(wait_ps_state "$RUN" "$CID" exited)"
stop_eimad
check_eq "eimad stops cleanly" 0 $?
finish
