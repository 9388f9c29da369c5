#!/usr/bin/env bash
# eima events: a follower gets a new exec's measurement promptly; a container's start,
# vTPM binding, measurements and exit; quotes; every event valid against
# docs/events.schema.json; a path that is not UTF-8 survives; a reader that never reads
# does not hold eimad up; --events-syslog sends the same lines to /dev/log (a listener of
# the test's, in eimad's own mount namespace: this machine has no syslog daemon).
#
#   events_test.sh BIN_DIR trace|lsm
BIN=$1
MODE=$2
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
schema=$here/../../docs/events.schema.json

[[ $(id -u) -eq 0 ]] || skip_test "needs root (BPF)"
command -v jq >/dev/null || skip_test "jq is not installed"
python3 -c 'import jsonschema' 2>/dev/null || skip_test "python3-jsonschema is not installed"
T=$(mktemp -d "${EIMA_TEST_TMPDIR:-/tmp}/eima-events.XXXXXX")
RUN=$T/run
FOLLOW_PID=
SYSLOG_PID=
cleanup() {
	[[ -n $FOLLOW_PID ]] && kill "$FOLLOW_PID" 2>/dev/null
	[[ -n $SYSLOG_PID ]] && kill "$SYSLOG_PID" 2>/dev/null
	stop_eimad >/dev/null 2>&1
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

start_eimad "$RUN" "$T/eimad.log" --mode "$MODE" --tpm swtpm --vtpm swtpm ||
	{ failed "eimad starts"; finish; exit; }
"$BIN/eima" events --run-dir "$RUN" --follow --json >"$T/events.jsonl" 2>"$T/follow.err" &
FOLLOW_PID=$!
sleep 0.5

echo "== a new exec's measurement reaches a follower within a second"
cp -L /usr/bin/true "$T/ev-exec"
printf 'eima-events-%s' "$RANDOM" >>"$T/ev-exec"
want=sha256:$(sha256_of "$T/ev-exec")
start=$(date +%s%N)
"$T/ev-exec"
# grep, not jq, while timing: the check must measure eimad, not the checker.
for _ in $(seq 1 300); do
	grep -qF "\"path\":\"$T/ev-exec\"" "$T/events.jsonl" && break
	sleep 0.005
done
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
got=$(jq -r --arg p "$T/ev-exec" 'select(.type == "measurement" and .path == $p) | .digest' \
	"$T/events.jsonl" 2>/dev/null | head -1)
check_eq "the follower has its measurement with the file's digest" "$want" "$got"
# The latency is printed, not judged tightly: a timed check fails on a loaded machine
# (1.8 s was seen at load 15). The bound only catches an event that waits for the next
# one (or for a timer) instead of being sent as it happens.
check "promptly (${elapsed_ms} ms; bound 5 s)" test "$elapsed_ms" -lt 5000

echo "== a container: started, vTPM bound, its files, exited"
make_rootfs "$T/rootfs"
"$BIN/eima-test-container" "$T/rootfs" -- /bin/sh -c '/bin/dyn-true; sleep 1'
for _ in $(seq 1 100); do
	grep -q '"container_exited"' "$T/events.jsonl" && break
	sleep 0.1
done
id=$(jq -r 'select(.type == "container_started") | .container' "$T/events.jsonl" | tail -1)
check "a container_started event names the container" test -n "$id"
check "its dyn-true measurement carries its id" test -n "$(jq -r --arg id "$id" \
	'select(.type == "measurement" and .container == $id and .path == "/bin/dyn-true") | .digest' \
	"$T/events.jsonl")"
check "its vTPM was bound" test -n "$(jq -r --arg id "$id" \
	'select(.type == "vtpm_bound" and .container == $id) | .pcr' "$T/events.jsonl")"
check_eq "container_exited counts its list's entries as eima ps does" \
	"$("$BIN/eima" ps --run-dir "$RUN" --json | jq -r --arg id "$id" '.containers[] | select(.id == $id) | .entries')" \
	"$(jq -r --arg id "$id" 'select(.type == "container_exited" and .container == $id) | .entries' "$T/events.jsonl")"

echo "== quotes and a name that is not UTF-8"
"$BIN/eima" quote --run-dir "$RUN" --nonce 00ff -o "$T/ev.json" >/dev/null
odd=$T/$'odd-\xff-name'
cp -L /usr/bin/true "$odd"
"$odd"
settle "$RUN"
sleep 0.3
check "the quote is an event" grep -q '"type":"quote"' "$T/events.jsonl"
check "the odd name is escaped as \\udcff" grep -q 'odd-\\udcff-name' "$T/events.jsonl"

echo "== every event is valid against docs/events.schema.json"
python3 - "$schema" "$T/events.jsonl" >"$T/schema.out" 2>&1 <<'PY'
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
validator = jsonschema.Draft202012Validator(schema)
n = 0
for lineno, line in enumerate(open(sys.argv[2], encoding="utf-8", errors="surrogateescape"), 1):
    event = json.loads(line)
    errors = list(validator.iter_errors(event))
    if errors:
        print(f"line {lineno}: {errors[0].message}: {line.strip()}")
        sys.exit(1)
    n += 1
print(f"{n} events valid")
PY
check_eq "the schema accepts every event" 0 $?
cat "$T/schema.out"
check "and there are events of five types" test "$(jq -r .type "$T/events.jsonl" | sort -u |
	grep -c -E '^(measurement|container_started|container_exited|vtpm_bound|quote)$')" -eq 5

