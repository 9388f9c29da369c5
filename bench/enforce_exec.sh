#!/usr/bin/env bash
# Exec overhead of lsm-mode enforcement (eimad --appraise enforce) against no eimad and
# against fapolicyd (integrity = sha256), on the same exec loop of the same trusted program,
# in one boot of the test VM (tests/vm/vmrun, Debian 6.12: BPF LSM works only there). Warm:
# the program was verified once, later execs are answered by the verdict cache. The cases
# alternate in rounds (the order rotating) so that load drift on the shared host hits them
# alike. Then cold execs of large blessed binaries (the in-kernel hash and PKCS#7 check of
# each new file version) against warm execs of the same files.
#
# fapolicyd runs in the guest only, as DESIGN.md ("Running fapolicyd as a baseline without
# freezing the machine") says: uid = 0, first rule allows root, the loop runs as nobody,
# --debug-deny, no SIGUSR1, a watchdog of shell builtins, TERM then KILL at the end. The
# guest's / is the host's (virtio-fs, read-write), so its configuration and trust database
# live on guest-local tmpfs mounted over /etc/fapolicyd and /var/lib/fapolicyd: the host's
# files are never written. The host only gets the Debian package installed (if missing),
# with a policy-rc.d that keeps its service from starting.
#
# Emulated CPU (QEMU TCG): read ratios, not microseconds. Not a CI test. Root. Markdown out.
#   bench/enforce_exec.sh [BUILD_DIR]
#   (EIMA_BENCH_EXECS warm execs per batch, EIMA_BENCH_BATCHES per case and round,
#    EIMA_BENCH_ROUNDS, EIMA_BENCH_BIG_MB size and EIMA_BENCH_COLD count of the cold files)
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
build=$(cd "$build" && pwd)
N=${EIMA_BENCH_EXECS:-40}
BATCHES=${EIMA_BENCH_BATCHES:-3}
ROUNDS=${EIMA_BENCH_ROUNDS:-3}
BIG_MB=${EIMA_BENCH_BIG_MB:-16}
COLD=${EIMA_BENCH_COLD:-6}

if [[ ${EIMA_VM:-} != 1 ]]; then
	((EUID == 0)) || { echo "enforce_exec.sh: must run as root" >&2; exit 2; }
	if ! command -v fapolicyd >/dev/null; then
		# Installing must not start it here: it would mark every mount of this host.
		made_rc=0
		if [[ ! -e /usr/sbin/policy-rc.d ]]; then
			printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
			chmod 755 /usr/sbin/policy-rc.d
			made_rc=1
		fi
		DEBIAN_FRONTEND=noninteractive apt-get install -y fapolicyd >&2
		((made_rc)) && rm -f /usr/sbin/policy-rc.d
	fi
	if pgrep -x fapolicyd >/dev/null; then
		echo "enforce_exec.sh: a fapolicyd runs on this host; stop it first" >&2
		exit 1
	fi
	conf_state() { find /etc/fapolicyd /var/lib/fapolicyd -exec stat -c '%n %s %Y' {} + 2>/dev/null | sort; }
	conf_before=$(conf_state)
	load=$(cut -d' ' -f1-3 /proc/loadavg)
	"$here/tests/vm/vmrun" --bind "$here" --bind "$build" --timeout 3000 -- env \
		EIMA_BENCH_HOST_LOAD="$load" EIMA_BENCH_EXECS="$N" EIMA_BENCH_BATCHES="$BATCHES" \
		EIMA_BENCH_ROUNDS="$ROUNDS" EIMA_BENCH_BIG_MB="$BIG_MB" EIMA_BENCH_COLD="$COLD" \
		bash "$here/bench/enforce_exec.sh" "$build"
	rc=$?
	[[ $(conf_state) == "$conf_before" ]] ||
		echo "WARNING: the host's /etc/fapolicyd or /var/lib/fapolicyd changed during the run" >&2
	pgrep -ax fapolicyd >&2 && echo "WARNING: a fapolicyd runs on the host" >&2
	exit $rc
