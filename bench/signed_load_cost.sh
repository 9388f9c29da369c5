#!/usr/bin/env bash
# The cost a signature check and the only-signed-BPF policy hook add to a BPF program
# load, as ratios against an unsigned load with no policy, measured in the same 6.18 guest
# run (docs/signed-bpf.md; results in BENCHMARKS.md).
#   bench/signed_load_cost.sh [BUILD_DIR] [ROUNDS]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
rounds=${2:-30}
exec "$here/tests/vm/vmrun" --kernel 6.18 --timeout 1200 --bind "$here" --bind "$build" -- \
	bash -c '
	set -euo pipefail
	build=$1 rounds=$2
	kr=$(keyctl newring eima-bench @u)
	openssl x509 -in "$build/bpf/test-signing.crt" -outform DER | keyctl padd asymmetric "" "$kr" >/dev/null
	for obj in bpf_policy measure_lsm; do
		"$build/bin/eima-bench-signed-load" "$build/bpf/$obj.signed.bpf.o" \
			"$build/bpf/bpf_policy.signed.bpf.o" "$kr" "$rounds"
	done
	keyctl unlink "$kr" @u >/dev/null' _ "$build" "$rounds"
