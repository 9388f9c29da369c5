#!/usr/bin/env bash
# Fanotify enforcement on this host (no BPF LSM here): eimad --enforce-fanotify on a tmpfs
# this test mounts under its own directory, with blessings made by `eima bless` and a key
# generated here. Blessed programs and libraries run from it; a copied, new or modified
# binary is refused with EPERM, and so is an unblessed library (its open, before ld.so can
# map it); tampering that fanotify can see is refused at the next use; audit mode denies
# nothing and logs the same decisions; a verdict that takes too long is given by the
# watchdog. Every decision is a line of RUN/audit.jsonl.
#
# Safety (DESIGN.md, "Rules for enforcement on a shared machine"): only the test's own tmpfs
# is marked; eimad runs under `timeout -s KILL` (a killed listener lets every pending event
# through); every workload command has its own timeout; the EXIT/TERM/INT trap stops eimad
# and unmounts on every path, and a builtin-only watchdog TERMs this script if it overruns.
#   fanotify_enforce_test.sh BIN_DIR
BIN=$1
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
[[ $(id -u) -eq 0 ]] || skip_test "needs root (fanotify permission events, mount)"
command -v python3 >/dev/null || skip_test "no python3"
T=$(mktemp -d "${EIMA_TEST_TMPDIR:-/tmp}/eima-fanotify.XXXXXX")
M=$T/mnt
RUN=$T/run
EIMAD_PID=
cleanup() {
	trap - EXIT TERM INT
	[[ -n "${WATCHDOG_PID:-}" ]] && kill "$WATCHDOG_PID" 2>/dev/null
	stop_eimad >/dev/null 2>&1
	mountpoint -q "$M" && umount -l "$M"
	rm -rf "$T"
}
trap cleanup EXIT
trap 'echo "interrupted"; exit 1' TERM INT
# The script's own deadline, in shell builtins only (no process that could itself hang).
( read -rt 240 <> <(:); kill -TERM $$ 2>/dev/null ) &
WATCHDOG_PID=$!

mkdir -p "$M" "$RUN"
mount -t tmpfs -o size=400m,mode=0755 eima-fanotify-test "$M" || skip_test "cannot mount a tmpfs"
touch "$M/probe"
setfattr -n user.eima-probe -v 1 "$M/probe" 2>/dev/null || skip_test "tmpfs without user.* xattrs"
rm -f "$M/probe"

openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=eima-fanotify-test \
	-keyout "$T/key.pem" -out "$T/cert.pem" 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=eima-other \
	-keyout "$T/other.pem" -out "$T/other-cert.pem" 2>/dev/null

# Two trees on the test mount: root (everything blessed) and libs (the same, but a libc
# that is not), and a third blessed with another key.
R=$M/root
make_rootfs "$R"
entry() { printf '{"fileName": "%s", "checksums": [{"algorithm": "SHA256", "checksumValue": "%s"}]}' "$1" "$(sha256_of "$2/$1")"; }
write_sbom() { # write_sbom TREE OUT
	local sep=
	{
		echo '{"spdxVersion": "SPDX-2.3", "name": "fanotify-test", "files": ['
		for f in bin/busybox bin/dyn-true bin/dyn-env lib64/ld-linux-x86-64.so.2 \
			lib/x86_64-linux-gnu/libc.so.6; do
			[[ -f "$1/$f" ]] && { echo "$sep$(entry "$f" "$1")"; sep=,; }
		done
		echo ']}'
	} >"$2"
}
cp -a "$R" "$M/libs"
cp -a "$R" "$M/other"
write_sbom "$R" "$T/sbom.json"
"$BIN/eima" bless --sbom "$T/sbom.json" --root "$R" --key "$T/key.pem" --cert "$T/cert.pem" >/dev/null
check_eq "bless the test tree" 0 $?
mv "$M/libs/lib/x86_64-linux-gnu/libc.so.6" "$T/libc.tmp"
write_sbom "$M/libs" "$T/sbom-libs.json"
"$BIN/eima" bless --sbom "$T/sbom-libs.json" --root "$M/libs" --key "$T/key.pem" --cert "$T/cert.pem" >/dev/null
cp "$T/libc.tmp" "$M/libs/lib/x86_64-linux-gnu/libc.so.6" # the unblessed library
write_sbom "$M/other" "$T/sbom-other.json"
"$BIN/eima" bless --sbom "$T/sbom-other.json" --root "$M/other" --key "$T/other.pem" \
	--cert "$T/other-cert.pem" >/dev/null
