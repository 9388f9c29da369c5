#!/usr/bin/env bash
# deploy/kubernetes: the image builds with buildah from the .deb (build-image.sh), and
# eimad starts in it as the DaemonSet runs it - privileged, the host's PID namespace, the
# host's bpffs, tracefs and securityfs, /run/eima from the host - here with podman. The
# host's eima then talks to it through the shared run directory, and a host exec is
# measured. The DaemonSet manifest parses and runs this image with these mounts.
#   image_test.sh BUILD_DIR
set -euo pipefail
build=$1
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
BIN=$build/bin
source "$repo/tests/e2e/lib.sh"
set +e
[[ $(id -u) -eq 0 ]] || skip_test "needs root (buildah, podman, BPF)"
for tool in buildah podman mmdebstrap python3; do
	command -v $tool >/dev/null || skip_test "$tool is not installed"
done
T=$(mktemp -d /tmp/eima-image-test.XXXXXX)
TAG=localhost/eima-test:$$
NAME=eimad-image-test-$$
cleanup() {
	podman rm -f -t 5 "$NAME" >/dev/null 2>&1
	# eimad in the container started a swtpm outliving it (the TPM outlives eimad); in the
	# host's PID namespace, so it is the host's to stop.
	[[ -f $T/run/tpm/swtpm.pid ]] && kill "$(cat "$T/run/tpm/swtpm.pid")" 2>/dev/null
	podman rmi -f "$TAG" >/dev/null 2>&1
	buildah rmi -f "$TAG" >/dev/null 2>&1
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

echo "== the image builds from the .deb"
EIMA_BUILD_DIR=$build bash "$repo/deploy/kubernetes/build-image.sh" "$TAG" >"$T/build.out" 2>"$T/build.err"
rc=$?
check_eq "build-image.sh" 0 $rc
[[ $rc -eq 0 ]] || { tail -20 "$T/build.err"; finish; exit; }
check "the image runs eimad --version" bash -c \
	"podman run --rm --network none --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 \
	 --entrypoint /usr/sbin/eimad '$TAG' --version | grep -q '^eimad '"

echo "== the DaemonSet's pod spec uses this image's entrypoint and these mounts"
check "the manifest parses and mounts bpffs, tracefs, securityfs and /run/eima" python3 - \
	"$repo/deploy/kubernetes/daemonset.yaml" <<'PY'
import sys, yaml
docs = list(yaml.safe_load_all(open(sys.argv[1])))
ds = next(d for d in docs if d["kind"] == "DaemonSet")
pod = ds["spec"]["template"]["spec"]
c = pod["containers"][0]
mounts = {m["mountPath"] for m in c["volumeMounts"]}
assert pod["hostPID"] and c["securityContext"]["privileged"], "privileged, hostPID"
assert {"/sys/fs/bpf", "/sys/kernel/tracing", "/sys/kernel/security", "/run/eima"} <= mounts, mounts
assert any(d["kind"] == "ConfigMap" and "eimad.conf" in d["data"] for d in docs), "config"
PY

echo "== eimad starts in it as the DaemonSet runs it"
mkdir -p "$T/run"
podman run -d --name "$NAME" --privileged --pid host --network none \
	--ulimit nofile=1024:1024 --ulimit nproc=4096:4096 \
	-v /sys/fs/bpf:/sys/fs/bpf -v /sys/kernel/tracing:/sys/kernel/tracing \
	-v "$T/run:/run/eima" "$TAG" --mode trace --tpm swtpm --vtpm none --pin-dir none \
	>"$T/run.out" 2>&1
check_eq "podman run" 0 $?
ready=
for _ in $(seq 1 100); do
	podman logs "$NAME" 2>&1 | grep -q 'eimad: ready' && { ready=1; break; }
	sleep 0.2
done
check "eimad says it is ready" test -n "$ready"
[[ -n $ready ]] || { podman logs "$NAME" 2>&1 | tail -20; finish; exit; }
check "the host's eima reads its status through /run/eima" \
	bash -c "'$BIN/eima' status --run-dir '$T/run' | grep -q '^mode: *trace'"
cp -L /usr/bin/sleep "$T/host-exec"
printf 'eima-image-%s' "$RANDOM" >>"$T/host-exec"
"$T/host-exec" 0.5
settle "$T/run"
# On a node, /proc/1/ns/mnt (init's, the host's) is readable from a privileged hostPID pod
# and host processes are the host. This sandbox hides PID 1's namespaces from containers,
# so eimad falls back to its own and files run on the host are listed under a container
# named by the host's mount namespace: the test accepts either name, and checks the digest.
check_eq "a host exec is in the host list with its digest" \
	"$(sha256_of "$T/host-exec") $T/host-exec" \
	"$(list_entries "$T/run/host/ascii_runtime_measurements" |
		awk -v p="$T/host-exec" '{ sub(/^mntns-[0-9]+:/, "", $2) } $2 == p' | head -1)"
podman stop -t 10 "$NAME" >/dev/null 2>&1
check_eq "eimad stops cleanly on the pod's SIGTERM" 0 "$(podman inspect -f '{{.State.ExitCode}}' "$NAME")"
finish
