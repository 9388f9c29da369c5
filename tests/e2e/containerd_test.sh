#!/usr/bin/env bash
# containerd through ctr: a containerd of the test's own (its own root, state and socket;
# nothing of a system containerd is touched), an image imported locally (podman import
# of a busybox-static rootfs, saved as a docker archive, `ctr images import`; no
# registry); eima ps shows containerd's namespace and the container's id; its list holds
# its files with the paths it sees, through containerd's overlayfs snapshotter.
#
#   containerd_test.sh BIN_DIR trace|lsm
BIN=$1
MODE=$2
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"

[[ $(id -u) -eq 0 ]] || skip_test "needs root (BPF, containerd)"
for tool in containerd ctr podman jq; do
	command -v $tool >/dev/null || skip_test "$tool is not installed"
done
T=$(mktemp -d "${EIMA_TEST_TMPDIR:-/tmp}/eima-containerd.XXXXXX")
RUN=$T/run
NS=eima-test-$$
ID=eima-ctr-$$
SOCK=$T/containerd.sock
IMAGE=localhost/eima-test-busybox:ctr-$$
CTD_PID=
ctr_() { ctr -a "$SOCK" -n "$NS" "$@"; }
cleanup() {
	if [[ -n $CTD_PID ]]; then
		ctr_ tasks kill -s KILL "$ID" >/dev/null 2>&1
		sleep 0.3
		ctr_ tasks delete -f "$ID" >/dev/null 2>&1
		ctr_ containers delete "$ID" >/dev/null 2>&1
		kill "$CTD_PID" 2>/dev/null
		wait "$CTD_PID" 2>/dev/null
		# the runc shim's state root is containerd's default, shared: only our namespace
		rm -rf "/run/containerd/runc/$NS"
	fi
	podman rmi -f "$IMAGE" >/dev/null 2>&1
	stop_eimad >/dev/null 2>&1
	# containerd's overlay mounts, if any is left
	grep -o " $T/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

echo "== a containerd of the test's own"
cat >"$T/config.toml" <<TOML
version = 2
root = "$T/root"
state = "$T/state"
[grpc]
  address = "$SOCK"
[plugins."io.containerd.grpc.v1.cri"]
  disable = true
TOML
containerd --config "$T/config.toml" >"$T/containerd.log" 2>&1 &
CTD_PID=$!
for _ in $(seq 1 100); do ctr -a "$SOCK" version >/dev/null 2>&1 && break; sleep 0.1; done
check "containerd answers" ctr -a "$SOCK" version

echo "== an image imported locally"
make_rootfs "$T/rootfs"
tar -C "$T/rootfs" -cf "$T/rootfs.tar" .
podman import "$T/rootfs.tar" "$IMAGE" >/dev/null 2>&1 &&
	podman save --format docker-archive -o "$T/image.tar" "$IMAGE" >/dev/null 2>&1 &&
	ctr_ images import "$T/image.tar" >"$T/import.out" 2>&1
check_eq "ctr images import" 0 $?

start_eimad "$RUN" "$T/eimad.log" --mode "$MODE" --tpm none --vtpm none ||
	{ failed "eimad starts"; finish; exit; }

echo "== ctr run"
ctr_ run -d "$IMAGE" "$ID" /bin/sh -c \
	'/bin/dyn-true; /bin/dyn-env /bin/true; while [ ! -e /tmp/stop ]; do sleep 0.1; done' \
	>"$T/run.out" 2>&1
check_eq "ctr run -d" 0 $?
wait_ps_state "$RUN" "$ID" running >/dev/null # checked below
settle "$RUN"
"$BIN/eima" ps --run-dir "$RUN" --json >"$T/ps.json"
check_eq "eima ps: containerd's namespace and id, runtime containerd" "$ID containerd $NS running" \
	"$(jq -r --arg id "$ID" '.containers[] | select(.id == $id) | "\(.id) \(.runtime) \(.namespace) \(.state)"' "$T/ps.json")"
check "the table shows containerd/$NS" bash -c "'$BIN/eima' ps --run-dir '$RUN' | grep -q '^$ID .*containerd/$NS'"
list=$RUN/containers/$ID/ascii_runtime_measurements
check_image_files "$list" "$T/rootfs"
check "no entry names the snapshotter's host path" bash -c "! grep -q -e 'snapshots/' '$list'"

echo "== the task stops"
ctr_ tasks kill -s KILL "$ID" >/dev/null 2>&1
check_eq "eima ps shows it exited" exited "$(wait_ps_state "$RUN" "$ID" exited)"
stop_eimad
check_eq "eimad stops cleanly" 0 $?
finish
