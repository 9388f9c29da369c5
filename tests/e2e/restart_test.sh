#!/usr/bin/env bash
# End to end: eimad restarts (cleanly, or killed with SIGKILL at random points of an exec
# storm) and resumes its host list against the same TPM: after every restart a quote of
# the TPM verifies against the list, a torn last record is cut off, and every distinct file
# executed is in the list or inside the span of an "eima-interrupted" violation.
#
#   restart_test.sh BIN_DIR trace|lsm
BIN=$1
MODE=$2
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"

[[ $(id -u) -eq 0 ]] || skip_test "needs root (BPF)"
command -v swtpm >/dev/null || skip_test "swtpm is not installed"
T=$(mktemp -d "${EIMA_TEST_TMPDIR:-/tmp}/eima-restart.XXXXXX")
RUN=$T/run
storm=
stop_swtpm() { # the host swtpm outlives a killed eimad by design
	local pid
	pid=$(cat "$RUN/tpm/swtpm.pid" 2>/dev/null) || return 0
	kill "$pid" 2>/dev/null
	for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
}
cleanup() {
	[[ -n $storm ]] && kill "$storm" 2>/dev/null
	stop_eimad >/dev/null 2>&1
	stop_swtpm
	rm -rf "$T"
}
trap cleanup EXIT
ROUNDS=${EIMA_RESTART_ROUNDS:-20}
HOSTLIST=$RUN/host/ascii_runtime_measurements

# A log per start: start_eimad waits for "ready" in it, which an earlier start wrote too.
starts=0
start() {
	starts=$((starts + 1))
	start_eimad "$RUN" "$T/eimad.$starts.log" --mode "$MODE" --tpm swtpm --vtpm none "$@"
}
host_list_state() {
	"$BIN/eima" status --run-dir "$RUN" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["host_list"])'
}
# quote_verifies ROUND: a fresh quote of the host PCRs verifies against the list
AK=
quote_verifies() {
	local n
	n=$(printf '%s' "$1-$RANDOM" | sha256sum | cut -c1-64)
	"$BIN/eima" quote --run-dir "$RUN" --nonce "$n" -o "$T/ev.json" --tpm2-tools "$T/q" \
		>/dev/null 2>"$T/quote.err" || { cat "$T/quote.err"; return 1; }
	[[ -n $AK ]] || { AK=$T/ak.pem; cp "$T/q/ak.pem" "$AK"; } # pinned at first use
	"$BIN/eima" verify "$T/ev.json" --nonce "$n" --ak "$AK" > "$T/verify.out" ||
		{ cat "$T/verify.out"; return 1; }
}

echo "== eimad --mode $MODE, then a clean stop and start"
start || { failed "eimad starts"; finish; exit; }
check_eq "a first start has a new list" "new: no list to resume" "$(host_list_state)"
cp -L /usr/bin/true "$T/before-stop"; printf x >> "$T/before-stop"; "$T/before-stop"
settle "$RUN"
stop_eimad; check_eq "eimad exits 0" 0 $?
entries_before=$(wc -l < "$HOSTLIST") # all of it: the host keeps executing meanwhile
check_status "no swtpm left after a clean stop (its state is saved)" 1 \
	pgrep -f "swtpm socket.*$RUN/tpm"
start || { failed "eimad restarts"; finish; exit; }
check "the restart resumes the list" grep -q "^resumed: $entries_before entries, $entries_before already in the TPM" <<<"$(host_list_state)"
check "a quote verifies after a clean restart" quote_verifies 0
check_eq "one interruption entry marks the restart" 1 "$(grep -c ' eima-interrupted:' "$HOSTLIST")"

echo "== $ROUNDS times: SIGKILL at a random point of an exec storm, then restart"
mkdir -p "$T/bin"
# The storm: distinct new files, each executed once; "NAME START END" (ns) per exec.
(
	i=0
	while :; do
		i=$((i + 1))
		f=$T/bin/x$i
		cp /usr/bin/true "$f.tmp" && printf '%s' "$i" >> "$f.tmp" && mv "$f.tmp" "$f"
		a=$(date +%s%N); "$f"; b=$(date +%s%N)
		echo "$f $a $b" >> "$T/execs"
	done
) &
storm=$!
resumes_ok=0 quotes_ok=0
for round in $(seq 1 "$ROUNDS"); do
	sleep "0.$((RANDOM % 8 + 1))"
	kill -KILL "$EIMAD_PID"; wait "$EIMAD_PID" 2>/dev/null; EIMAD_PID=
	sleep "0.$((RANDOM % 3))"
	if ((round == ROUNDS / 2)); then
		# A torn last record, as if killed inside write(): half of a record's bytes.
		printf '\x0a\x00\x00\x00\x01\x02\x03' >> "$RUN/host/binary_runtime_measurements"
	fi
	start || { failed "round $round: eimad restarts"; break; }
	state=$(host_list_state)
	[[ $state == resumed:* ]] && resumes_ok=$((resumes_ok + 1)) || echo "  round $round: $state"
	if ((round == ROUNDS / 2)); then
		check "the torn record is cut off and kept aside" \
			grep -q "7 torn bytes cut off" <<<"$state"
	fi
	quote_verifies "$round" && quotes_ok=$((quotes_ok + 1)) || echo "  round $round: quote does not verify"
