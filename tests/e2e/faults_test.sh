#!/usr/bin/env bash
# End to end: eimad under faults, one phase per row of docs/failure-modes.md.
# - the host swtpm stopped (SIGSTOP) under an exec storm: measuring goes on into the list,
#   `eima status` answers, the state says stalled with entries pending; a quote asked
#   meanwhile waits, and verifies once the TPM runs again; everything catches up;
# - swtpm killed (SIGKILL): eimad starts it again, finds the prefix of the list it holds
#   (none: its PCRs are zero again) and extends the list again, in order; a quote verifies;
# - swtpm gone (killed, and its state directory moved away so it cannot start): the state
#   says lost, entries pending; a quote fails saying how many are pending; when the state
#   comes back everything is extended and a quote verifies;
# - the run directory on a full tmpfs: entries wait in memory, status says why; when space
#   returns every one is written, the list reads back whole, and a quote verifies.
#
#   faults_test.sh BIN_DIR trace|lsm
BIN=$1
MODE=$2
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"

[[ $(id -u) -eq 0 ]] || skip_test "needs root (BPF, mount)"
command -v swtpm >/dev/null || skip_test "swtpm is not installed"
T=$(mktemp -d "${EIMA_TEST_TMPDIR:-/tmp}/eima-faults.XXXXXX")
RUN=$T/run
SMALL=$T/small
qpid=
swtpm_pid() { cat "$RUN/tpm/swtpm.pid" 2>/dev/null; }
stop_swtpm() { # the host swtpm outlives eimad by design
	local pid
	pid=$(swtpm_pid) || return 0
	kill -CONT "$pid" 2>/dev/null
	kill "$pid" 2>/dev/null
	for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
}
cleanup() {
	[[ -n $qpid ]] && kill "$qpid" 2>/dev/null
	[[ -d $RUN/tpm.away ]] && mv "$RUN/tpm.away" "$RUN/tpm"
	local pid; pid=$(swtpm_pid) && kill -CONT "$pid" 2>/dev/null
	stop_eimad >/dev/null 2>&1
	stop_swtpm
	RUN=$SMALL/run stop_swtpm
	mountpoint -q "$SMALL" && umount "$SMALL"
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

status_field() { # status_field NAME
	"$BIN/eima" status --run-dir "$RUN" --json |
		python3 -c 'import json,sys; print(json.load(sys.stdin).get(sys.argv[1]))' "$1"
}
# wait_for NAME VALUE SECONDS: until status field NAME is VALUE
wait_for() {
	for _ in $(seq 1 $(($3 * 10))); do
		[[ $(status_field "$1") == "$2" ]] && return 0
		sleep 0.1
	done
	echo "  $1 is $(status_field "$1"), not $2, after $3 s"
	return 1
}
# storm N NAME: N distinct executables, each run once
storm() {
	local i
	mkdir -p "$T/bin"
	for i in $(seq 1 "$1"); do
		cp /usr/bin/true "$T/bin/$2-$i"
		printf '%s' "$2-$i" >> "$T/bin/$2-$i"
		"$T/bin/$2-$i"
	done
}
in_list() { grep -c " $T/bin/$1-[0-9]*\$" "$RUN/host/ascii_runtime_measurements"; }
AK=
quote_verifies() {
	local n
	n=$(printf '%s' "$RANDOM-$RANDOM" | sha256sum | cut -c1-64)
	"$BIN/eima" quote --run-dir "$RUN" --nonce "$n" -o "$T/ev.json" --tpm2-tools "$T/q" \
		>/dev/null 2>"$T/quote.err" || { cat "$T/quote.err"; return 1; }
	[[ -n $AK ]] || { AK=$T/ak-$(basename "$RUN").pem; cp "$T/q/ak.pem" "$AK"; }
	"$BIN/eima" verify "$T/ev.json" --nonce "$n" --ak "$AK" > "$T/verify.out" ||
		{ cat "$T/verify.out"; return 1; }
}

echo "== eimad --mode $MODE; the host swtpm stopped (SIGSTOP) under an exec storm"
start_eimad "$RUN" "$T/eimad.log" --mode "$MODE" --tpm swtpm --vtpm none ||
	{ failed "eimad starts"; finish; exit; }
storm 20 a
settle "$RUN"
check "a quote verifies before any fault" quote_verifies
sw=$(swtpm_pid)
kill -STOP "$sw"
storm 200 b
start=$(date +%s%N)
check "eima status answers while the TPM is stopped" timeout 5 "$BIN/eima" status --run-dir "$RUN"
echo "  (status took $((($(date +%s%N) - start) / 1000000)) ms)"
check_eq "every exec of the storm is in the list" 200 "$(in_list b)"
pending=$(status_field tpm_pending)
check "entries are pending for the TPM ($pending)" test "$pending" -ge 150
sleep 6
check_eq "after 5 s without an answer the TPM shows as stalled" stalled "$(status_field tpm_state)"
rss=$(awk '/VmRSS/ {print $2}' "/proc/$EIMAD_PID/status")
echo "  eimad RSS with $pending entries pending: $rss kB"
n=$(printf 'stalled-%s' "$RANDOM" | sha256sum | cut -c1-64)
"$BIN/eima" quote --run-dir "$RUN" --nonce "$n" -o "$T/ev-stalled.json" >/dev/null 2>"$T/q-stalled.err" &
qpid=$!
sleep 1
check "the quote asked meanwhile waits" kill -0 "$qpid"
kill -CONT "$sw"
wait "$qpid"; rc=$?; qpid=
check_eq "the quote asked during the stall is answered once the TPM runs" 0 "$rc"
check "and verifies" "$BIN/eima" verify "$T/ev-stalled.json" --nonce "$n" --ak "$AK"
check "everything catches up" wait_for tpm_pending 0 20
check_eq "the TPM is open again" open "$(status_field tpm_state)"
check "a quote verifies after the stall" quote_verifies

echo "== swtpm killed (SIGKILL) under an exec storm"
kill -KILL "$sw"
storm 100 c
settle "$RUN"
check_eq "every exec of the storm is in the list" 100 "$(in_list c)"
check "everything is extended again into the new swtpm" wait_for tpm_pending 0 30
check "eimad started a new swtpm" test "$(swtpm_pid)" != "$sw"
check "one recovery is counted" test "$(status_field tpm_recoveries)" -ge 1
check_eq "the TPM is open again" open "$(status_field tpm_state)"
check "a quote verifies after the kill (same AK: same TPM state)" quote_verifies

echo "== swtpm gone: killed, and its state cannot be opened"
sw=$(swtpm_pid)
mv "$RUN/tpm" "$RUN/tpm.away"
kill -KILL "$sw"
storm 30 d
settle "$RUN"
check_eq "every exec is in the list" 30 "$(in_list d)"
check "the state says lost" wait_for tpm_state lost 15
check "eima status says the TPM is lost" \
	bash -c "'$BIN/eima' status --run-dir '$RUN' | grep -q '^tpm state:   lost: '"
pending=$(status_field tpm_pending)
check "entries are pending ($pending)" test "$pending" -ge 30
timeout 60 "$BIN/eima" quote --run-dir "$RUN" --nonce 00ff -o "$T/ev-gone.json" \
	>/dev/null 2>"$T/q-gone.err"
check_status "a quote fails" 1 test ! -s "$T/q-gone.err"
check "its error says how many entries are pending" grep -q "host entries pending" "$T/q-gone.err"
cat "$T/q-gone.err"
mv "$RUN/tpm.away" "$RUN/tpm"
check "when the TPM can be opened again, everything is extended" wait_for tpm_pending 0 30
check "a quote verifies after the TPM came back" quote_verifies
stop_eimad; check_eq "eimad stops cleanly" 0 $?
stop_swtpm

echo "== the run directory full (a 4 MiB tmpfs)"
mkdir -p "$SMALL"
mount -t tmpfs -o size=4m tmpfs "$SMALL" || { failed "mount a tmpfs"; finish; exit; }
RUN=$SMALL/run
AK=
start_eimad "$RUN" "$T/eimad2.log" --mode "$MODE" --tpm swtpm --vtpm none ||
	{ failed "eimad starts on the tmpfs"; finish; exit; }
storm 10 e
settle "$RUN"
dd if=/dev/zero of="$SMALL/filler" bs=64k 2>/dev/null
storm 100 f
settle "$RUN"
check "status says why the list is not written" \
	bash -c "'$BIN/eima' status --run-dir '$RUN' --json | grep -q 'No space left on device'"
check "the storm is not on disk yet" test "$(in_list f)" -lt 100
check_eq "nothing is lost (it waits in memory)" 0 "$(status_field host_lost_entries)"
rm -f "$SMALL/filler"
storm 1 g
settle "$RUN"
check_eq "once there is room every exec is in the list" 100 "$(in_list f)"
check "the list reads back" bash -c "'$BIN/eima' log show --run-dir '$RUN' >/dev/null"
check "a quote verifies after the disk was full" quote_verifies
stop_eimad; check_eq "eimad stops cleanly" 0 $?
finish
