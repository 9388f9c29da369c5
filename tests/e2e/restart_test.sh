#!/usr/bin/env bash
# End to end: eimad restarts (cleanly, or killed with SIGKILL at random points of an exec
# storm) and resumes its host list against the same TPM: after every restart a quote of
# the TPM verifies against the list, a torn last record is cut off, and every distinct file
# executed is in the list or inside the span of an "eima-interrupted" violation.
# The BPF set is pinned (--pin-dir): a killed eimad's programs stay attached, the next one
# adopts them, and every exec made while no eimad ran is in the list (measured, not only
# covered by a violation). A clean stop removes the pins. In lsm mode a FILE_CHECK policy
# is pinned the same way, and eimad's own opens stay unmeasured across the restart.
#
#   restart_test.sh BIN_DIR trace|lsm
BIN=$1
MODE=$2
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"

[[ $(id -u) -eq 0 ]] || skip_test "needs root (BPF)"
command -v swtpm >/dev/null || skip_test "swtpm is not installed"
command -v jq >/dev/null || skip_test "jq is not installed"
command -v nsenter >/dev/null || skip_test "nsenter is not installed"
T=$(mktemp -d "${EIMA_TEST_TMPDIR:-/tmp}/eima-restart.XXXXXX")
RUN=$T/run
# Our own pin directory, removed on every path (on bpffs, unlinking the pins detaches).
PIN=/sys/fs/bpf/eima-test-restart-$$
storm=
stop_swtpm() { # STATE_DIR: the host's and containers' swtpms outlive a killed eimad by design
	local pid
	pid=$(cat "$1/swtpm.pid" 2>/dev/null) || return 0
	kill "$pid" 2>/dev/null
	for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
}
cleanup() {
	[[ -n $storm ]] && kill "$storm" 2>/dev/null
	for d in "$T"/rootfs-*/tmp; do touch "$d/go"; done 2>/dev/null
	stop_eimad >/dev/null 2>&1
	wait $(jobs -p) 2>/dev/null # the containers
	[[ -n ${CG:-} ]] && rmdir "$CG" 2>/dev/null
	for d in "$RUN"/tpm "$RUN"/containers/*/vtpm; do stop_swtpm "$d"; done
	rm -rf "$PIN"
	rm -rf "$T"
}
trap cleanup EXIT
# Killed (ctest's timeout, ^C): exit, so that the EXIT trap runs: no eimad, swtpm or pins
# left behind.
trap 'exit 143' TERM
trap 'exit 130' INT
ROUNDS=${EIMA_RESTART_ROUNDS:-20}
HOSTLIST=$RUN/host/ascii_runtime_measurements

# A log per start: start_eimad waits for "ready" in it, which an earlier start wrote too.
starts=0
start() {
	starts=$((starts + 1))
	start_eimad "$RUN" "$T/eimad.$starts.log" --mode "$MODE" --tpm swtpm --vtpm "${VTPM:-none}" \
		--pin-dir "$PIN" "$@"
}
status_field() { # status_field NAME: one field of eima status --json
	"$BIN/eima" status --run-dir "$RUN" --json |
		python3 -c 'import json,sys; print(json.load(sys.stdin).get(sys.argv[1]))' "$1"
}
host_list_state() { status_field host_list; }
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
check_eq "the probe is pinned in our directory" "$PIN" "$(status_field pinning)"
check "the pins exist while eimad runs" test -e "$PIN/events"
stop_eimad; check_eq "eimad exits 0" 0 $?
check_status "a clean stop removes the pins (no ring fills for nobody)" 1 test -e "$PIN"
entries_before=$(wc -l < "$HOSTLIST") # all of it: the host keeps executing meanwhile
check_status "no swtpm left after a clean stop (its state is saved)" 1 \
	pgrep -f "swtpm socket.*$RUN/tpm"
start || { failed "eimad restarts"; finish; exit; }
check "the restart resumes the list" grep -q "^resumed: $entries_before entries, $entries_before already in the TPM" <<<"$(host_list_state)"
check "a quote verifies after a clean restart" quote_verifies 0
check_eq "one interruption entry marks the restart" 1 "$(grep -c ' eima-interrupted:' "$HOSTLIST")"
check_eq "after a clean stop nothing is adopted" False "$(status_field probe_adopted)"

# EIMA_RESTART_HOST=0 leaves out everything from here to the containers' part (the kill
# rounds, the FILE_CHECK policy, the small ring, the TPM reset and the foreign extend):
# kernel.restart_containers.lsm sets it, as kernel.restart.lsm runs those in the same guest.
if [[ ${EIMA_RESTART_HOST:-1} == 1 ]]; then
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
resumes_ok=0 quotes_ok=0 adopted=0 uncommitted=0 queued=0
: > "$T/down"
for round in $(seq 1 "$ROUNDS"); do
	sleep "0.$((RANDOM % 8 + 1))"
	kill -KILL "$EIMAD_PID"; wait "$EIMAD_PID" 2>/dev/null; EIMAD_PID=
	down_from=$(date +%s%N) # from here until "ready" no eimad runs
	sleep "0.$((RANDOM % 3))"
	if ((round == ROUNDS / 2)); then
		# A torn last record, as if killed inside write(): half of a record's bytes.
		printf '\x0a\x00\x00\x00\x01\x02\x03' >> "$RUN/host/binary_runtime_measurements"
	fi
	start || { failed "round $round: eimad restarts"; break; }
	echo "$down_from $(date +%s%N)" >> "$T/down"
	"$BIN/eima" status --run-dir "$RUN" --json > "$T/status.json"
	read -r a u q <<<"$(python3 -c 'import json,sys; j=json.load(open(sys.argv[1]))
print(int(j["probe_adopted"]), int(j.get("adopted_uncommitted", 0)), j.get("adopted_queued_events", 0))' "$T/status.json")"
	adopted=$((adopted + a)) uncommitted=$((uncommitted + u)) queued=$((queued + q))
	((a)) || echo "  round $round: not adopted: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["probe_adoption"])' "$T/status.json")"
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
check_eq "every killed eimad's pinned set was adopted" "$ROUNDS" "$adopted"
echo "  $queued events queued while no eimad ran; $uncommitted of $ROUNDS kills hit a drain"
# An interruption entry only where measuring was interrupted: the clean restart (not
# pinned across it) and the kills that hit a drain (events taken, not yet written).
check_eq "interruption entries: the clean restart and the kills mid-drain" \
	"$((1 + uncommitted))" "$(grep -c ' eima-interrupted:' "$HOSTLIST")"

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
# Every exec made while no eimad ran (it began after the kill and ended before the next
# eimad was ready) is in the list: it queued in the pinned ring and was measured.
python3 - "$HOSTLIST" "$T/execs" "$T/down" > "$T/down-missing" 2> "$T/down-count" <<'PY'
import sys
listed = set(line.rstrip(b"\n").split(b" ", 4)[4].decode(errors="replace")
             for line in open(sys.argv[1], "rb"))
down = [tuple(map(int, l.split())) for l in open(sys.argv[3])]
during = 0
for line in open(sys.argv[2]):
    path, a, b = line.split()
    if any(s <= int(a) and int(b) <= e for s, e in down):
        during += 1
        if path not in listed:
            print(path, a, b)
print(during, file=sys.stderr)
PY
during=$(cat "$T/down-count")
echo "  $during execs ran while no eimad ran; $((during - $(wc -l < "$T/down-missing"))) of them are in the list"
check "some execs ran while no eimad ran" test "$during" -gt 0
check_eq "every exec made while no eimad ran is measured (in the list)" "" \
	"$(head -5 "$T/down-missing")"
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

fc_args=() # the policy eimad runs with from here on: the FILE_CHECK one in lsm mode
if [[ $MODE == lsm ]]; then
echo "== a FILE_CHECK policy is pinned too: reads while eimad is down are measured, eimad's own never"
# The programs skip eimad's own opens by its tgid, which a restarted eimad puts in the
# pinned "agent" map when it locks the pin directory, before it reads its run directory.
# The files it reads at a restart (its list, boot_id, drained_at_ns) are given the owner
# the rule measures: were its opens not skipped, they would be in the list.
printf 'measure func=BPRM_CHECK\nmeasure func=FILE_CHECK mask=MAY_READ fowner=4343\n' >"$T/policy-fc"
fc_read() { # fc_read NAME: a new file owned by 4343, read (not run) by cat
	printf 'fc-%s-%s\n' "$1" "$RANDOM" >"$T/fc-$1" && chown 4343 "$T/fc-$1" && cat "$T/fc-$1" >/dev/null
}
stop_eimad
start --policy "$T/policy-fc" || { failed "eimad starts with a FILE_CHECK policy"; finish; exit; }
check_eq "a FILE_CHECK policy's set is pinned" "$PIN" "$(status_field pinning)"
fc_read up1
settle "$RUN"
check "a read while eimad runs is measured" grep -q " $T/fc-up1\$" "$HOSTLIST"
gaps_before=$(grep -c ' eima-interrupted:' "$HOSTLIST")
kill -KILL "$EIMAD_PID"; wait "$EIMAD_PID" 2>/dev/null; EIMAD_PID=
fc_read down1
own="binary_runtime_measurements boot_id drained_at_ns"
for f in $own; do chown 4343 "$RUN/host/$f"; done
start --policy "$T/policy-fc" || { failed "eimad restarts with a FILE_CHECK policy"; finish; exit; }
fc_read up2
settle "$RUN"
check_eq "the killed eimad's FILE_CHECK set is adopted" True "$(status_field probe_adopted)"
check "a read while no eimad ran is measured (no gap)" grep -q " $T/fc-down1\$" "$HOSTLIST"
check_eq "...and the restart has no interruption entry" "$gaps_before" \
	"$(grep -c ' eima-interrupted:' "$HOSTLIST")"
check "a read after the restart is measured" grep -q " $T/fc-up2\$" "$HOSTLIST"
for f in $own; do
	check_status "eimad's own read of $f at the restart is not measured" 1 \
		grep -q " $RUN/host/$f\$" "$HOSTLIST"
done
check "a quote verifies after the FILE_CHECK restart" quote_verifies fc
fc_args=(--policy "$T/policy-fc")
fi

echo "== a container gone with its cgroup before eimad reads its events is named all the same"
# Run and gone, cgroup included, while no eimad runs (as runc removes the cgroup of a
# command that exits at once): its name comes from the cgroup path the hook kept.
cg2=/sys/fs/cgroup
[[ $(stat -f -c %T "$cg2") == cgroup2fs ]] || cg2=/sys/fs/cgroup/unified
GONEID=$(printf 'eima-restart-gone-%s' "$$" | sha256sum | cut -c1-64)
CG=$cg2/libpod-$GONEID.scope
if mkdir "$CG" 2>/dev/null; then
	kill -KILL "$EIMAD_PID"; wait "$EIMAD_PID" 2>/dev/null; EIMAD_PID=
	make_rootfs "$T/rootfs-gone"
	printf 'gone-%s' "$RANDOM" >> "$T/rootfs-gone/bin/dyn-true"
	(echo "$BASHPID" > "$CG/cgroup.procs" && exec "$BIN/eima-test-container" "$T/rootfs-gone" -- /bin/dyn-true)
	rmdir "$CG" && CG=
	check_eq "its cgroup is gone before eimad returns" "" "$CG"
	start "${fc_args[@]}" || { failed "eimad restarts after the container and its cgroup went"; finish; exit; }
	settle "$RUN"
	check_eq "it is named from the cgroup its first event saw" "podman" \
		"$(ps_json | jq -r --arg id "$GONEID" '.containers[] | select(.id == $id) | .runtime')"
else
	echo "  (no cgroup v2 to make a podman-named cgroup in: not checked)"
fi

echo "== the ring fills while no eimad runs: every exec is measured or a lost event"
# A 4 KiB ring (one page) holds about fourteen records: most of these execs find it full.
stop_eimad
start --ring-buffer-kb 4 || { failed "eimad starts with a small ring"; finish; exit; }
kill -KILL "$EIMAD_PID"; wait "$EIMAD_PID" 2>/dev/null; EIMAD_PID=
mkdir -p "$T/full"
for i in $(seq 1 80); do
	cp /usr/bin/true "$T/full/y$i" && printf '%s' "$i" >> "$T/full/y$i" && "$T/full/y$i"
done
lost_before=$(grep -c '<event-lost:ring-buffer-full>' "$HOSTLIST")
start --ring-buffer-kb 4 || { failed "eimad restarts with a small ring"; finish; exit; }
settle "$RUN"
check_eq "the small ring's set is adopted" True "$(status_field probe_adopted)"
listed=$(grep -c "$T/full/y" "$HOSTLIST")
lost=$(($(grep -c '<event-lost:ring-buffer-full>' "$HOSTLIST") - lost_before))
echo "  80 execs while down: $listed measured, $lost lost events logged on the host"
check "the ring was full (some execs not measured)" test "$listed" -lt 80
check "each exec not measured is a lost-event violation (per-namespace drop count)" \
	test $((listed + lost)) -ge 80

echo "== a TPM reset to zero PCRs: the whole list is extended again"
kill -KILL "$EIMAD_PID"; wait "$EIMAD_PID" 2>/dev/null; EIMAD_PID=
kill -KILL "$(cat "$RUN/tpm/swtpm.pid")" # no saved state: it starts clear
sleep 0.2
start || { failed "eimad starts after the TPM was reset"; finish; exit; }
state=$(host_list_state); echo "  $state"
# The killed eimad's set has a 4 KiB ring, this one wants the default: not adopted.
check "a set of another ring size is not adopted (detached, loaded afresh)" grep -q \
	"ring buffer of 4096 bytes" <<<"$(status_field probe_adoption)"
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

fi # EIMA_RESTART_HOST

if [[ ${EIMA_RESTART_CONTAINERS:-1} == 1 ]]; then
echo "== running containers keep their lists and vTPMs across restarts"
VTPM=swtpm
stop_eimad
# --fresh: the TPM still holds the foreign extend above, which no list replays to.
start --fresh || { failed "eimad starts with vTPMs"; finish; exit; }
two_containers
# container_verifies ID: eima quote --container + eima verify under the host AK
container_verifies() {
	local n
	n=$(head -c 20 /dev/urandom | xxd -p -c 64)
	"$BIN/eima" quote --run-dir "$RUN" --container "$1" --nonce "$n" -o "$T/cev.json" \
		>/dev/null 2>"$T/cquote.err" || { cat "$T/cquote.err"; return 1; }
	"$BIN/eima" verify "$T/cev.json" --nonce "$n" --ak "$AK" > "$T/cverify.out" ||
		{ cat "$T/cverify.out"; return 1; }
}
# in_container NAME FILE: runs FILE (a path in NAME's root) in its mount namespace and root
in_container() {
	local pid_var="CPID_$1" child
	child=$(pgrep -P "${!pid_var}" | head -1)
	nsenter -t "$child" -m -r "$2"
}
# new_exec NAME N: a file no list has seen yet, run in the container
new_exec() {
	cp "$T/rootfs-$1/bin/dyn-true" "$T/rootfs-$1/bin/n$2" && printf '%s' "$2" >> "$T/rootfs-$1/bin/n$2"
	in_container "$1" "/bin/n$2"
}
list_of() { echo "$RUN/containers/$1/ascii_runtime_measurements"; }
CROUNDS=${EIMA_RESTART_CONTAINER_ROUNDS:-5}
ok_lists=0 ok_quotes=0 ok_down=0 ok_resumed=0
for round in $(seq 1 "$CROUNDS"); do
	for c in a b; do new_exec "$c" "up$round"; done
	settle "$RUN"
	cp "$(list_of "$A")" "$T/a.before"; cp "$(list_of "$B")" "$T/b.before"
	sleep "0.$((RANDOM % 5))"
	kill -KILL "$EIMAD_PID"; wait "$EIMAD_PID" 2>/dev/null; EIMAD_PID=
	for c in a b; do new_exec "$c" "down$round"; done # queued in the pinned ring
	start || { failed "containers round $round: eimad restarts"; break; }
	settle "$RUN"
	good=1
	for c in "$A" "$B"; do
		b=$T/a.before; [[ $c == "$B" ]] && b=$T/b.before
		n=$(wc -l < "$b")
		# The list goes on from where it was: earlier entries unchanged.
		# (a pipe, not <(...): the test VM has no /dev/fd)
		head -n "$n" "$(list_of "$c")" | cmp -s - "$b" || { echo "  round $round: $c's list lost entries"; good=0; }
		state=$(ps_json | jq -r --arg id "$c" '.containers[] | select(.id == $id) | "\(.state) \(.resumed)"')
		[[ $state == "running $n entries"* ]] ||
			{ echo "  round $round: $c: $state (list had $n)"; good=0; }
	done
	((good)) && ok_lists=$((ok_lists + 1))
	grep -q "/bin/ndown$round\$" "$(list_of "$A")" && grep -q "/bin/ndown$round\$" "$(list_of "$B")" &&
		ok_down=$((ok_down + 1))
	wait_bound "$A" && wait_bound "$B" &&
		[[ $(ps_json | jq -r --arg id "$A" '.containers[] | select(.id == $id) | .vtpm.resumed') == "adopted the running swtpm"* ]] &&
		ok_resumed=$((ok_resumed + 1))
	container_verifies "$A" && container_verifies "$B" && quote_verifies "c$round" &&
		ok_quotes=$((ok_quotes + 1)) || echo "  round $round: a container's quote does not verify"
done
check_eq "each restart resumed both containers' lists, earlier entries kept" "$CROUNDS" "$ok_lists"
check_eq "execs in the containers while eimad was down are in their lists" "$CROUNDS" "$ok_down"
check_eq "each killed eimad's vTPMs were adopted running" "$CROUNDS" "$ok_resumed"
check_eq "after each restart quote + verify pass for the host and both containers" "$CROUNDS" "$ok_quotes"
check_eq "one vTPM swtpm per container, none left over" 2 \
	"$(pgrep -f "swtpm socket .*$RUN/containers/" | wc -l)"

echo "== a container exits while eimad is down: its final evidence at the restart"
kill -KILL "$EIMAD_PID"; wait "$EIMAD_PID" 2>/dev/null; EIMAD_PID=
touch "$T/rootfs-b/tmp/go"; wait "$CPID_b"
# A short-lived container in a cgroup named as podman names its containers, run and gone
# before any eimad reads its events: named from the cgroup its events carry (which
# outlives it here), not by its mount namespace.
cg2=/sys/fs/cgroup
[[ $(stat -f -c %T "$cg2") == cgroup2fs ]] || cg2=/sys/fs/cgroup/unified
PODID=$(printf 'eima-restart-%s' "$$" | sha256sum | cut -c1-64)
CG=$cg2/libpod-$PODID.scope
if mkdir "$CG" 2>/dev/null; then
	make_rootfs "$T/rootfs-pod"
	printf 'pod-%s' "$RANDOM" >> "$T/rootfs-pod/bin/dyn-true"
	(echo "$BASHPID" > "$CG/cgroup.procs" && exec "$BIN/eima-test-container" "$T/rootfs-pod" -- /bin/dyn-true)
else
	CG=
fi
start || { failed "eimad restarts after b exited"; finish; exit; }
if [[ -n $CG ]]; then
	settle "$RUN"
	check_eq "a container gone before its first event was read is named from its cgroup" \
		"podman true true" "$(ps_json | jq -r --arg id "$PODID" '.containers[] | select(.id == $id) | "\(.runtime) \(.pidns != 0) \(.utsns != 0)"')"
	rmdir "$CG"
else
	echo "  (no cgroup v2 to make a podman-named cgroup in: not checked)"
fi
b_state() { ps_json | jq -r --arg id "$B" '.containers[] | select(.id == $id) | "\(.state) \(.final_evidence)"'; }
for _ in $(seq 1 200); do [[ $(b_state) == "exited /"* ]] && break; sleep 0.05; done
check_eq "b is exited, with final evidence" "exited $RUN/containers/$B/final-evidence.json" "$(b_state)"
NF=$(sha256sum "$RUN/containers/$B/binary_runtime_measurements" | cut -d' ' -f1)
check "b's final evidence verifies under the host AK" \
	"$BIN/eima" verify "$RUN/containers/$B/final-evidence.json" --nonce "$NF" --ak "$AK"
check "a still verifies" container_verifies "$A"

echo "== a clean stop while a runs: its vTPM saves its state, the next eimad restores it"
stop_eimad; check_eq "eimad exits 0" 0 $?
check_eq "no vTPM swtpm runs while eimad is stopped" 0 "$(pgrep -f "swtpm socket .*$RUN/containers/" | wc -l)"
new_exec a stopped
start || { failed "eimad restarts after a clean stop"; finish; exit; }
settle "$RUN"
wait_bound "$A"
check "a's vTPM is restarted from its saved state" grep -q "^restarted from its saved state" \
	<<<"$(ps_json | jq -r --arg id "$A" '.containers[] | select(.id == $id) | .vtpm.resumed')"
check "an interruption entry in a's list covers the stop" grep -q " eima-interrupted:" "$(list_of "$A")"
check "a verifies after the clean restart" container_verifies "$A"
check_eq "b stays exited in eima ps" "exited $RUN/containers/$B/final-evidence.json" "$(b_state)"
new_exec a after
settle "$RUN"
check "a new exec in a is in its list" grep -q "/bin/nafter$" "$(list_of "$A")"
check "a verifies with it" container_verifies "$A"

echo "== --fresh starts anew"
kill -KILL "$EIMAD_PID"; wait "$EIMAD_PID" 2>/dev/null; EIMAD_PID= # a's vTPM keeps running
old_vtpm=$(cat "$RUN/containers/$A/vtpm/swtpm.pid")
start --fresh || { failed "eimad --fresh starts"; finish; exit; }
check_eq "--fresh starts a new list" "new: --fresh" "$(host_list_state)"
check_status "...and stops the vTPM a killed eimad left running" 1 kill -0 "$old_vtpm"
settle "$RUN"
check_status "...a's list (if its next event came) is a new one" 1 \
	bash -c "cat '$(list_of "$A")' 2>/dev/null | grep -q '/bin/nup1\$'"
else
echo "== --fresh starts anew"
stop_eimad
start --fresh || { failed "eimad --fresh starts"; finish; exit; }
check_eq "--fresh starts a new list" "new: --fresh" "$(host_list_state)"
fi
check "a quote verifies after --fresh" quote_verifies fresh
stop_eimad; check_eq "eimad exits 0" 0 $?
check_status "the last clean stop removes the pins" 1 test -e "$PIN"
[[ -n ${CPID_a:-} ]] && { touch "$T/rootfs-a/tmp/go"; wait "$CPID_a"; }
finish
