#!/usr/bin/env bash
# Enforcement in lsm mode, on a real kernel (inside tests/vm/vmrun, --modules overlay): a
# busybox rootfs blessed from an SBOM this test writes, with keys made here (never
# committed), and eimad --appraise enforce|audit --trusted-cert. Checks that blessed
# programs run and everything else is refused with EPERM (copied-and-modified, new, signed
# by another key, another file's valid blessing, an unblessed library, a file changed while
# eimad was down), that changes to a blessed file are refused and leave its bytes and xattrs
# as they were (write, truncate, cp and mv over it, rename, rm, ln, removing or replacing
# its xattrs) while an unblessed file can still be written, and that the bypasses that get past fapolicyd do not get past eima (a new
# mount namespace, unshare -Urm as nobody, an overlay's upper layer, fexecve of a memfd);
# that audit mode refuses nothing (changes included) and logs exactly what enforce refused; that container=ID
# is never widened; that a refused exec is measured and a blessed one that exits at once
# has its digest in the container's list; and that evmctl accepts the blessed files.
#
#   enforce_lsm_test.sh BIN_DIR [user.eima|security.bpf.eima]
BIN=$1
XATTR=${2:-user.eima}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../e2e/lib.sh"

grep -q bpf /sys/kernel/security/lsm 2>/dev/null || skip_test "BPF LSM is not active (run inside vmrun)"
[[ $(id -u) -eq 0 ]] || skip_test "needs root"
command -v evmctl >/dev/null || skip_test "no evmctl (Debian package ima-evm-utils)"