cp "$R/bin/dyn-true" "$R/bin/copied"         # a copy: cp takes no xattrs
cp -L /usr/bin/true "$R/bin/new"             # never blessed
cp "$R/bin/dyn-true" "$R/bin/xattr-thief"    # another file with a blessed file's xattr
printf 'x' >>"$R/bin/xattr-thief"
setfattr -n user.eima -v "0x$(getfattr --only-values -n user.eima "$R/bin/dyn-true" 2>/dev/null | xxd -p | tr -d '\n')" \
	"$R/bin/xattr-thief"
cp -a "$R/bin/dyn-env" "$R/bin/stripped"     # blessed (cp -a keeps xattrs), then its blessing removed
cp -a "$R/bin/dyn-env" "$R/bin/trunc-me"     # blessed, run, then truncated
cp -L /usr/bin/true "$T/outside-true"        # not on the marked file system
echo "not a program" >"$R/motd"

# start_enforcing LOG ARGS...: eimad in trace mode (measuring as usual) plus fanotify
# enforcement of $M, under a hard KILL timeout.
start_enforcing() {
	local log=$1; shift
	EIMAD_WRAP="timeout -s KILL 200" start_eimad "$RUN" "$log" --mode trace --tpm none \
		--vtpm none --fresh --enforce-fanotify "$M" --trusted-cert "$T/cert.pem" "$@" &&
		return 0
	if grep -q "fanotify_init\|fanotify_mark" "$log"; then
		skip_test "fanotify permission events refused here: $(grep -m1 fanotify "$log")"
	fi
	return 1
}
# run_rc CMD...: exit status, with a bound on the command; its stderr kept in $T/err.
run_rc() { timeout -s KILL 10 "$@" >/dev/null 2>"$T/err"; echo $?; }

# The workload both modes run; prints "name rc" lines.
workload() {
	echo "blessed-static $(run_rc "$R/bin/busybox" true)"
	echo "blessed-dynamic $(run_rc chroot "$R" /bin/dyn-true)"
	echo "copied $(run_rc "$R/bin/copied")"
	echo "new $(run_rc "$R/bin/new")"
	echo "xattr-thief $(run_rc "$R/bin/xattr-thief")"
	echo "other-key $(run_rc "$M/other/bin/busybox" true)"
	echo "unblessed-lib $(run_rc chroot "$M/libs" /bin/dyn-true)"
	echo "read-unblessed-lib $(run_rc cat "$M/libs/lib/x86_64-linux-gnu/libc.so.6")"
	echo "new-mntns $(run_rc unshare -m "$R/bin/copied")"
	echo "outside $(run_rc "$T/outside-true")"
	echo "text-file $(run_rc cat "$R/motd")"
}

### Enforce mode.
start_enforcing "$T/enforce.log" || { failed "eimad starts with fanotify enforcement"; finish; exit; }
# Decisions are events too (docs/events.md), posted from the enforcer's threads.
"$BIN/eima" events --run-dir "$RUN" --follow --json >"$T/events.jsonl" 2>"$T/follow.err" &
FOLLOW_PID=$!
sleep 0.5
workload >"$T/enforce.rc"
cat "$T/enforce.rc"
want_rc() { check_eq "enforce: $1 exits $2" "$2" "$(awk -v n="$1" '$1 == n {print $2}' "$T/enforce.rc")"; }
want_rc blessed-static 0
want_rc blessed-dynamic 0
want_rc copied 126           # the shell's "cannot execute": execve failed
want_rc new 126
want_rc xattr-thief 126
want_rc other-key 126
want_rc unblessed-lib 127    # ld.so: cannot open shared object file
want_rc read-unblessed-lib 1 # cat: Permission denied (the open itself)
want_rc new-mntns 126        # the file system mark holds in a new mount namespace
want_rc outside 0            # scope: only the marked file system
want_rc text-file 0
run_rc chroot "$M/libs" /bin/dyn-true >/dev/null
check "ld.so names the refused library" grep -q "libc.so.6.*Operation not permitted" "$T/err"