echo "== a reader that never reads does not hold eimad up"
python3 - "$RUN/events.sock" >"$T/stuck.out" 2>&1 <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(sys.argv[1]); s.sendall(b"follow\n")
time.sleep(8)   # never reads
PY
stuck_pid=$!
sleep 0.5
for i in $(seq 1 300); do
	cp -L /usr/bin/true "$T/many-$i"; printf '%s' "$i" >>"$T/many-$i"; "$T/many-$i"
done
check "eimad still answers" timeout 5 "$BIN/eima" status --run-dir "$RUN" --json
kill "$stuck_pid" 2>/dev/null; wait "$stuck_pid" 2>/dev/null
check "the follower got all 300" test "$(grep -c '/many-' "$T/events.jsonl")" -ge 300

echo "== a user who may not talk to eimad gets a clear error, and eimad goes on"
for cmd in status events; do
	out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$BIN/eima" "$cmd" --run-dir "$RUN" 2>&1)
	rc=$?
	check "eima $cmd as nobody fails, saying why" \
		bash -c "[[ $rc -ne 0 ]] && grep -q 'Permission denied' <<<'$out'"
done
check "eimad still answers root" timeout 5 "$BIN/eima" status --run-dir "$RUN" --json

echo "== eima events (no --follow) gives the recent events and ends"
timeout 5 "$BIN/eima" events --run-dir "$RUN" >"$T/recent.txt"
check_eq "it ends on its own" 0 $?
check "in a person's format" grep -q "measurement .* sha256:[0-9a-f]* $T/many-300" "$T/recent.txt"
printf 'bogus\n' | timeout 5 python3 -c '
import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.stdin.buffer.read()); print(s.recv(4096).decode())' "$RUN/events.sock" >"$T/bad.out"
check "a bad request gets a clear error" grep -q "expected 'follow' or 'recent'" "$T/bad.out"
stop_eimad
check_eq "eimad stops cleanly" 0 $?
sleep 0.3
check "the follower saw the stream end" grep -q 'closed the stream' "$T/follow.err"
FOLLOW_PID=

echo "== --events-syslog: the same lines reach syslog (a listener of ours on /dev/log)"
# This machine runs no syslog daemon. eimad runs in a mount namespace of its own where
# /dev is a directory of this test's holding /dev/null and the listener's datagram socket
# "log", which is where syslog(3) sends; nothing outside that namespace changes.
mkdir -p "$T/dev"
touch "$T/dev/null"
python3 - "$T/dev/log" "$T/syslog.txt" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "ab", buffering=0) as out:
    s.settimeout(60)
    try:
        while True:
            out.write(s.recv(65536) + b"\n")
    except socket.timeout:
        pass
PY
SYSLOG_PID=$!
cat >"$T/with-devlog" <<EOF_WRAP
#!/bin/sh
exec unshare -m --propagation private sh -c 'mount --bind /dev/null "\$0/null" && mount --rbind "\$0" /dev && exec "\$@"' "$T/dev" "\$@"
EOF_WRAP
chmod +x "$T/with-devlog"
for _ in $(seq 1 50); do [[ -S $T/dev/log ]] && break; sleep 0.1; done
EIMAD_WRAP="$T/with-devlog" start_eimad "$RUN" "$T/eimad-syslog.log" --mode "$MODE" \
	--tpm none --vtpm none --events-syslog || failed "eimad starts with --events-syslog"
cp -L /usr/bin/true "$T/to-syslog"
printf 'eima-syslog-%s' "$RANDOM" >>"$T/to-syslog"
"$T/to-syslog"
settle "$RUN"
stop_eimad
kill "$SYSLOG_PID" 2>/dev/null; wait "$SYSLOG_PID" 2>/dev/null
check_eq "syslog got the exec's measurement at daemon.info, as eimad's JSON" ok \
	"$(python3 - "$T/syslog.txt" "$T/to-syslog" "$(sha256_of "$T/to-syslog")" <<'PY'
import json, re, sys
lines = open(sys.argv[1], "rb").read().decode(errors="surrogateescape").splitlines()
# RFC 3164 as glibc writes it: <PRI>Mmm dd hh:mm:ss eimad[PID]: MESSAGE
parsed = [re.match(r"<(\d+)>\w{3} [ \d]\d \d\d:\d\d:\d\d eimad\[\d+\]: (\{.*\})$", l) for l in lines]
events = [(int(m.group(1)), json.loads(m.group(2))) for m in parsed if m]
mine = [(pri, e) for pri, e in events if e.get("path") == sys.argv[2]]
others = [pri for pri, e in events if e.get("type") != "measurement"]
if len(events) != len(lines): print("unparsed", [l for l, m in zip(lines, parsed) if not m][:2])
elif not mine: print("no measurement of the exec among", len(events))
elif mine[0][0] != 3 * 8 + 6: print("priority", mine[0][0])        # LOG_DAEMON | LOG_INFO
elif mine[0][1]["digest"] != "sha256:" + sys.argv[3]: print("digest", mine[0][1])
elif any(p != 3 * 8 + 5 for p in others): print("others", others)  # LOG_NOTICE
else: print("ok")
PY
)"
finish
