#!/usr/bin/env bash
# Attestation rate (issue 11): `eima quote` + `eima verify` a second, for the host (the
# embedded swtpm) and for a container (its vTPM's quote plus the host evidence binding
# it), sequential and with P clients at once: first as `eima quote` + `eima verify`
# processes, then from one long-lived process (eima-bench-attest, bench/attest_loop.cpp).
# The Keylime perf-test sample's 3.9/s is the reference the issue names.
# Prints a Markdown section; BENCHMARKS.md holds the latest.
#   bench/attest_rate.sh [BUILD_DIR]   (root; EIMA_BENCH_QUOTES=N per case, EIMA_BENCH_PAR=P)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
BIN=$build/bin
N=${EIMA_BENCH_QUOTES:-100}
P=${EIMA_BENCH_PAR:-4}
source "$here/tests/e2e/lib.sh"
T=$(mktemp -d /var/tmp/eima-attestbench.XXXXXX)
RUN=$T/run
CONTAINER=
cleanup() {
	[[ -n $CONTAINER ]] && touch "$T/rootfs/tmp/stop" && wait "$CONTAINER" 2>/dev/null
	stop_eimad >/dev/null 2>&1 || true
	rm -rf "$T"
}
trap cleanup EXIT

make_rootfs "$T/rootfs"
start_eimad "$RUN" "$T/eimad.log" --mode trace --tpm swtpm --vtpm swtpm >/dev/null
"$BIN/eima-test-container" "$T/rootfs" -- /bin/sh -c \
	'/bin/dyn-true; while [ ! -e /tmp/stop ]; do sleep 0.1; done' &
CONTAINER=$!
id=
for _ in $(seq 1 200); do
	id=$("$BIN/eima" ps --run-dir "$RUN" --json |
		jq -r '[.containers[] | select(.state == "running" and .vtpm.bound == true)][0].id // empty')
	[[ -n $id ]] && break
	sleep 0.1
done
[[ -n $id ]] || { echo "no container with a bound vTPM" >&2; exit 1; }
"$BIN/eima" quote --run-dir "$RUN" --nonce 00 -o "$T/pin.json" --tpm2-tools "$T/pin" >/dev/null
AK=$T/pin/ak.pem

# one ARGS...: one quote and one verify (fresh nonce); fails loudly if verify fails.
one() {
	local n out
	n=$(head -c 16 /dev/urandom | xxd -p -c 64)
	out=$(mktemp "$T/ev.XXXXXX")
	"$BIN/eima" quote --run-dir "$RUN" --nonce "$n" -o "$out" "$@" >/dev/null &&
		"$BIN/eima" verify "$out" --nonce "$n" --ak "$AK" >/dev/null ||
		{ echo "quote or verify failed: $*" >&2; return 1; }
	rm -f "$out"
}
# floor: a round of the same shape that does no attestation: the same helpers, and two
# starts of the same eima binary (`eima --version`: the dynamic linking and page faults of
# a start, no work). The baseline for the process rows: what starting processes costs on
# this machine, whatever they do.
floor() {
	local n out
	n=$(head -c 16 /dev/urandom | xxd -p -c 64)
	out=$(mktemp "$T/ev.XXXXXX")
	"$BIN/eima" --version >/dev/null && "$BIN/eima" --version >/dev/null
	rm -f "$out"
}
# rate ROUND PARALLEL ARGS...: N rounds of ROUND (one or floor), PARALLEL at a time;
# prints rounds per second.
rate() {
	local round=$1 par=$2; shift 2
	local start end i
	start=$(date +%s%N)
	for ((i = 0; i < N; i += par)); do
		for ((j = 0; j < par && i + j < N; ++j)); do "$round" "$@" & done
		wait
	done
	end=$(date +%s%N)
	awk -v n="$N" -v ns="$((end - start))" 'BEGIN { printf "%.1f", n / (ns / 1e9) }'
}
floor1=$(rate floor 1)
floorp=$(rate floor "$P")
host1=$(rate one 1)
hostp=$(rate one "$P")
cont1=$(rate one 1 --container "$id")
contp=$(rate one "$P" --container "$id")
# loop CLIENTS [CONTAINER]: N rounds from one long-lived process (bench/attest_loop.cpp).
loop() {
	local line
	line=$("$BIN/eima-bench-attest" "$RUN" "$AK" "$N" "$@") || exit 1
	sed 's/.*: //; s,/s$,,' <<<"$line"
}
lhost1=$(loop 1)
lhostp=$(loop "$P")
lcont1=$(loop 1 "$id")
lcontp=$(loop "$P" "$id")

echo "## Attestation rate (quote + verify per second, trace mode, swtpm)"
echo
echo "- $(date -u +%F), kernel $(uname -r), $(nproc) CPUs, load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- command: \`bench/attest_rate.sh\` ($N rounds per case; $P clients at once for the parallel cases)"
echo
echo "| evidence | processes: sequential /s | processes: $P at once /s | one process: sequential /s | one process: $P clients /s | best vs Keylime sample (3.9/s) |"
echo "|---|---|---|---|---|---|"
best() { printf '%s\n' "$@" | sort -g | tail -n1; }
row() {
	local b
	b=$(best "$2" "$3" "$4" "$5")
	echo "| $1 | $2 | $3 | $4 | $5 | $(awk -v a="$b" 'BEGIN { printf "%.1f×", a / 3.9 }') |"
}
row host "$host1" "$hostp" "$lhost1" "$lhostp"
row "container (vTPM + host binding)" "$cont1" "$contp" "$lcont1" "$lcontp"
echo
# ms a round: what attestation adds to a round of the same shape that does nothing.
ms() { awk -v r="$1" 'BEGIN { printf "%.1f", 1000 / r }'; }
echo "Process floor (a round of the same shape, two \`eima --version\` instead of quote and"
echo "verify): $floor1/s sequential, $floorp/s $P at once. A sequential round costs $(ms "$floor1") ms"
echo "with no attestation in it; quote + verify add $(awk -v a="$host1" -v f="$floor1" \
	'BEGIN { printf "%.1f", 1000 / a - 1000 / f }') ms (host) and $(awk -v a="$cont1" -v f="$floor1" \
	'BEGIN { printf "%.1f", 1000 / a - 1000 / f }') ms (container) to it."
# Why starts cost what they cost here: minor page faults per start, eima against /bin/true.
faults() { /usr/bin/time -f %R "$@" 2>&1 >/dev/null | tail -n1; }
start_ms() { # the wall time of one start, the mean of 50
	local s i
	s=$(date +%s%N)
	for ((i = 0; i < 50; ++i)); do "$@" >/dev/null; done
	awk -v ns="$(($(date +%s%N) - s))" 'BEGIN { printf "%.1f", ns / 50 / 1e6 }'
}
echo "One start of \`eima --version\`: $(start_ms "$BIN/eima" --version) ms and" \
	"$(faults "$BIN/eima" --version) page faults; of /bin/true: $(start_ms /bin/true) ms and" \
	"$(faults /bin/true) page faults."
echo
echo "\"processes\": each round is \`eima quote\` then \`eima verify\` (two process starts and the"
echo "shell's own work); \"one process\": \`eima-bench-attest\`, the same quote and checks from one"
echo "long-lived process (a verifier that keeps running, as Keylime's does)."