# Tampering fanotify can see: each change is caught at the next use, also after a cached
# allow (the kernel drops an ignore mark when the file is modified). Refused means EPERM,
# not a broken file: the error must say "Operation not permitted".
refused() { # refused WHAT CMD...
	local what=$1 rc; shift
	rc=$(run_rc "$@")
	if [[ $rc -ne 0 ]] && grep -q "Operation not permitted" "$T/err"; then pass "$what: refused"
	else failed "$what: exit $rc, $(head -c 200 "$T/err")"; fi
}
check_eq "dyn-env runs (and is cached)" 0 "$(run_rc chroot "$R" /bin/dyn-env true)"
check_eq "dyn-env runs again" 0 "$(run_rc chroot "$R" /bin/dyn-env true)"
printf '\n' >>"$R/bin/dyn-env"
refused "appended to (echo >>) after a cached allow" chroot "$R" /bin/dyn-env true
check_eq "trunc-me runs (and is cached)" 0 "$(run_rc chroot "$R" /bin/trunc-me true)"
truncate -s 10000 "$R/bin/trunc-me"
refused "truncated after a cached allow" chroot "$R" /bin/trunc-me true
setfattr -x user.eima "$R/bin/stripped"
refused "blessing removed (setfattr -x)" "$R/bin/stripped" true
cp -L /usr/bin/true "$T/new.tmp" && mv "$T/new.tmp" "$R/bin/dyn-true" # mv over a blessed file
refused "replaced (mv over)" chroot "$R" /bin/dyn-true
refused "a blessed file's xattr on another file" "$R/bin/xattr-thief"
refused "signed by another key" "$M/other/bin/busybox" true
refused "copied" "$R/bin/copied"
check_eq "the blessed busybox still runs" 0 "$(run_rc "$R/bin/busybox" true)"

# eima status names the mode and what it does not protect.
"$BIN/eima" status --run-dir "$RUN" >"$T/status.txt"
check "status: fanotify enforce" grep -q "enforcement: fanotify, enforce" "$T/status.txt"
check "status: says what fanotify mode lacks" grep -q "does NOT protect" "$T/status.txt"
check "status: no write protection" grep -q "no write protection" "$T/status.txt"
"$BIN/eima" status --run-dir "$RUN" --json >"$T/status.json"
check_eq "status --json: denials counted" yes "$(python3 -c '
import json,sys; e=json.load(open(sys.argv[1]))["enforcement"]
print("yes" if e["mode"] == "enforce" and e["denied"] >= 10 and e["cached"] >= 1 and e["timeouts"] == 0 else e)' "$T/status.json")"
settle "$RUN"
sleep 0.5
kill "$FOLLOW_PID" 2>/dev/null; wait "$FOLLOW_PID" 2>/dev/null
stop_eimad
check_eq "eimad stops cleanly" 0 $?

# Each decision of the audit log reached the follower as a "decision" event, and each
# event is valid against docs/events.schema.json.
check_eq "decision events: one per audit record, valid" ok "$(python3 - "$RUN/audit.jsonl" "$T/events.jsonl" "$here/../../docs/events.schema.json" <<'PY'
import json, sys
audit = [json.loads(l) for l in open(sys.argv[1])]
events = [json.loads(l) for l in open(sys.argv[2])]
key = lambda path, op, verdict: (path, op, verdict)
want = sorted(key(a["path"], a["operation"], a["decision"]) for a in audit)
got = sorted(key(e["path"], e["operation"], e["verdict"]) for e in events if e["type"] == "decision")
import jsonschema  # python3-jsonschema, from scripts/setup.sh
v = jsonschema.Draft202012Validator(json.load(open(sys.argv[3])))
invalid = [e for e in events if not v.is_valid(e)]
if not want: print("no audit records")
elif want != got: print(f"audit {want}\nevents {got}")
elif invalid: print("invalid", invalid[0])
elif any(e.get("mechanism") != "fanotify" for e in events if e["type"] == "decision"): print("mechanism")
else: print("ok")
PY
)"

# The audit log: one event per denial, with every field.
check_eq "audit: events carry every field, for the right files" ok "$(python3 - "$RUN/audit.jsonl" "$M" <<'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
need = {"time", "container", "pid", "comm", "path", "inode", "operation", "rule", "reason"}
bad = [e for e in ev if not need <= e.keys() or e["decision"] != "denied" or e["mechanism"] != "fanotify"]
paths = {e["path"].removeprefix(sys.argv[2]) for e in ev}
want = {"/root/bin/copied", "/root/bin/new", "/root/bin/xattr-thief", "/other/bin/busybox",
        "/libs/lib/x86_64-linux-gnu/libc.so.6", "/root/bin/dyn-env", "/root/bin/stripped",
        "/root/bin/dyn-true", "/root/bin/trunc-me"}