fi

# ---- in the guest ----
BIN=$build/bin
source "$here/tests/e2e/lib.sh"
grep -q bpf /sys/kernel/security/lsm || { echo "BPF LSM is not active" >&2; exit 1; }
T=$(mktemp -d /tmp/eima-enfbench.XXXXXX)
chmod 755 "$T"
RUN=$T/run
W=$T/w # the warm loop's programs
FAPO_PID='' WATCHDOG_PID=''
die() { echo "enforce_exec.sh: $*" >&2; exit 1; }
note() { echo "$(date +%T) $*" >&2; } # progress, on stderr
stop_fapolicyd() { # TERM, KILL after 5 s (closing its fanotify fd releases what is pending)
	[[ -n $FAPO_PID ]] || return 0
	local i
	kill -TERM "$FAPO_PID" 2>/dev/null
	for ((i = 0; i < 50; i++)); do
		kill -0 "$FAPO_PID" 2>/dev/null || break
		read -r -t 0.1 -u 7 _ # a builtin sleep: nothing is ever written to fd 7
	done
	kill -KILL "$FAPO_PID" 2>/dev/null
	wait "$FAPO_PID" 2>/dev/null
	FAPO_PID=''
	if [[ -n $WATCHDOG_PID ]]; then
		{ kill -KILL "$WATCHDOG_PID"; wait "$WATCHDOG_PID"; } 2>/dev/null
	fi
	WATCHDOG_PID=''
}
cleanup() {
	trap - EXIT
	stop_fapolicyd
	stop_eimad >/dev/null 2>&1
	umount /etc/fapolicyd /var/lib/fapolicyd 2>/dev/null
	sysctl -qw kernel.bpf_stats_enabled=0
	rm -rf "$T"
}
trap cleanup EXIT
mkfifo "$T/never"
exec 7<>"$T/never"

# ---- keys, programs, blessing ----
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=eima-enforce-bench \
	-keyout "$T/key.pem" -out "$T/cert.pem" 2>/dev/null || die "openssl failed"
mkdir -p "$W" "$T/big"
cp -L /usr/bin/true "$W/true"
cp -L /usr/bin/true "$W/unblessed" && printf 'x' >>"$W/unblessed"
# Large programs: true with random bytes appended (never read by exec, all hashed).
for i in $(seq 1 $((2 * COLD))); do
	cp -L /usr/bin/true "$T/big/b$i"
	head -c $((BIG_MB << 20)) /dev/urandom >>"$T/big/b$i"
done
# The policy's scope is the files' owner, 4242: every other exec in the guest is out of it.
chown -R 4242 "$W" "$T/big"
chmod -R a+rX "$T"
sbom_of "$T" "$W/true" "$T"/big/b* >"$T/sbom.json"
"$BIN/eima" bless --sbom "$T/sbom.json" --root "$T" --key "$T/key.pem" --cert "$T/cert.pem" \
	>"$T/bless.out" 2>&1 || { cat "$T/bless.out" >&2; die "eima bless failed"; }
echo 'appraise func=BPRM_CHECK appraise_type=imasig fowner=4242' >"$T/policy"

