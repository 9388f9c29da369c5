#!/usr/bin/env bash
# `eima bless` on a busybox rootfs with an SBOM written here, a key generated here (never
# committed): the files whose content matches get security.ima, which the real evmctl
# verifies with the certificate, and user.eima, whose PKCS#7 `openssl cms` verifies over
# the documented message (docs/blessing.md). A tampered file is reported mismatched, gets
# nothing, and makes the run fail; missing and unlisted files are reported; --dry-run
# writes nothing. Root (security.* xattrs); the test directory is under $TMPDIR or /tmp,
# which must support user.* and security.* xattrs (ext4 here; a tmpfs without user xattrs
# is a skip, not a pass).
BIN=$1
source "$(dirname "$0")/lib.sh"
[[ $(id -u) -eq 0 ]] || skip_test "needs root for security.ima"
command -v evmctl >/dev/null || skip_test "no evmctl (Debian package ima-evm-utils)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
touch "$work/probe"
setfattr -n user.eima-probe -v 1 "$work/probe" 2>/dev/null &&
	setfattr -n security.eima-probe -v 1 "$work/probe" 2>/dev/null ||
	skip_test "$(df -T "$work" | awk 'NR==2 {print $2}') at $work lacks user.* or security.* xattrs"
echo "test directory: $work ($(df -T "$work" | awk 'NR==2 {print $2}'))"

openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=eima-bless-test \
	-keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
openssl x509 -in "$work/cert.pem" -outform DER -out "$work/cert.der" # evmctl reads DER
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=eima-other \
	-keyout "$work/other.pem" -out "$work/other-cert.pem" 2>/dev/null
openssl x509 -in "$work/other-cert.pem" -outform DER -out "$work/other-cert.der"

root=$work/root
make_rootfs "$root"
mkdir -p "$root/etc" "$root/usr/local/bin"
echo "not a program" >"$root/etc/motd"
printf '#!/bin/sh\necho unlisted\n' >"$root/usr/local/bin/script"
cp /bin/busybox "$root/usr/local/bin/extra-elf"
echo "listed without a digest" >"$root/etc/nodigest"

# The SBOM names the same file three ways; one entry per file, SHA-256 as syft writes it.
entry() { # entry NAME_AS_WRITTEN FILE_UNDER_ROOT
	printf '{"fileName": "%s", "checksums": [{"algorithm": "SHA256", "checksumValue": "%s"}]}' \
		"$1" "$(sha256_of "$root/$2")"
}
write_sbom() {
	{
		echo '{"spdxVersion": "SPDX-2.3", "name": "busybox-rootfs", "files": ['
		echo "$(entry /bin/busybox bin/busybox),"
		echo "$(entry ./bin/dyn-true bin/dyn-true),"
		echo "$(entry bin/dyn-env bin/dyn-env),"
		echo "$(entry /lib64/ld-linux-x86-64.so.2 lib64/ld-linux-x86-64.so.2),"
		echo "$(entry //lib/x86_64-linux-gnu/./libc.so.6 lib/x86_64-linux-gnu/libc.so.6),"
		echo '{"fileName": "/etc/nodigest", "checksums": [{"algorithm": "SHA1", "checksumValue": "0000000000000000000000000000000000000000"}]},'
		echo '{"fileName": "/bin/sh", "checksums": [{"algorithm": "SHA256", "checksumValue": "'"$(sha256_of /bin/busybox)"'"}]},'
		echo '{"fileName": "/lib64"},'
		echo '{"fileName": "/usr/bin/absent", "checksums": [{"algorithm": "SHA256", "checksumValue": "'"$(sha256_of /bin/busybox)"'"}]}'
		echo ']}'
	} >"$work/sbom.json"
}
write_sbom
blessed="bin/busybox bin/dyn-true bin/dyn-env lib64/ld-linux-x86-64.so.2 lib/x86_64-linux-gnu/libc.so.6"
bless() { "$BIN/eima" bless --sbom "$work/sbom.json" --root "$root" --key "$work/key.pem" \
	--cert "$work/cert.pem" "$@"; }
status_of() { # status_of REPORT PATH
	python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(*[f["status"] for f in r["files"] if f["path"] == sys.argv[2]])' "$@"
}

# Dry run: the same report, nothing written.
bless --dry-run --json >"$work/dry.json" 2>"$work/dry.err"
check_eq "dry run exits 0" 0 $?
check_eq "dry run counts" '{"blessed": 5, "failed": 0, "mismatched": 0, "missing": 1, "no_digest": 1, "not_regular": 2, "unlisted": 2}' \
	"$(python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["counts"], sort_keys=True))' <"$work/dry.json")"
check "no progress bar when stderr is not a terminal" test ! -s "$work/dry.err"
check_status "dry run writes no security.ima" 1 getfattr -n security.ima "$root/bin/busybox"