lib = [e for e in ev if e["path"].endswith("libs/lib/x86_64-linux-gnu/libc.so.6")]
thief = [e for e in ev if e["path"].endswith("xattr-thief")]
other = [e for e in ev if e["path"].endswith("other/bin/busybox")]
if bad: print("bad", bad[0])
elif not want <= paths: print("missing", want - paths)
elif {e["operation"] for e in lib} != {"open"}: print("lib", lib)
elif any(e["inode"]["ino"] == 0 or e["pid"] <= 0 or not e["comm"] for e in ev): print("ids", ev[0])
# unshare -m: the exec in a new mount namespace is attributed to it, the rest to the host.
elif {e["container"] for e in ev} - {"host"} == set() or not all(c == "host" or c.startswith("mntns-") for c in {e["container"] for e in ev}): print("containers", {e["container"] for e in ev})
elif "not the blessed one" not in thief[0]["reason"]: print("thief", thief[0])
elif "bad signature" not in other[0]["reason"]: print("other", other[0])
else: print("ok")
PY
)"

### Audit mode: the same workload on fresh copies of the trees denies nothing, and logs the
### same decisions as enforce mode did for them.
cp -a "$M/libs/bin/dyn-true" "$R/bin/dyn-true"  # restore what the tampering changed
cp "$R/bin/dyn-true" "$R/bin/copied"
mv "$RUN/audit.jsonl" "$T/enforce.jsonl"
start_enforcing "$T/audit.log" --appraise audit || { failed "eimad starts in audit mode"; finish; exit; }
workload >"$T/audit.rc"
stop_eimad
check_eq "audit mode: everything runs" "" "$(awk '$2 != 0' "$T/audit.rc")"
check_eq "audit mode logs what enforce mode denied" ok "$(python3 - "$T/enforce.jsonl" "$RUN/audit.jsonl" <<'PY'
import json, sys
def key(f, decision):
    ev = [json.loads(l) for l in open(f)]
    assert all(e["decision"] == decision for e in ev), decision
    return sorted({(e["path"], e["operation"], e.get("detail", ""), e["reason"]) for e in ev})
# enforce.jsonl also holds the tampering part, which the audit run did not repeat.
enf = [k for k in key(sys.argv[1], "denied") if not k[0].endswith(("dyn-env", "stripped", "dyn-true", "trunc-me"))]
aud = key(sys.argv[2], "would_deny")
# Every decision enforce mode made is in the audit log, and the audit log names no other
# file or reason. An exec that audit mode lets through is followed by the kernel's
# FAN_OPEN_PERM for the same open; eimad pairs it with the exec and logs it once, but an
# unpaired one is a second line (operation "open") for the same file and reason.
same = lambda ks: {(k[0], k[3]) for k in ks}
print("ok" if enf and set(enf) <= set(aud) and same(enf) == same(aud) else f"enforce {enf}\naudit {aud}")
PY
)"

### The watchdog: a verdict that takes longer than the response timeout (hashing 300 MB,
### here, against a 50 ms timeout) is given by the watchdog — deny, audited.
{ printf '\x7fELF'; head -c 300M /dev/zero; } >"$M/big"
setfattr -n user.eima -v "0x$(getfattr --only-values -n user.eima "$R/bin/busybox" 2>/dev/null | xxd -p | tr -d '\n')" "$M/big"
rm -f "$RUN/audit.jsonl"
start_enforcing "$T/watchdog.log" --fanotify-timeout-ms 50 || { failed "eimad starts (watchdog)"; finish; exit; }
check_eq "watchdog: a slow verdict is a deny" 1 "$(run_rc cat "$M/big")"
check "  ... EPERM" grep -q "Operation not permitted" "$T/err"
"$BIN/eima" status --run-dir "$RUN" --json >"$T/status.json"
check_eq "watchdog: counted" yes "$(python3 -c 'import json,sys; print("yes" if json.load(open(sys.argv[1]))["enforcement"]["timeouts"] >= 1 else "no")' "$T/status.json")"
stop_eimad
check "watchdog: audited" grep -q '"detail":"fanotify:watchdog"' "$RUN/audit.jsonl"
finish
