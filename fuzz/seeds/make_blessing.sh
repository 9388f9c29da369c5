#!/usr/bin/env bash
# Writes the seeds of the blessing target (fuzz/seeds/blessing/) and the public certificate
# it verifies them with (fuzz/seeds/blessing-cert.pem). The keys are made here, in a
# temporary directory, and deleted on exit: only the certificate and the signed values are
# kept, so nobody (this script included) can sign a new valid seed for that certificate
# after it ran. Run again, it makes a new certificate and new seeds together.
#   bash fuzz/seeds/make_blessing.sh
#
# A seed is one mode byte, then the xattr value (fuzz/blessing_fuzz.cpp): the mode's low
# bits pick the hash algorithm (eima's order: sha1 sha256 sha384 sha512 sm3_256), bit 3
# says the file's digest is the one in the value (else it is the target's fixed digest,
# the algorithm's digest of "eima fuzz"). The signature is made as `eima bless` makes it:
# detached DER PKCS#7, SHA-256, no signed attributes, no certificates, signer named by
# subject key identifier.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$here/blessing
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for k in a other; do
	openssl req -x509 -newkey rsa:2048 -nodes -days 36500 -subj "/CN=eima fuzz $k" \
		-addext subjectKeyIdentifier=hash -keyout "$tmp/$k.key" -out "$tmp/$k.pem" \
		2>/dev/null
done
cp "$tmp/a.pem" "$here/blessing-cert.pem"
rm -rf "$out"
mkdir -p "$out"

# header ALGO_ID DIGEST_SIZE [MAGIC] [VERSION] [FLAGS]: the 8-byte eima_blessing_hdr.
header() {
	printf '%s' "${3:-EIMA}"
	printf "\\x$(printf %02x "${4:-1}")\\x$(printf %02x "$1")\\x$(printf %02x "$2")"
	printf "\\x$(printf %02x "${5:-0}")"
}
sign() { # sign KEY MESSAGE_FILE -> DER on stdout
	openssl cms -sign -binary -noattr -nocerts -nosmimecap -keyid -md sha256 \
		-signer "$tmp/$1.pem" -inkey "$tmp/$1.key" -in "$2" -outform DER
}
mode() { printf "\\x$(printf %02x "$1")"; }

# name:index:kernel id:openssl digest
for a in sha1:0:2:sha1 sha256:1:4:sha256 sha384:2:5:sha384 sha512:3:6:sha512 \
	sm3_256:4:17:sm3; do
	IFS=: read -r name idx id md <<<"$a"
	printf 'eima fuzz' | openssl dgst -"$md" -binary >"$tmp/d" 2>/dev/null || continue
	size=$(stat -c %s "$tmp/d")
	{ header "$id" "$size"; cat "$tmp/d"; } >"$tmp/msg"
	sign a "$tmp/msg" >"$tmp/sig"
	# Valid: against the fixed digest, and against the digest the value carries.
	{ mode "$idx"; cat "$tmp/msg" "$tmp/sig"; } >"$out/valid-$name"
	{ mode $((idx | 8)); cat "$tmp/msg" "$tmp/sig"; } >"$out/valid-$name-own-digest"
done

m=$tmp/msg-sha256
{ header 4 32; printf 'eima fuzz' | openssl dgst -sha256 -binary; } >"$m"
sign a "$m" >"$tmp/sig"
sign other "$m" >"$tmp/sig-other"
v() { { mode 1; cat; } >"$out/$1"; }
cat "$m" "$tmp/sig-other" | v invalid-other-signer
{ cat "$m"; head -c -1 "$tmp/sig"; } | v invalid-truncated-signature
{ cat "$m" "$tmp/sig"; } | python3 -c 'import sys; b=bytearray(sys.stdin.buffer.read()); b[-5]^=1; sys.stdout.buffer.write(b)' | v invalid-flipped-signature
{ header 4 32 EIMX; tail -c +9 "$m"; cat "$tmp/sig"; } | v invalid-magic
{ header 4 32 EIMA 2; tail -c +9 "$m"; cat "$tmp/sig"; } | v invalid-version
{ header 4 32 EIMA 1 1; tail -c +9 "$m"; cat "$tmp/sig"; } | v invalid-flags
{ header 6 64; tail -c +9 "$m"; cat "$tmp/sig"; } | v invalid-algorithm
head -c 5 "$m" | v invalid-short
cat "$m" | v invalid-no-signature
