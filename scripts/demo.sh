#!/usr/bin/env bash
# The demo: eimad with its embedded swtpm measures a small busybox container into its own
# list and its own vTPM, bound into the host list; evmctl checks the host list against the
# TPM; a verifier checks the container's quote under the host's key, and names the check a
# changed byte fails; then the rootfs is blessed from an SBOM and, under enforcement, a
# blessed program runs and an unblessed one is refused in the kernel. Runs natively where
# BPF LSM works, otherwise inside the test VM (tests/vm/vmrun), where it does.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${EIMA_BUILD_DIR:-$here/build}
bash "$here/scripts/setup.sh"
EIMA_BUILD_DIR=$build bash "$here/scripts/build.sh" >/dev/null
if [[ ${EIMA_DEMO_VM:-auto} != 1 ]] && grep -qw bpf /sys/kernel/security/lsm 2>/dev/null; then
	exec bash "$here/scripts/demo_steps.sh" "$build/bin"
fi
echo "BPF LSM is not usable here: running the demo in the test VM (Debian 6.12, lsm=...,bpf)"
exec "$here/tests/vm/vmrun" --bind "$here" --bind "$build" --timeout 600 -- bash "$here/scripts/demo_steps.sh" "$build/bin"
