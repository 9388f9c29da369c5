#!/usr/bin/env bash
# eimad as packaging/eimad.service runs it: with exactly the unit's CapabilityBoundingSet,
# NoNewPrivileges and the shipped /etc/eima/eimad.conf (packaging/eimad.conf), eimad
# measures, its swtpm extends and a quote verifies. Without CAP_BPF it must fail to start
# (which shows the bounding set is really applied). The configuration's protect = auto
# leaves protection off where nothing is pinned, saying why, and (lsm mode) turns it on
# once the set is pinned: root's SIGTERM and rm of the pins are refused, eima stop works.
# What systemd's other sandboxing (ProtectSystem=, DevicePolicy=...) does cannot be run
# without systemd as PID 1; the package test checks the unit with systemd-analyze.
#
#   service_caps_test.sh BIN_DIR trace|lsm
BIN=$1
MODE=$2
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
unit=$here/../../packaging/eimad.service
conf=$here/../../packaging/eimad.conf

[[ $(id -u) -eq 0 ]] || skip_test "needs root (BPF)"
command -v setpriv >/dev/null || skip_test "setpriv (util-linux) is not installed"
command -v jq >/dev/null || skip_test "jq is not installed"
T=$(mktemp -d "${EIMA_TEST_TMPDIR:-/tmp}/eima-caps.XXXXXX")
RUN=$T/run
PINS=/sys/fs/bpf/eima-caps-test-$$
cleanup() {
	# A protected eimad refuses signals: its authorized stop first.
	[[ -n ${EIMAD_PID:-} ]] && "$BIN/eima" stop --run-dir "$RUN-pinned" --timeout 60 >/dev/null 2>&1
	stop_eimad >/dev/null 2>&1
	rm -rf "$T" "$PINS"
}
trap cleanup EXIT

# The unit's capabilities as setpriv's bounding set: -all,+bpf,+perfmon,...
caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$unit")
[[ -n $caps ]] || { failed "the unit has a CapabilityBoundingSet"; finish; exit; }
bounding=-all
for c in $caps; do
	c=${c#CAP_}
	bounding+=",+${c,,}"
done
grep -qx 'NoNewPrivileges=yes' "$unit" || failed "the unit sets NoNewPrivileges"
echo "bounding set: $bounding"

# wrap_eimad SET: $T/bin/eimad runs the real eimad as the unit does, with the shipped
# configuration and bounding set SET; start_eimad runs it while BIN points there.
REAL_BIN=$BIN
wrap_eimad() {
	mkdir -p "$T/bin"
	printf '#!/bin/sh\nexec setpriv --bounding-set %s --no-new-privs %s --config %s "$@"\n' \
		"$1" "$REAL_BIN/eimad" "$conf" >"$T/bin/eimad"
	chmod +x "$T/bin/eimad"
}

echo "== without CAP_BPF and CAP_SYS_ADMIN (either allows bpf()) eimad does not start"
wrap_eimad "$(sed 's/,+bpf//; s/,+sys_admin//' <<<"$bounding")"
if BIN=$T/bin start_eimad "$RUN-nobpf" "$T/nobpf.log" --mode "$MODE" >/dev/null 2>&1; then
	failed "eimad started without CAP_BPF and CAP_SYS_ADMIN"
	stop_eimad
else
	pass "eimad refuses to start: $(cat "$T"/nobpf.log* | grep -m1 critical)"
fi

echo "== with the unit's capabilities and configuration eimad measures and attests"
wrap_eimad "$bounding"
BIN=$T/bin start_eimad "$RUN" "$T/eimad.log" --mode "$MODE" || { failed "eimad starts"; finish; exit; }
check_eq "eimad's bounding set is the unit's" "$(setpriv --bounding-set "$bounding" \
		grep CapBnd /proc/self/status)" "$(grep CapBnd "/proc/$EIMAD_PID/status")"
cp -L /usr/bin/true "$T/caps-exec"
printf 'eima-caps-%s' "$RANDOM" >>"$T/caps-exec"
"$T/caps-exec"
settle "$RUN"
check "the exec is in the host list" grep -q "$T/caps-exec" "$RUN/host/ascii_runtime_measurements"
nonce=$(head -c 20 /dev/urandom | xxd -p -c 64)
"$BIN/eima" quote --run-dir "$RUN" --nonce "$nonce" -o "$T/ev.json" --tpm2-tools "$T/q"
check_eq "eima quote exits 0" 0 $?
"$BIN/eima" verify "$T/ev.json" --nonce "$nonce" --ak "$T/q/ak.pem" >"$T/verify.out"
check_eq "eima verify accepts the evidence" 0 $?
# The shipped protect = auto: off here, as nothing is pinned (start_eimad's --pin-dir
# none), and eima status says why.
why=$("$BIN/eima" status --run-dir "$RUN" --json | jq -r '"\(.protection.on) \(.protection.why_off)"')
check "protect = auto without pins: off, and status says why ($why)" \
	grep -q '^false protect = auto, and protection needs ' <<<"$why"
stop_eimad
check_eq "eimad stops cleanly" 0 $?

if [[ $MODE == lsm ]]; then
	echo "== pinned, the shipped protect = auto protects eimad under the unit's capabilities"
	BIN=$T/bin start_eimad "$RUN-pinned" "$T/eimad.pinned.log" --mode lsm --pin-dir "$PINS" ||
		{ failed "eimad starts with its set pinned"; finish; exit; }
	check_eq "protection is on" true "$("$BIN/eima" status --run-dir "$RUN-pinned" --json | jq .protection.on)"
	check_refused "SIGTERM from root (not PID 1) is refused" kill -TERM "$EIMAD_PID"
	check_refused "rm of its pins is refused" rm -rf "$PINS"
	check "eima stop stops it" "$BIN/eima" stop --run-dir "$RUN-pinned" --timeout 60
	wait "$EIMAD_PID"
	check_eq "eimad's exit status after eima stop" 0 $?
	EIMAD_PID=
	check_status "the clean stop removed the pins" 1 test -e "$PINS"
fi
finish