done
kill "$storm"; wait "$storm" 2>/dev/null; storm=
settle "$RUN"
check_eq "every restart resumed the list" "$ROUNDS" "$resumes_ok"
check_eq "after every restart a quote verifies against the list" "$ROUNDS" "$quotes_ok"
check_eq "one interruption entry per restart" "$((ROUNDS + 1))" \
	"$(grep -c ' eima-interrupted:' "$HOSTLIST")"

# Every exec is in the list, or overlaps an interruption span.
python3 - "$HOSTLIST" "$T/execs" > "$T/uncovered" <<'PY'
import sys
spans, listed = [], set()
with open(sys.argv[1], "rb") as f:
    for line in f:
        name = line.rstrip(b"\n").split(b" ", 4)[4].decode(errors="replace")
        if name.startswith("eima-interrupted:"):
            a, b = name.split(":", 1)[1].split("-")
            spans.append((int(a), int(b)))
        else:
            listed.add(name)
total = 0
for line in open(sys.argv[2]):
    path, a, b = line.split()
    total += 1
    if path in listed or any(s <= int(b) and int(a) <= e for s, e in spans):
        continue
    near = min(spans, key=lambda se: min(abs(se[0] - int(a)), abs(se[1] - int(a))))
    print(path, a, b, "nearest interruption", near[0], near[1])
print("total", total, file=sys.stderr)
PY
echo "  $(wc -l < "$T/execs") execs in the storm, $(grep -c "$T/bin/x" "$HOSTLIST") in the list"
check_eq "every exec of a distinct file is in the list or in an interruption span" "" \
	"$(head -5 "$T/uncovered")"
if [[ -s $T/uncovered ]]; then # keep what explains it
	mkdir -p "$T.kept" && cp -a "$RUN/host" "$T"/execs "$T"/eimad.*.log "$T.kept/" &&
		echo "  kept in $T.kept"
fi
check "the list replays to the TPM (eima log verify)" bash -c \
	"mkdir -p '$T/snap' && '$BIN/eima' pcrs --run-dir '$RUN' --snapshot '$T/snap' >/dev/null &&
	 '$BIN/eima' log verify '$T/snap/binary_runtime_measurements' \
		--pcrs sha1,'$T/snap/pcrs.sha1' --pcrs sha256,'$T/snap/pcrs.sha256' >/dev/null"

echo "== a TPM reset to zero PCRs: the whole list is extended again"
kill -KILL "$EIMAD_PID"; wait "$EIMAD_PID" 2>/dev/null; EIMAD_PID=
kill -KILL "$(cat "$RUN/tpm/swtpm.pid")" # no saved state: it starts clear
sleep 0.2
start || { failed "eimad starts after the TPM was reset"; finish; exit; }
state=$(host_list_state); echo "  $state"
check "the list is resumed onto the zeroed TPM" \
	grep -q "^resumed: \([0-9]*\) entries, 0 already in the TPM, \1 extended now" <<<"$state"
check "a quote verifies after the TPM reset" quote_verifies reset

echo "== a TPM extended by someone else: the list is set aside, a new one starts"
kill -KILL "$EIMAD_PID"; wait "$EIMAD_PID" 2>/dev/null; EIMAD_PID=
if tpm2_pcrextend -T "swtpm:path=$RUN/tpm/sock" \
	10:sha256=0000000000000000000000000000000000000000000000000000000000000001 2>"$T/ext.err"; then
	start || { failed "eimad starts after a foreign extend"; finish; exit; }
	state=$(host_list_state); echo "  $state"
	check "the unverifiable list is set aside, not replaced" grep -q \
		"^new: the TPM holds no prefix of the last list .*; kept as $RUN/host.unverifiable-" \
		<<<"$state"
	check "the list set aside is whole" test -s "$(ls -d "$RUN"/host.unverifiable-* | head -1)/binary_runtime_measurements"
	# PCR 10 holds what someone else extended: no list of eimad's replays to it until the
	# TPM is reset (a reboot; --fresh for the embedded swtpm), and the verifier says so.
	if quote_verifies foreign >/dev/null; then
		failed "a quote does not verify while the TPM holds a foreign extend"
	else
		pass "a quote does not verify while the TPM holds a foreign extend"
	fi
	check "the verifier names the replay" grep -q "replay.*FAIL" "$T/verify.out"
else
	failed "tpm2_pcrextend on the swtpm: $(cat "$T/ext.err")"
fi

echo "== --fresh starts anew"
stop_eimad
start --fresh || { failed "eimad --fresh starts"; finish; exit; }
check_eq "--fresh starts a new list" "new: --fresh" "$(host_list_state)"
check "a quote verifies after --fresh" quote_verifies fresh
stop_eimad; check_eq "eimad exits 0" 0 $?
finish