note "blessed"
# ---- the loop: as nobody, on vCPU 0 (daemons on vCPU 1) ----
execs() { # execs N PROGRAM...: µs per exec, or fails
	taskset -c 0 setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$BIN/eima-bench-exec" "$@"
}
declare -A samples # case -> space-separated µs/exec of each batch
measure() { # measure CASE: BATCHES batches of N execs of the warm program
	local b v
	execs 4 "$W/true" >/dev/null || die "$1: the trusted program did not run"
	for ((b = 0; b < BATCHES; b++)); do
		v=$(execs "$N" "$W/true") || die "$1: the exec loop failed"
		samples[$1]+="$v "
	done
}
refused() { # refused CASE: the unblessed copy must not run
	execs 1 "$W/unblessed" >/dev/null 2>&1 && die "$1: the unblessed copy ran: nothing is enforced"
	return 0
}
start_enforcing() {
	EIMAD_WRAP="taskset -c 1" start_eimad "$RUN" "$T/eimad.log" --mode lsm --tpm none --vtpm none --policy "$T/policy" \
		--appraise enforce --trusted-cert "$T/cert.pem" >/dev/null || die "eimad did not start"
}
counter() { # counter NAME: eimad's kernel counter
	"$BIN/eima" status --run-dir "$RUN" --json |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["kernel"][sys.argv[1]])' "$1"
}
eima_checked='' # what the counters said, once
# Wall clock under TCG on a loaded host drifts by tens of percent between batches, more
# than a warm appraisal costs; kernel.bpf_stats_enabled gives what eima's programs (every
# hook, not only the exec's) ran per exec of the loop, independent of that drift.
bpf_ns() { # the run time of all of eima's BPF programs so far, ns
	bpftool prog show 2>/dev/null | awk '/name eima_/ { for (i = 1; i <= NF; i++) if ($i == "run_time_ns") t += $(i + 1) } END { printf "%d\n", t }'
}
bpf_us='' # µs of eima's BPF programs per exec, per round
sysctl -qw kernel.bpf_stats_enabled=1
case_eima() {
	local hits0 hits1 den0 den1
	start_enforcing
	refused eima
	hits0=$(counter appraisal_cache_hits)
	den0=$(counter denied)
	execs 4 "$W/true" >/dev/null # the first is verified (a miss): not in the figure
	ns0=$(bpf_ns)
	measure eima
	ns1=$(bpf_ns)
	hits1=$(counter appraisal_cache_hits)
	den1=$(counter denied)
	bpf_us+="$(awk -v d=$((ns1 - ns0)) -v n=$((BATCHES * N + 4)) 'BEGIN { printf "%.1f", d / n / 1000 }') "
	# Every exec of the loop (warm-up included) is appraised and answered by the cache.
	(((hits1 - hits0) >= BATCHES * N + 7)) ||
		die "eima: $((hits1 - hits0)) verdict cache hits for $((BATCHES * N + 8)) execs: not appraised"
	((den1 == den0)) || die "eima: $((den1 - den0)) execs of the loop were refused"
	eima_checked="verdict cache hits: $((hits1 - hits0)) for $((BATCHES * N + 8)) execs (the first verified), in the last round; the unblessed copy refused"
	stop_eimad || die "eimad did not stop cleanly"
}

# fapolicyd: configuration and trust database on guest-local tmpfs.
mount -t tmpfs -o mode=755 eima-bench-fapolicyd-etc /etc/fapolicyd || die "cannot mount over /etc/fapolicyd"
mount -t tmpfs -o mode=755 eima-bench-fapolicyd-db /var/lib/fapolicyd || die "cannot mount over /var/lib/fapolicyd"
mkdir -p /etc/fapolicyd/rules.d /etc/fapolicyd/trust.d /run/fapolicyd
cat >/etc/fapolicyd/fapolicyd.conf <<'EOF'
permissive = 0
nice_val = 14
q_size = 8192
uid = 0
gid = 0
do_stat_report = 0
detailed_report = 0
db_max_size = 50
subj_cache_size = 1549
obj_cache_size = 8191
watch_fs = tmpfs
trust = file
integrity = sha256
syslog_format = rule,dec,perm,auid,pid,exe,:,path,ftype,trust
rpm_sha256_only = 0
allow_filesystem_mark = 0
EOF
cat >/etc/fapolicyd/fapolicyd.rules <<'EOF'
allow perm=any uid=0 : all
allow perm=execute all : trust=1
deny perm=execute all : all
allow perm=open all : all
EOF
cp /etc/fapolicyd/fapolicyd.rules /etc/fapolicyd/compiled.rules
printf '%s %s %s\n' "$W/true" "$(stat -c %s "$W/true")" "$(sha256_of "$W/true")" \
	>/etc/fapolicyd/fapolicyd.trust
