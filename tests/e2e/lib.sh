# Shared by the end-to-end tests: assertions, a busybox container root filesystem,
# starting and stopping eimad. Every test sources this, sets $BIN (the build dir's bin).
set -uo pipefail

PASSED=0
FAILED=0
FAILURES=()

pass() { PASSED=$((PASSED + 1)); echo "  ok: $*"; }
failed() { FAILED=$((FAILED + 1)); FAILURES+=("$*"); echo "  FAIL: $*"; }
check() { # check "what" command...
	local what=$1; shift
	if "$@"; then pass "$what"; else failed "$what"; fi
}
check_eq() { # check_eq "what" expected actual
	if [[ "$2" == "$3" ]]; then pass "$1"; else failed "$1: expected [$2], got [$3]"; fi
}
# check_status "what" STATUS command...: the command exits with exactly STATUS. For "no
# match" checks (grep, pgrep and cmp exit 1), where a `!` would also pass on the tool's
# own failure (2 and up: a missing file, a bad pattern).
check_status() {
	local what=$1 want=$2; shift 2
	"$@"
	local rc=$?
	if [[ $rc -eq $want ]]; then pass "$what"; else failed "$what: exit $rc, expected $want"; fi
}
# check_absent "what" REGEX command...: the command succeeds and no line of its output
# matches REGEX (a listing that failed proves nothing absent).
check_absent() {
	local what=$1 re=$2 out rc; shift 2
	out=$("$@" 2>&1)
	rc=$?
	if [[ $rc -ne 0 ]]; then
		failed "$what: '$*' failed (exit $rc): ${out:0:200}"
	elif grep -qE -- "$re" <<<"$out"; then
		failed "$what: $(grep -E -- "$re" <<<"$out" | head -3)"
	else
		pass "$what"
	fi
}
# check_refused "what" command...: the command fails with EPERM ("Operation not
# permitted" in every tool's message). Root gets that only from an LSM refusing it (the
# self-protection and BPF policy tests).
check_refused() {
	local what=$1 out rc; shift
	out=$("$@" 2>&1)
	rc=$?
	if [[ $rc -ne 0 ]] && grep -qi "not permitted" <<<"$out"; then
		pass "$what"
	else
		failed "$what: exit $rc: ${out:0:200}"
	fi
}
skip_test() { echo "SKIP: $*"; exit 77; }
finish() {
	echo "$PASSED passed, $FAILED failed"
	for f in "${FAILURES[@]+"${FAILURES[@]}"}"; do echo "  failed: $f"; done
	[[ $FAILED -eq 0 ]]
}

# make_rootfs DIR: busybox-static with a few applets, and two dynamically linked
# binaries with their loader and libc copied in at the paths the loader expects.
make_rootfs() {
	local r=$1
	mkdir -p "$r"/{bin,proc,tmp,lib64,lib/x86_64-linux-gnu}
	cp /bin/busybox "$r/bin/busybox"
	for a in sh true cat echo sleep ls test; do ln -sf busybox "$r/bin/$a"; done
	cp -L /usr/bin/true "$r/bin/dyn-true"
	cp -L /usr/bin/env "$r/bin/dyn-env"
	cp -L /lib64/ld-linux-x86-64.so.2 "$r/lib64/ld-linux-x86-64.so.2"
	cp -L /lib/x86_64-linux-gnu/libc.so.6 "$r/lib/x86_64-linux-gnu/libc.so.6"
}

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }
# sbom_of ROOT FILE...: an SPDX 2.3 JSON SBOM on stdout that lists each FILE (a path under
# ROOT) by its path in ROOT, with its SHA-256: what `eima bless --root ROOT` matches.
sbom_of() {
	local root=$1 sep='' f
	shift
	echo '{"spdxVersion": "SPDX-2.3", "name": "eima-test", "files": ['
	for f; do
		printf '%s{"fileName": "%s", "checksums": [{"algorithm": "SHA256", "checksumValue": "%s"}]}\n' \
			"$sep" "${f#"$root"}" "$(sha256_of "$f")"
		sep=,
	done
	echo ']}'
}

# start_eimad RUN_DIR LOG [eimad args...]: starts eimad, waits until it is ready. Without
# --pin-dir among the args eimad pins nothing (--pin-dir none): a test that kills eimad
# must not leave programs attached. A test that pins passes its own --pin-dir and removes
# it in its EXIT trap. EIMAD_WRAP, when set, is the command eimad runs under (the fanotify
# test's "timeout -s KILL N": a listener that outlived its test would hold its marks).
start_eimad() {
	local run=$1 log=$2; shift 2
	local pin=(--pin-dir none)
	local wrap=(${EIMAD_WRAP:-})
	[[ " $* " == *" --pin-dir "* ]] && pin=()
	"${wrap[@]}" "$BIN/eimad" --run-dir "$run" "${pin[@]}" "$@" >"$log.out" 2>"$log" &
	EIMAD_PID=$!
	# Generous: under TCG on a busy host, verifying measure_lsm alone takes a minute or more.
	# eimad that exits ends the wait at once.
	local deadline=$((SECONDS + ${EIMA_TEST_START_SECONDS:-300}))
	while ((SECONDS < deadline)); do
		grep -q "eimad: ready" "$log.out" 2>/dev/null && return 0
		kill -0 "$EIMAD_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "eimad did not start (or not ready within ${EIMA_TEST_START_SECONDS:-300} s):"; cat "$log" "$log.out"
	return 1
}

