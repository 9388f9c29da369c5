#!/usr/bin/env bash
# The demo's steps (see demo.sh): BIN_DIR holds eima, eimad and eima-test-container.
set -euo pipefail
BIN=$1
here=$(cd "$(dirname "$0")/.." && pwd)
source "$here/tests/e2e/lib.sh"
set -e
T=$(mktemp -d /tmp/eima-demo.XXXXXX)
RUN=$T/run
trap 'stop_eimad >/dev/null 2>&1 || true; rm -rf "$T"' EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "a busybox-static root filesystem with a dynamically linked binary"
make_rootfs "$T/rootfs"
ls -l "$T/rootfs/bin" | head -5

step "eimad starts (embedded swtpm, default policy 'exec')"
start_eimad "$RUN" "$T/eimad.log"
"$BIN/eima" status --run-dir "$RUN"

step "a container (new mount/pid/uts/ipc namespaces, pivot_root) runs three programs and stays up"
"$BIN/eima-test-container" --hostname demo "$T/rootfs" -- /bin/sh -c \
	'echo "hello from $(hostname), pid $$"; /bin/dyn-true; /bin/dyn-env /bin/echo done;
	 while [ ! -e /tmp/stop ]; do sleep 0.1; done' &
container_pid=$!
for _ in $(seq 1 100); do
	cid=$("$BIN/eima" ps --run-dir "$RUN" --json | jq -r '[.containers[] | select(.state == "running")][0].id // empty')
	[[ -n $cid ]] && "$BIN/eima" ps --run-dir "$RUN" --json |
		jq -e --arg id "$cid" '.containers[] | select(.id == $id) | .vtpm.bound' >/dev/null && break
	sleep 0.1
done
settle "$RUN"

step "eima ps: the container, its list and its own vTPM (a swtpm)"
"$BIN/eima" ps --run-dir "$RUN"

step "the container's own measurement list ($RUN/containers/$cid), as the container sees its paths"
"$BIN/eima" log show --run-dir "$RUN" --container "$cid"

step "the host list: the container's files as <id>:<path> on PCR 11, and its vTPM bound (eima-vtpm:<id>)"
grep -E " ($cid:|eima-vtpm:$cid)" "$RUN/host/ascii_runtime_measurements" | cut -c1-150 | head -8

step "evmctl checks the host list against the TPM's PCRs"
snapshot "$RUN" "$T/snap"
grep -E "PCR-1[01]" "$T/snap/pcrs.sha256"
evmctl ima_measurement --ignore-violations --pcrs sha1,"$T/snap/pcrs.sha1" \
	--pcrs sha256,"$T/snap/pcrs.sha256" "$T/snap/binary_runtime_measurements" 2>&1 | tail -2
"$BIN/eima" log verify "$T/snap/binary_runtime_measurements" --pcrs sha1,"$T/snap/pcrs.sha1" --pcrs sha256,"$T/snap/pcrs.sha256"

step "a verifier pins the host's attestation key (from a first host quote)"
nonce() { head -c 20 /dev/urandom | xxd -p -c 64; }
"$BIN/eima" quote --run-dir "$RUN" --nonce "$(nonce)" -o "$T/host.json" --tpm2-tools "$T/qh"
host_ak=$T/qh/ak.pem

step "eima quote --container: the vTPM's quote of the container's list, with the host evidence binding it"
n=$(nonce)
"$BIN/eima" quote --run-dir "$RUN" --container "$cid" --nonce "$n" -o "$T/container.json"
"$BIN/eima" verify "$T/container.json" --nonce "$n" --ak "$host_ak"

step "one byte of the container's list changed: eima verify names the check that fails"
python3 - "$T/container.json" "$T/tampered.json" <<'PY'
import base64, json, sys
ev = json.load(open(sys.argv[1]))
data = bytearray(base64.b64decode(ev["list"]["data"]))
data[-3] ^= 0x01  # a byte of the last entry's file name
ev["list"]["data"] = base64.b64encode(bytes(data)).decode()
json.dump(ev, open(sys.argv[2], "w"))
PY
if "$BIN/eima" verify "$T/tampered.json" --nonce "$n" --ak "$host_ak"; then
	echo "the tampered evidence verified: this must not happen" >&2
	exit 1
fi

step "the container exits: its final quote and evidence are kept"
touch "$T/rootfs/tmp/stop"
wait "$container_pid" || true
for _ in $(seq 1 100); do
	final=$("$BIN/eima" ps --run-dir "$RUN" --json | jq -r --arg id "$cid" '.containers[] | select(.id == $id and .state == "exited") | .final_evidence // empty')
	[[ -n $final && $final != pending* ]] && break
	sleep 0.1
done
"$BIN/eima" ps --run-dir "$RUN"
echo "final evidence: $final"

step "eimad stops on SIGTERM"
stop_eimad
tail -1 "$T/eimad.log"

step "enforcement: the rootfs blessed from an SBOM (signed digests in user.eima and security.ima)"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=eima-demo" \
	-keyout "$T/bless.key" -out "$T/bless.crt" 2>/dev/null
sep=''
{
	echo '{"spdxVersion": "SPDX-2.3", "name": "demo-rootfs", "files": ['
	for f in bin/busybox bin/dyn-true bin/dyn-env lib64/ld-linux-x86-64.so.2 \
		lib/x86_64-linux-gnu/libc.so.6; do
		printf '%s{"fileName": "/%s", "checksums": [{"algorithm": "SHA256", "checksumValue": "%s"}]}\n' \
			"$sep" "$f" "$(sha256_of "$T/rootfs/$f")"
		sep=,
	done
	echo ']}'
} >"$T/sbom.json"
"$BIN/eima" bless --sbom "$T/sbom.json" --root "$T/rootfs" --key "$T/bless.key" --cert "$T/bless.crt" |
	tail -3
cp "$T/rootfs/bin/dyn-true" "$T/rootfs/bin/unblessed"
printf 'x' >>"$T/rootfs/bin/unblessed"
cat >"$T/enforce.policy" <<'POLICY'
measure func=BPRM_CHECK
measure func=MMAP_CHECK mask=MAY_EXEC
appraise func=BPRM_CHECK appraise_type=imasig container=*
appraise func=MMAP_CHECK appraise_type=imasig container=*
POLICY
start_eimad "$RUN-enforce" "$T/eimad-enforce.log" --tpm none --vtpm none \
	--policy "$T/enforce.policy" --appraise enforce --trusted-cert "$T/bless.crt"
"$BIN/eima" status --run-dir "$RUN-enforce" | grep -E '^(mode|appraisal|keyring):'

step "in a container, a blessed program runs; a copy with one byte changed is refused (EPERM)"
"$BIN/eima-test-container" "$T/rootfs" -- /bin/sh -c \
	'/bin/dyn-true && echo "dyn-true ran"; /bin/unblessed; echo "unblessed: exit $?"'
"$BIN/eima" audit --run-dir "$RUN-enforce"
stop_eimad