fapolicyd_version=$(dpkg-query -W -f '${Version}' fapolicyd 2>/dev/null)
case_fapolicyd() {
	local i
	: >"$T/fapolicyd.log"
	taskset -c 1 fapolicyd --debug-deny >"$T/fapolicyd.log" 2>&1 &
	FAPO_PID=$!
	# Watchdog of builtins only (an exec could wait on fapolicyd): kill it after 10 min.
	(read -r -t 600 -u 7 _ || kill -KILL "$FAPO_PID" 2>/dev/null) &
	WATCHDOG_PID=$!
	for ((i = 0; i < 600; i++)); do
		[[ $(<"$T/fapolicyd.log") == *"Starting to listen for events"* ]] && break
		kill -0 "$FAPO_PID" 2>/dev/null || break
		read -r -t 0.1 -u 7 _
	done
	[[ $(<"$T/fapolicyd.log") == *"Starting to listen for events"* ]] ||
		{ tail -20 "$T/fapolicyd.log" >&2; die "fapolicyd did not start"; }
	refused fapolicyd
	measure fapolicyd
	stop_fapolicyd
}

# ---- rounds ----
execs 20 "$W/true" >/dev/null || die "the loop does not run without enforcement"
cases=(none eima fapolicyd)
for ((r = 0; r < ROUNDS; r++)); do
	for ((k = 0; k < 3; k++)); do
		c=${cases[(r + k) % 3]}
		note "round $((r + 1)): $c"
		case $c in
		none) measure none ;;
		eima) case_eima ;;
		fapolicyd) case_fapolicyd ;;
		esac
	done
done

# ---- cold: large blessed programs, each exec'd once, then again (warm) ----
note "large programs"
bigs=("$T"/big/b*)
none_set=("${bigs[@]:0:COLD}")
eima_set=("${bigs[@]:COLD}")
execs 1 "${none_set[0]}" >/dev/null || die "a large program does not run"
big_none=$(execs "$COLD" "${none_set[@]}") || die "large programs without eimad failed"
start_enforcing
ap0=$(counter appraisals)
hits0=$(counter appraisal_cache_hits)
big_cold=$(execs "$COLD" "${eima_set[@]}") || die "cold large programs failed under enforcement"
ap1=$(counter appraisals)
hits1=$(counter appraisal_cache_hits)
big_warm=$(execs $((4 * COLD)) "${eima_set[@]}") || die "warm large programs failed"
hits2=$(counter appraisal_cache_hits)
stop_eimad
cold_checked="cold: $((ap1 - ap0)) appraisals, $((hits1 - hits0)) verdict cache hits for $COLD first execs; warm: $((hits2 - hits1)) hits for $((4 * COLD)) execs"
((hits1 - hits0 == 0 && hits2 - hits1 >= 4 * COLD)) || die "large programs: $cold_checked"