# The blessing.
bless --json >"$work/bless.json"
check_eq "bless exits 0" 0 $?
for s in "bin/busybox blessed" "bin/dyn-true blessed" "usr/local/bin/script unlisted" \
	"usr/local/bin/extra-elf unlisted" "/usr/bin/absent missing" "etc/nodigest no_digest" \
	"bin/sh not_regular" "lib64 not_regular"; do
	set -- $s
	check_eq "$1 is $2" "$2" "$(status_of "$work/bless.json" "$1")"
done
check_eq "a text file that is not listed is not reported" "" "$(status_of "$work/bless.json" etc/motd)"
for f in $blessed; do
	check "evmctl ima_verify accepts $f with our certificate" \
		evmctl ima_verify --key "$work/cert.der" "$root/$f"
	check_status "evmctl ima_verify refuses $f with another certificate" 1 \
		evmctl ima_verify --key "$work/other-cert.der" "$root/$f"
	# user.eima: the message is its first 8 + 32 bytes, the PKCS#7 signature the rest.
	getfattr --only-values -n user.eima "$root/$f" >"$work/value"
	head -c 40 "$work/value" >"$work/msg"
	tail -c +41 "$work/value" >"$work/sig"
	check_eq "$f: user.eima carries EIMA, version 1, sha256 (4), 32 bytes, flags 0, the digest" \
		"45494d4101042000$(sha256_of "$root/$f")" "$(od -An -tx1 -v "$work/msg" | tr -d ' \n')"
	check "$f: openssl cms verifies user.eima's signature with our certificate" \
		openssl cms -verify -binary -inform DER -in "$work/sig" -content "$work/msg" \
		-certfile "$work/cert.pem" -nointern -noverify -out /dev/null
done
# 6.13+ lets BPF read security.bpf.*: the same value under that name (RSA PKCS#1 v1.5 and a
# CMS without signed attributes are deterministic, so it is byte for byte user.eima's).
bless --xattr security.bpf.eima >/dev/null
check_eq "--xattr security.bpf.eima writes the same blessing there" \
	"$(getfattr --only-values -n user.eima "$root/bin/busybox" | od -An -tx1 -v)" \
	"$(getfattr --only-values -n security.bpf.eima "$root/bin/busybox" | od -An -tx1 -v)"
check_status "unlisted files get no security.ima" 1 getfattr -n security.ima "$root/usr/local/bin/extra-elf"

# Tampering: evmctl now refuses the file, and bless reports it and blesses nothing new.
echo >>"$root/bin/dyn-env"
check_status "evmctl refuses a tampered file" 1 evmctl ima_verify --key "$work/cert.der" "$root/bin/dyn-env"
cp "$root/bin/busybox" "$root/usr/local/bin/copy"
getfattr --only-values -n security.ima "$root/bin/busybox" >"$work/ima"
setfattr -n security.ima -v "0x$(od -An -tx1 -v "$work/ima" | tr -d ' \n')" "$root/bin/dyn-true"
check_status "evmctl refuses a valid signature copied onto another file" 1 \
	evmctl ima_verify --key "$work/cert.der" "$root/bin/dyn-true"
setfattr -x security.ima "$root/bin/dyn-true"
bless --json >"$work/tampered.json"
check_eq "bless exits 2 on a mismatch" 2 $?
check_eq "the tampered file is mismatched" mismatched "$(status_of "$work/tampered.json" bin/dyn-env)"
check_eq "its report has both digests" "$(sha256_of "$root/bin/dyn-env")" \
	"$(python3 -c 'import json,sys; print(*[f["actual"] for f in json.load(sys.stdin)["files"] if f["path"] == "bin/dyn-env"])' <"$work/tampered.json")"
check "the untouched files are blessed again" evmctl ima_verify --key "$work/cert.der" "$root/bin/dyn-true"
text=$(bless 2>&1)
check "the text report names the mismatch" grep -q "^mismatched  bin/dyn-env (sha256: SBOM " <<<"$text"

# Errors of the whole run: exit 1 with the reason.
out=$("$BIN/eima" bless --sbom "$work/sbom.json" --root "$root" --key "$work/other.pem" --cert "$work/cert.pem" 2>&1)
check_eq "a key that is not the certificate's exits 1" 1 $?
check "and says so" grep -q "is not the key of" <<<"$out"
echo '{"spdxVersion": "SPDX-2.3", "files": [' >"$work/bad.json"
out=$("$BIN/eima" bless --sbom "$work/bad.json" --root "$root" --key "$work/key.pem" --cert "$work/cert.pem" 2>&1)
check_eq "a truncated SBOM exits 1" 1 $?
check "naming its place" grep -q "bad.json:2:1 (offset 39)" <<<"$out"

# On a terminal: a progress bar on stderr.
script -qec "$BIN/eima bless --dry-run --sbom $work/sbom.json --root $root --key $work/key.pem --cert $work/cert.pem" /dev/null >"$work/tty.out"
check "a progress bar on a terminal" grep -q '\[=*\] 100%' "$work/tty.out"
finish