# The guest's tmpfs: user.* and security.* xattrs (6.6+), and nothing on the host's disk.
T=$(mktemp -d /tmp/eima-enforce.XXXXXX)
chmod 755 "$T"
cleanup() {
	stop_eimad >/dev/null 2>&1
	umount "$T/merged" 2>/dev/null
	for g in /sys/fs/cgroup/libpod-*.scope; do rmdir "$g" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT

# ---- keys, rootfs, SBOM, bless ----
for k in a b; do
	openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=eima-enforce-$k" \
		-keyout "$T/key-$k.pem" -out "$T/cert-$k.pem" 2>/dev/null
done
openssl x509 -in "$T/cert-a.pem" -outform DER -out "$T/cert-a.der"
root=$T/root
make_rootfs "$root"
# setfattr (libc only) for the xattr changes, which busybox cannot make: run in the
# container, in scope, it must be blessed itself.
cp -L /usr/bin/setfattr "$root/bin/setfattr"
# truncate(2) by path, which no tool here makes without opening the file (a static helper).
cp "$BIN/eima-test-truncate" "$root/bin/truncate-path"
blessed="bin/busybox bin/dyn-true bin/dyn-env bin/setfattr bin/truncate-path lib64/ld-linux-x86-64.so.2 lib/x86_64-linux-gnu/libc.so.6"
sbom_for() { # sbom_for ROOT > SBOM
	local sep='' f
	echo '{"spdxVersion": "SPDX-2.3", "name": "enforce-rootfs", "files": ['
	for f in $blessed; do
		printf '%s{"fileName": "/%s", "checksums": [{"algorithm": "SHA256", "checksumValue": "%s"}]}\n' \
			"$sep" "$f" "$(sha256_of "$1/$f")"
		sep=,
	done
	echo ']}'
}
sbom_for "$root" >"$T/sbom.json"
xattr_opt=()
[[ $XATTR == security.bpf.eima ]] && xattr_opt=(--xattr security.bpf.eima)
"$BIN/eima" bless --sbom "$T/sbom.json" --root "$root" --key "$T/key-a.pem" \
	--cert "$T/cert-a.pem" "${xattr_opt[@]}" >"$T/bless.out" 2>&1
check_eq "eima bless exits 0" 0 $?
for f in $blessed; do
	check "evmctl ima_verify accepts $f" evmctl ima_verify --key "$T/cert-a.der" "$root/$f"
done

# The same dyn-true blessed by key b, in a tree of its own.
other=$T/other
make_rootfs "$other"
cp -L /usr/bin/setfattr "$other/bin/setfattr"
cp "$BIN/eima-test-truncate" "$other/bin/truncate-path"
sbom_for "$other" >"$T/sbom-b.json"
"$BIN/eima" bless --sbom "$T/sbom-b.json" --root "$other" --key "$T/key-b.pem" \
	--cert "$T/cert-b.pem" "${xattr_opt[@]}" >/dev/null 2>&1
check_eq "eima bless with key b exits 0" 0 $?

# What must be refused, laid out before eimad starts.
cp "$root/bin/dyn-true" "$root/bin/modified" && printf 'x' >>"$root/bin/modified"
# New programs are static (busybox with a byte of their own; run as an unknown applet they
# exit 127): in audit mode, a dynamic one would go on to map the host's unblessed loader
# where enforce mode stopped it at exec, and the two logs could not be compared.
cp /bin/busybox "$root/bin/new" && printf 'n' >>"$root/bin/new"
cp -a "$other/bin/dyn-true" "$root/bin/other-key"                   # valid, by key b
cp -L /usr/bin/env "$root/bin/xattr-copied"                          # another file's blessing:
getfattr --absolute-names -n "$XATTR" -e hex "$root/bin/dyn-true" |
	awk -F= -v f="$root/bin/xattr-copied" -v n="$XATTR" '/=/ { system("setfattr -n " n " -v " $2 " " f) }'
check "the copied blessing is in place" getfattr -n "$XATTR" "$root/bin/xattr-copied"
cp "$root/lib/x86_64-linux-gnu/libc.so.6" "$root/lib/extra.so" && printf 'x' >>"$root/lib/extra.so"
mkdir -p "$root/etc"
printf 'root:x:0:0::/:/bin/sh\nnobody:x:65534:65534::/:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
chmod -R a+rX "$root"
refused="modified new other-key xattr-copied"

cat >"$T/policy" <<'EOF'
measure func=BPRM_CHECK
measure func=MMAP_CHECK mask=MAY_EXEC
appraise func=BPRM_CHECK appraise_type=imasig container=*
appraise func=MMAP_CHECK appraise_type=imasig container=*
appraise func=BPRM_CHECK appraise_type=imasig fowner=4242
EOF
start() { # start MODE [policy]
	start_eimad "$T/run" "$T/eimad-$1.log" --mode lsm --tpm none --vtpm none \
		--policy "${2:-$T/policy}" --appraise "$1" --trusted-cert "$T/cert-a.pem" \
		--blessing-xattr "$XATTR"
}

# The workload, the same in enforce and audit mode: "NAME RC" lines. Programs run under
# busybox sh, which exits 126 when exec fails with EPERM or EACCES (127: not found); so
# does util-linux's unshare.
container() { "$BIN/eima-test-container" "$1" -- /bin/sh -c "$2"; }
workload() {
	local out=$1
	: >"$out"
	container "$root" /bin/dyn-true
	echo "blessed $?" >>"$out"
	container "$root" '/bin/dyn-env /bin/true'
	echo "blessed-env $?" >>"$out"
	for f in $refused; do
		container "$root" "/bin/$f" >/dev/null 2>&1
		echo "$f $?" >>"$out"
	done
	# ld.so maps a preloaded library executable; when that is refused it says so and goes
	# on without it. 1: it said so.
	container "$root" 'LD_PRELOAD=/lib/extra.so /bin/dyn-true' 2>"$T/preload.err"
	grep -q "cannot be preloaded" "$T/preload.err"
	echo "unblessed-library $((1 - $?))" >>"$out"
	# A new mount namespace of the host's, and as nobody in a new user namespace (what an
	# unprivileged user can do without any help: the mount namespace is its own).
	unshare -m -- "$root/bin/new" 2>/dev/null
	echo "new-mntns $?" >>"$out"
	setpriv --reuid=65534 --regid=65534 --clear-groups unshare -Urm -- "$root/bin/new" \
		2>"$T/unshare.err"
	echo "unshare-Urm $?" >>"$out"
	head -3 "$T/unshare.err"
	# An overlay of the blessed tree: the lower layer runs, a new upper file does not.
	mkdir -p "$T/upper/bin" "$T/work" "$T/merged"
	cp "$root/bin/new" "$T/upper/bin/upper-new" && printf 'u' >>"$T/upper/bin/upper-new"
	mount -t overlay overlay -o "lowerdir=$root,upperdir=$T/upper,workdir=$T/work" "$T/merged"
	container "$T/merged" /bin/dyn-true
	echo "overlay-blessed $?" >>"$out"
	container "$T/merged" /bin/upper-new 2>/dev/null
	echo "overlay-upper-new $?" >>"$out"
	umount "$T/merged"
	# fexecve of a memfd copy of a blessed (static) program, from a new mount namespace.
	python3 - "$root/bin/busybox" <<'PY' 2>/dev/null
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.unshare(0x00020000) != 0:  # CLONE_NEWNS: into enforcement's scope
    sys.exit(2)
fd = os.memfd_create("copy", 0)
os.write(fd, open(sys.argv[1], "rb").read())
try:
    os.execve(fd, ["true"], {})
except PermissionError:
    sys.exit(126)
PY
	echo "memfd $?" >>"$out"
}
# The audit log as "basename reason" lines, sorted and unique. Not the operation: where
# enforce mode refuses an exec, audit mode lets it go on to map the same file executable.
decisions() {
	python3 - "$1" <<'PY'
import json, os, sys
rows = set()
if os.path.exists(sys.argv[1]):
    for line in open(sys.argv[1], errors="surrogateescape"):
        r = json.loads(line)
        rows.add((os.path.basename(r["path"]) or "-", r["reason"]))
for row in sorted(rows):
    print(*row)
PY
}

# ---- changes to blessed files (lib/tamper.h) ----
# One blessed copy of dyn-true per change (audit mode lets each through), made with all its
# xattrs (cp -a skips security.ima where /etc/xattr.conf says so), and unblessed files.
tamper_ops="append truncate cp mv rename rm ln rmx rmima setother"
copy_xattrs() { # copy_xattrs SRC DST
	getfattr --absolute-names -d -m - -e hex "$1" |
		awk -F= '/=/ { n = $1; sub(/^[^=]*=/, ""); print n, $0 }' |
		while read -r n v; do setfattr -n "$n" -v "$v" "$2"; done
}
make_targets() { # make_targets DIR
	rm -rf "$1"
	mkdir -p "$1"
	for op in $tamper_ops; do
		cp "$root/bin/dyn-true" "$1/t-$op"
		copy_xattrs "$root/bin/dyn-true" "$1/t-$op"
	done
	# Blessed files no task in scope reads before they are changed (not t-*).
	for op in rm rmx rmima truncate mv ln; do
		cp "$root/bin/dyn-true" "$1/u-$op"
		copy_xattrs "$root/bin/dyn-true" "$1/u-$op"
	done
	printf 'other\n' >"$1/other"
	printf 'other\n' >"$1/other-mv"
	printf 'unblessed\n' >"$1/unblessed"
}
snapshot() { # snapshot DIR: names, bytes and every xattr of all but the unblessed and unread files
	(cd "$1" && ls -A | grep -v '^unblessed$' | grep -v '^u-' | while read -r f; do
		sha256sum "$f"
		getfattr -d -m - -e hex "$f" 2>/dev/null
	done)
}
# The blessing of dyn-true by key b: valid, by a key eimad does not trust.
other_value=$(getfattr --absolute-names -n "$XATTR" -e hex "$other/bin/dyn-true" | awk -F= '/=/ { print $2 }')
# tamper DIR OUT: each change, from a container (in scope of container=*) whose rootfs
# holds DIR (a directory of $root), with its blessed tools (busybox, setfattr), as "NAME RC"
# lines. A host tool could not run there: it is not blessed. The first cat is a task in
# scope opening the files, as a container that runs them does: that is where the kernel
# learns they are blessed (docs/enforcement.md).
tamper() {
	local d=/${1#"$root"/}
	container "$root" "
d=$d x=$XATTR v=$other_value
cat \$d/t-* >/tmp/tamper-read; echo \"read \$?\"; rm -f /tmp/tamper-read
r() { n=\$1; shift; \"\$@\"; echo \"\$n \$?\"; }
r append sh -c 'echo x >>\$1' _ \$d/t-append
r truncate busybox truncate -s 0 \$d/t-truncate
r cp busybox cp \$d/other \$d/t-cp
r mv busybox mv \$d/other-mv \$d/t-mv
r rename busybox mv \$d/t-rename \$d/renamed
r rm busybox rm -f \$d/t-rm
r ln busybox ln \$d/t-ln \$d/t-ln.link
r rmx setfattr -x \$x \$d/t-rmx
r rmima setfattr -x security.ima \$d/t-rmima
r setother setfattr -n \$x -v \$v \$d/t-setother
r unblessed sh -c 'echo x >>\$1' _ \$d/unblessed
r unread-rm busybox rm -f \$d/u-rm
r unread-rmx setfattr -x \$x \$d/u-rmx
r unread-rmima setfattr -x security.ima \$d/u-rmima
r unread-truncate truncate-path \$d/u-truncate
r unread-mv busybox mv \$d/u-mv \$d/u-mv.moved
r unread-ln busybox ln \$d/u-ln \$d/u-ln.link
" >"$2" 2>/dev/null
}
# What each change is logged as: "NAME OPERATION" (coreutils truncate opens for write).
tamper_logged="append write
truncate write
cp write
mv rename_over
rename rename
rm unlink
ln link
rmx removexattr
rmima removexattr
setother setxattr"
want_tamper_records() { # want_tamper_records DECISION
	while read -r n op; do
		check "audit: $op of blessed t-$n, $1" python3 -c '
import json, os, sys
op, name, decision, log = sys.argv[1:]
sys.exit(not any(r["operation"] == op and os.path.basename(r["path"]) == name and
                 r["reason"] == "blessed" and r["decision"] == decision
                 for r in map(json.loads, open(log))))' "$op" "t-$n" "$1" "$T/run/audit.jsonl"
	done <<<"$tamper_logged"
}

# The unshare -Urm case needs an unprivileged user to be able to make a user namespace
# (vmrun's guest allows it: its root is the mount namespace's root, not a chroot). Where
# it cannot, the bypass is not there to test, and the test says so by failing here.
check "nobody can run unshare -Urm (the case below is real)" \
	setpriv --reuid=65534 --regid=65534 --clear-groups unshare -Urm true

# ---- enforce ----
# The targets exist before eimad starts: it learns they are blessed when a task in scope
# opens them (tamper's cat), not when their xattrs are written.
make_targets "$root/tamper-enforce"
snapshot "$root/tamper-enforce" >"$T/tamper.before"
start enforce || { failed "eimad starts in enforce mode"; finish; exit; }
"$BIN/eima" status --run-dir "$T/run" >"$T/status"
check "status shows appraisal enforce" grep -q "^appraisal: *enforce" "$T/status"
check "status shows the keyring and certificate" grep -q "^keyring: .*1 trusted certificate" "$T/status"
check "status shows the kfuncs" grep -q "^kfuncs: *bpf_ima_file_hash in hooks: yes, bpf_get_file_xattr: yes" "$T/status"
workload "$T/enforce.rc"
tamper "$root/tamper-enforce" "$T/tamper-enforce.rc"
settle "$T/run"
cat "$T/enforce.rc" "$T/tamper-enforce.rc"
rc_of() { awk -v n="$2" '$1 == n { print $2 }' "$1"; }
check_eq "blessed program runs" 0 "$(rc_of "$T/enforce.rc" blessed)"
check_eq "blessed dynamic program runs" 0 "$(rc_of "$T/enforce.rc" blessed-env)"
for f in $refused; do
	check_eq "$f is refused with EPERM (sh: 126)" 126 "$(rc_of "$T/enforce.rc" "$f")"
done
check_eq "an unblessed library cannot be mapped executable" 1 "$(rc_of "$T/enforce.rc" unblessed-library)"
check_eq "exec from a new mount namespace is refused" 126 "$(rc_of "$T/enforce.rc" new-mntns)"
check_eq "exec from unshare -Urm as nobody is refused" 126 "$(rc_of "$T/enforce.rc" unshare-Urm)"
check_eq "the overlay's blessed lower file runs" 0 "$(rc_of "$T/enforce.rc" overlay-blessed)"
check_eq "a new file in the overlay's upper layer is refused" 126 "$(rc_of "$T/enforce.rc" overlay-upper-new)"
check_eq "fexecve of a memfd copy is refused" 126 "$(rc_of "$T/enforce.rc" memfd)"
check_eq "the container in scope reads the blessed files (the kernel learns they are blessed)" 0 "$(rc_of "$T/tamper-enforce.rc" read)"
for n in $tamper_ops; do
	rc=$(rc_of "$T/tamper-enforce.rc" "$n")
	check "change $n of a blessed file is refused (rc $rc)" test -n "$rc" -a "$rc" != 0
done
check_eq "an unblessed file in scope can be written" 0 "$(rc_of "$T/tamper-enforce.rc" unblessed)"
# A blessed file that no task in scope opened: the change hooks read its xattr themselves
# (bpf_get_dentry_xattr, which both guests' kernels have). Its blessing cannot be removed
# on any kernel (where the xattr is, the file is blessed); removing its security.ima is
# the limit on every kernel (inode_removexattr reads no xattr; docs/enforcement.md's
# limits, checked so that the document stays true).
rc=$(rc_of "$T/tamper-enforce.rc" unread-rmx)
check "removing the blessing of a file never opened is refused (rc $rc)" test -n "$rc" -a "$rc" != 0
check "...and the blessing is still there" getfattr -n "$XATTR" "$root/tamper-enforce/u-rmx"
check_eq "(limit) removing security.ima of a blessed file never opened goes through" 0 \
	"$(rc_of "$T/tamper-enforce.rc" unread-rmima)"
check "eima status: the change hooks read xattrs" grep -q 'change hooks read xattrs: yes' "$T/status"
for n in rm truncate mv ln; do
	rc=$(rc_of "$T/tamper-enforce.rc" "unread-$n")
	check "$n of a blessed file never opened is refused (rc $rc)" test -n "$rc" -a "$rc" != 0
done
check "the unread files are still there, blessed" \
	getfattr -n "$XATTR" "$root/tamper-enforce/u-rm" "$root/tamper-enforce/u-mv"
check "no link to an unread file was made" test ! -e "$root/tamper-enforce/u-ln.link"
check "the unread file truncated by path keeps its bytes" \
	cmp -s "$root/bin/dyn-true" "$root/tamper-enforce/u-truncate"
snapshot "$root/tamper-enforce" >"$T/tamper.after"
check "the blessed files' names, bytes and xattrs are unchanged" diff "$T/tamper.before" "$T/tamper.after"
check "the snapshot saw the blessing and security.ima" grep -q "^security.ima=" "$T/tamper.after"
want_tamper_records denied
decisions "$T/run/audit.jsonl" >"$T/enforce.decisions"
cat "$T/enforce.decisions"
want_reason() { # want_reason OPERATION BASENAME REASON: some record says so
	check "audit: $1 $2 $3" python3 -c '
import json, os, sys
op, name, reason, log = sys.argv[1:]
sys.exit(not any(r["operation"] == op and os.path.basename(r["path"]) == name and
                 r["reason"] == reason for r in map(json.loads, open(log))))' "$1" "$2" "$3" "$T/run/audit.jsonl"
}
want_reason exec modified no_xattr
want_reason exec new no_xattr
want_reason exec other-key unknown_key
want_reason exec xattr-copied digest_mismatch
want_reason mmap_exec extra.so no_xattr
want_reason exec upper-new no_xattr
check "every decision of enforce mode says denied" \
	python3 -c 'import json,sys; sys.exit(any(json.loads(l)["decision"] != "denied" for l in open(sys.argv[1])))' "$T/run/audit.jsonl"
"$BIN/eima" audit --run-dir "$T/run" >"$T/audit.txt"
check_eq "eima audit prints every decision" "$(wc -l <"$T/run/audit.jsonl")" "$(grep -c DENIED "$T/audit.txt")"
"$BIN/eima" audit --run-dir "$T/run" --json >"$T/audit.json"
check "eima audit --json gives the log's lines" cmp -s "$T/audit.json" "$T/run/audit.jsonl"
check "audit records carry container, pid, comm, inode, rule" python3 -c '
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    assert r["container"] and r["pid"] > 0 and r["comm"] and r["inode"]["ino"] > 0 and "rule" in r, r' "$T/run/audit.jsonl"

# Measurement agrees: the program that exited at once has its digest in its container's
# list, and the refused one is measured too (as kernel IMA measures before appraising).
all_lists=$(cat "$T"/run/containers/*/ascii_runtime_measurements)
check "dyn-true's digest is in a container list" grep -q "sha256:$(sha256_of "$root/bin/dyn-true") /bin/dyn-true" <<<"$all_lists"
check "the refused /bin/new is measured" grep -q "sha256:$(sha256_of "$root/bin/new") .*/bin/new" <<<"$all_lists"
stop_eimad
check_eq "eimad (enforce) exits 0" 0 $?

# ---- changed while eimad was down ----
mv "$T/run/audit.jsonl" "$T/enforce.audit.jsonl"
printf 'y' | dd of="$root/bin/dyn-env" bs=1 seek=1000 conv=notrunc status=none
# A blessed file in the host's scope (the policy's fowner=4242 rule), blessed while eimad
# is down: re-blessing it later needs eimad's leave (eima bless --run-dir), which ends with
# the bless process.
mkdir -p "$T/rebless/bin"
cp "$root/bin/dyn-true" "$T/rebless/bin/t"
chown 4242 "$T/rebless/bin/t"
printf '{"spdxVersion": "SPDX-2.3", "name": "rebless", "files": [{"fileName": "/bin/t", "checksums": [{"algorithm": "SHA256", "checksumValue": "%s"}]}]}\n' \
	"$(sha256_of "$T/rebless/bin/t")" >"$T/sbom-rebless.json"
rebless() {
	"$BIN/eima" bless --sbom "$T/sbom-rebless.json" --root "$T/rebless" --key "$T/key-a.pem" \
		--cert "$T/cert-a.pem" "${xattr_opt[@]}" "$@"
}
rebless >/dev/null 2>&1
check_eq "a file in the host's scope is blessed while eimad is down" 0 $?
start enforce || { failed "eimad restarts"; finish; exit; }
container "$root" '/bin/dyn-env /bin/true' 2>/dev/null
check_eq "a file changed while eimad was down is refused" 126 $?
container "$root" /bin/dyn-true
check_eq "an unchanged blessed file still runs" 0 $?
# Re-blessing. A host task in scope reads the file first: that is where the kernel learns
# it is blessed. Setting the blessing to the value it has is the probe that changes
# nothing when it is let through.
t=$T/rebless/bin/t
cat "$t" >/dev/null
value=$(getfattr --absolute-names -n "$XATTR" -e hex "$t" | awk -F= '/=/ { print $2 }')
setfattr -x "$XATTR" "$t" 2>/dev/null
check "a host tool in scope cannot remove the blessing (rc $?)" test $? -ne 0
rebless >"$T/rebless.out" 2>&1
check "eima bless without eimad's leave cannot re-bless it" test $? -ne 0
check "evmctl still accepts it after the refused re-bless" evmctl ima_verify --key "$T/cert-a.der" "$t"
rebless --run-dir "$T/run" >"$T/rebless.out" 2>&1
check_eq "eima bless --run-dir re-blesses it with eimad's leave" 0 $?
check "evmctl accepts the re-blessed file" evmctl ima_verify --key "$T/cert-a.der" "$t"
still_allowed=1
for _ in $(seq 1 100); do
	setfattr -n "$XATTR" -v "$value" "$t" 2>/dev/null || { still_allowed=0; break; }
	sleep 0.1
done
check_eq "the leave ended with the bless process (within 10 s)" 0 "$still_allowed"
settle "$T/run"
check "the refused removal is in the audit log" python3 -c '
import json, os, sys
sys.exit(not any(r["operation"] == "removexattr" and os.path.basename(r["path"]) == "t" and
                 r["decision"] == "denied" and r["container"] == "host"
                 for r in map(json.loads, open(sys.argv[1]))))' "$T/run/audit.jsonl"
settle "$T/run"
check "its refusal says digest_mismatch" grep -q '"reason":"digest_mismatch"' "$T/run/audit.jsonl"
stop_eimad
cp "$other/bin/dyn-env" "$T/dyn-env.restore" # same content as the blessed one
cat "$T/dyn-env.restore" >"$root/bin/dyn-env" # content back; xattr untouched
rm -f "$T/run/audit.jsonl"

# ---- audit: nothing refused, the same decisions logged ----
make_targets "$root/tamper-audit"
start audit || { failed "eimad starts in audit mode"; finish; exit; }
workload "$T/audit.rc"
tamper "$root/tamper-audit" "$T/tamper-audit.rc"
settle "$T/run"
cat "$T/audit.rc" "$T/tamper-audit.rc"
for n in $tamper_ops unblessed unread-rm unread-rmx unread-rmima unread-truncate unread-mv unread-ln; do
	check_eq "audit mode: change $n goes through" 0 "$(rc_of "$T/tamper-audit.rc" "$n")"
done
want_tamper_records would_deny
# /bin/new and upper-new are busybox under an unknown applet name: they run and exit 127.
for n in blessed blessed-env overlay-blessed memfd modified other-key xattr-copied unblessed-library; do
	check_eq "audit mode: $n runs" 0 "$(rc_of "$T/audit.rc" "$n")"
done
for n in new new-mntns unshare-Urm overlay-upper-new; do
	check_eq "audit mode: $n runs (an unknown applet: 127)" 127 "$(rc_of "$T/audit.rc" "$n")"
done
decisions "$T/run/audit.jsonl" >"$T/audit.decisions"
check "audit mode logs exactly what enforce refused" diff "$T/enforce.decisions" "$T/audit.decisions"
check "audit mode logged each refused exec as an exec" grep -q '"operation":"exec".*"reason":"unknown_key"' "$T/run/audit.jsonl"
check "every decision of audit mode says would_deny" \
	python3 -c 'import json,sys; sys.exit(any(json.loads(l)["decision"] != "would_deny" for l in open(sys.argv[1])))' "$T/run/audit.jsonl"
stop_eimad

# ---- container=ID is honoured exactly ----
id1=$(printf '%064d' 1 | tr 0 a) id2=$(printf '%064d' 2 | tr 0 b)
cat >"$T/policy-named" <<EOF
measure func=BPRM_CHECK
appraise func=BPRM_CHECK appraise_type=imasig container=$id1
EOF
rm -f "$T/run/audit.jsonl"
start enforce "$T/policy-named" || { failed "eimad starts with container=ID"; finish; exit; }
in_cgroup() { # in_cgroup ID COMMAND...: runs COMMAND in cgroup libpod-ID.scope
	mkdir -p "/sys/fs/cgroup/libpod-$1.scope"
	(echo $BASHPID >"/sys/fs/cgroup/libpod-$1.scope/cgroup.procs" && shift && exec "$@")
}
in_cgroup "$id1" "$BIN/eima-test-container" "$root" -- /bin/sh -c /bin/new 2>/dev/null
check_eq "container=$id1 is enforced in that container" 126 $?
in_cgroup "$id2" "$BIN/eima-test-container" "$root" -- /bin/sh -c /bin/new 2>/dev/null
check_eq "container=ID is not widened to another container" 127 $?
container "$root" /bin/new 2>/dev/null
check_eq "nor to a container without a runtime cgroup" 127 $?
settle "$T/run"
check "the refusal names the container" grep -q "\"container\":\"$id1\"" "$T/run/audit.jsonl"
stop_eimad
check_eq "eimad exits 0" 0 $?
finish