# ---- report ----
stat_of() { # stat_of CASE median|best
	tr ' ' '\n' <<<"${samples[$1]}" | grep . | sort -g | awk -v w="$2" '
		{ v[NR] = $1 }
		END { if (w == "best") print v[1]; else print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
none_m=$(stat_of none median) none_b=$(stat_of none best)
row() { # row LABEL CASE
	local m b
	m=$(stat_of "$2" median) b=$(stat_of "$2" best)
	awk -v l="$1" -v m="$m" -v b="$b" -v nm="$none_m" -v nb="$none_b" 'BEGIN {
		printf "| %s | %.0f | %.0f | %.4f | %+.0f | %+.2f %% |\n", l, m, b, m / nm, m - nm, 100 * (b - nb) / nb }'
}
added() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a - b }'; }
e_add=$(added "$(stat_of eima median)" "$none_m")
f_add=$(added "$(stat_of fapolicyd median)" "$none_m")
e_add_b=$(added "$(stat_of eima best)" "$none_b")
f_add_b=$(added "$(stat_of fapolicyd best)" "$none_b")
echo "## Enforcement: exec overhead in lsm mode vs none vs fapolicyd (\`bench/enforce_exec.sh\`, test VM)"
echo
echo "- date: $(date -u '+%F %H:%M') UTC; guest kernel $(uname -r), $(nproc) vCPUs (QEMU TCG); host load average before: ${EIMA_BENCH_HOST_LOAD:-?}"
echo "- loop: fork + execve + wait of a copy of /usr/bin/true on the guest's tmpfs, as uid 65534, pinned to vCPU 0; eimad and fapolicyd pinned to vCPU 1"
echo "- $ROUNDS rounds (order rotating: none, eima, fapolicyd), each case $BATCHES batches of $N execs per round: median and best of $((ROUNDS * BATCHES)) batches"
echo "- eimad: \`--mode lsm --appraise enforce --trusted-cert\`, policy \`appraise func=BPRM_CHECK appraise_type=imasig fowner=4242\` (the loop's files are owned by 4242); $eima_checked"
echo "- fapolicyd $fapolicyd_version: \`integrity = sha256\`, \`trust = file\` with the program's path, size and SHA-256, \`watch_fs = tmpfs\`, rules: allow root, allow execute of trusted, deny other execute, allow open; \`--debug-deny\`; config and trust database on guest tmpfs; the unblessed copy refused"
echo
echo "| case | µs/exec (median) | best | vs none (median) | added µs (median) | added (best vs best) |"
echo "|---|---|---|---|---|---|"
row "no eimad" none
row "eimad lsm, --appraise enforce (warm: verdict cache)" eima
row "fapolicyd (integrity = sha256)" fapolicyd
echo
none_x=$(tr ' ' '\n' <<<"${samples[none]}" | grep . | sort -g | tail -1)
awk -v ea="$e_add" -v fa="$f_add" -v eb="$e_add_b" -v fb="$f_add_b" -v nm="$none_m" -v nb="$none_b" -v nx="$none_x" 'BEGIN {
	printf "- eima warm over none, wall clock: %+.2f %% (median; target ≤ 1 %%; no eimad'"'"'s own batches spread %.0f %% to %+.0f %% around its median)\n", 100 * ea / nm, 100 * (nb - nm) / nm, 100 * (nx - nm) / nm
	if (ea > 0)
		printf "- fapolicyd added / eima added: %.1f× (median; target ≥ 10×); best vs best: %s\n", fa / ea, (eb > 0 ? sprintf("%.1f×", fb / eb) : "eima added nothing measurable")
	else
		printf "- fapolicyd added %.0f µs per exec, eima added nothing measurable (%+.0f µs: below the noise)\n", fa, ea
}'
bpf_med=$(tr ' ' '\n' <<<"$bpf_us" | grep . | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
awk -v b="$bpf_med" -v nm="$none_m" -v fa="$f_add" -v all="$bpf_us" 'BEGIN {
	printf "- eima in the kernel (kernel.bpf_stats_enabled: all of eima'"'"'s BPF programs in the guest while the loop ran, per exec of the loop; per round: %s): %.1f µs = %.3f %% of a no-eimad exec (median; target ≤ 1 %%)\n", all, b, 100 * b / nm
	if (b > 0) printf "- fapolicyd added (wall clock, median) / eima'"'"'s in-kernel time per exec: %.0f×\n", fa / b
}'
echo "- batches (µs/exec): none: ${samples[none]}; eima: ${samples[eima]}; fapolicyd: ${samples[fapolicyd]}"
echo
echo "Cold exec of large blessed programs (true + $BIG_MB MiB; each exec'd once, then $((4 * COLD)) execs round robin of the same files), lsm enforce:"
echo
echo "| case | µs/exec | vs no eimad | added µs |"
echo "|---|---|---|---|"
for x in "no eimad (first exec of $COLD files):$big_none" "eimad enforce, cold (hash + PKCS#7 per file):$big_cold" \
	"eimad enforce, warm (same files again):$big_warm"; do
	awk -v l="${x%:*}" -v v="${x##*:}" -v b="$big_none" 'BEGIN { printf "| %s | %.0f | %.3f | %+.0f |\n", l, v, v / b, v - b }'
done
echo
echo "- $cold_checked"