# stop_eimad: SIGTERM, wait (at most 10 s, then SIGKILL); returns eimad's exit status,
# 124 if it had to be killed.
stop_eimad() {
	[[ -n "${EIMAD_PID:-}" ]] || return 0
	local pid=$EIMAD_PID rc=0
	EIMAD_PID=
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid"
		wait "$pid" 2>/dev/null
		return 124
	fi
	wait "$pid" 2>/dev/null || rc=$?
	return $rc
}

# Waits until eimad has handled everything queued so far (a control request drains).
settle() { "$BIN/eima" status --run-dir "$1" --json >/dev/null; }

# list_paths FILE: "digest path" per entry of an ascii ima-ng list (boot_aggregate included)
list_entries() { awk '{ d=$4; sub(/^[a-z0-9_]+:/, "", d); p=$5; for (i=6;i<=NF;i++) p=p" "$i; print d, p }' "$1"; }

# snapshot RUN_DIR OUT_DIR [--container ID]: the TPM's PCRs (pcrs.sha1, pcrs.sha256) and
# exactly the list entries they cover (binary_runtime_measurements), read in one go.
snapshot() {
	local run=$1 out=$2; shift 2
	mkdir -p "$out"
	"$BIN/eima" pcrs --run-dir "$run" --snapshot "$out" "$@" >/dev/null
}

# container_mntns PID: mount namespace inode of the container started by
# eima-test-container PID (its child), once it has entered it (waits up to 20 s).
container_mntns() {
	local own child ns
	own=$(stat -Lc %i /proc/self/ns/mnt)
	for _ in $(seq 1 400); do
		child=$(pgrep -P "$1" | head -1)
		ns=$([[ -n $child ]] && stat -Lc %i "/proc/$child/ns/mnt" 2>/dev/null)
		[[ -n $ns && $ns != "$own" ]] && { echo "$ns"; return 0; }
		sleep 0.05
	done
	return 1
}

# The container helpers below use $T (the test's directory), $RUN and $BIN.
ps_json() { "$BIN/eima" ps --run-dir "$RUN" --json; }

# start_container NAME: a container (own rootfs copy) that runs a binary unique to it,
# signals ready, and waits for NAME's go file. Sets CPID_<NAME>.
start_container() {
	local name=$1 r=$T/rootfs-$1
	make_rootfs "$r"
	printf 'eima-vtpm-%s-%s' "$name" "$RANDOM" >> "$r/bin/dyn-true"
	"$BIN/eima-test-container" "$r" -- /bin/sh -c \
		'/bin/dyn-true && touch /tmp/ready; while [ ! -e /tmp/go ]; do sleep 0.05 || exit 1; done' &
	printf -v "CPID_$name" %s $!
	for _ in $(seq 1 200); do [[ -e $r/tmp/ready ]] && return 0; sleep 0.05; done
	return 1
}
# container_id NAME: eimad's id of the container (by its mount namespace)
container_id() {
	local pid_var="CPID_$1" ns
	ns=$(container_mntns "${!pid_var}")
	ps_json | jq -r --argjson ns "$ns" '.containers[] | select(.mntns == $ns and .state == "running") | .id'
}
# wait_bound ID: until the container's vTPM runs and its binding is in the host list
wait_bound() {
	for _ in $(seq 1 200); do
		[[ $(ps_json | jq -r --arg id "$1" '.containers[] | select(.id == $id) | .vtpm.bound') == true ]] && return 0
		sleep 0.05
	done
	return 1
}
# two_containers: containers a and b under the running eimad, with vTPMs; sets A and B to
# eimad's ids for them and checks that both vTPMs are up and bound.
two_containers() {
	start_container a || failed "container a starts"
	start_container b || failed "container b starts"
	settle "$RUN"
	A=$(container_id a)
	B=$(container_id b)
	check "eima ps lists both containers ($A, $B)" test -n "$A" -a -n "$B" -a "$A" != "$B"
	check "container a's vTPM is up and bound" wait_bound "$A"
	check "container b's vTPM is up and bound" wait_bound "$B"
}

# ps_state RUN ID: the container's state in `eima ps` ("" while eima ps does not know it).
ps_state() {
	"$BIN/eima" ps --run-dir "$1" --json |
		jq -r --arg id "$2" '.containers[] | select(.id == $id) | .state'
}

# wait_ps_state RUN ID STATE: waits (up to 10 s) until eima ps shows the container in STATE;
# prints the last state seen.
wait_ps_state() {
	local s
	for _ in $(seq 1 100); do
		s=$(ps_state "$1" "$2")
		[[ $s == "$3" ]] && break
		sleep 0.1
	done
	echo "$s"
}

# check_image_files LIST ROOTFS: each program make_rootfs put in ROOTFS (and the loader and
# libc it maps) is in LIST under the path the container sees, with the digest of its file.
check_image_files() {
	local f
	for f in /bin/dyn-true /bin/dyn-env /bin/busybox /lib64/ld-linux-x86-64.so.2 \
		/lib/x86_64-linux-gnu/libc.so.6; do
		check_eq "$f: the path the container sees, the image file's digest" \
			"$(sha256_of "$2$f") $f" "$(list_entries "$1" | awk -v p="$f" '$2 == p' | head -1)"
	done
}
