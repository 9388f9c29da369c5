#!/usr/bin/env bash
# Bless throughput: `eima bless` (dry run: hash and compare; and for real: both signatures
# written) against `sha256sum` over the same files, in the same run, page cache warm.
# Prints a Markdown table.
#   bench/bless_bench.sh [BUILD_DIR]    (EIMA_BENCH_BLESS_TREE: the tree copied, default
#                                        /usr/lib/x86_64-linux-gnu)
# Root (security.ima). The copy goes to /var/tmp and is removed; the key is generated here.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
SRC=${EIMA_BENCH_BLESS_TREE:-/usr/lib/x86_64-linux-gnu}
T=$(mktemp -d /var/tmp/eima-blessbench.XXXXXX)
trap 'rm -rf "$T"' EXIT
cp -a "$SRC" "$T/root"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=eima-bench \
	-keyout "$T/key.pem" -out "$T/cert.pem" 2>/dev/null
(cd "$T/root" && find . -type f -print0 | xargs -0 sha256sum) >"$T/sums"
python3 - "$T/sums" "$T/sbom.json" <<'PY'
import json, sys
files = []
for line in open(sys.argv[1], encoding="utf-8", errors="surrogateescape"):
    digest, path = line.rstrip("\n").split("  ", 1)
    files.append({"fileName": path, "checksums": [{"algorithm": "SHA256", "checksumValue": digest}]})
json.dump({"spdxVersion": "SPDX-2.3", "name": "bench", "files": files}, open(sys.argv[2], "w"))
PY
files=$(wc -l <"$T/sums")
mb=$(du -sm --apparent-size "$T/root" | cut -f1)
find "$T/root" -type f -print0 | xargs -0 cat >/dev/null # warm the page cache for all

seconds() { local a b; a=$(date +%s.%N); "$@" >/dev/null; b=$(date +%s.%N); echo "$b - $a" | bc; }
bless() { "$build/bin/eima" bless --sbom "$T/sbom.json" --root "$T/root" --key "$T/key.pem" --cert "$T/cert.pem" "$@"; }
s_sum=$(seconds sh -c "cd '$T/root' && find . -type f -print0 | xargs -0 sha256sum")
s_dry=$(seconds bless --dry-run)
s_bless=$(seconds bless)
echo "$files files, $mb MB (from $SRC)"
echo
echo "| command | seconds | MB/s | files/s |"
echo "|---|---:|---:|---:|"
row() { printf '| %s | %.2f | %.0f | %.0f |\n' "$1" "$2" "$(echo "$mb / $2" | bc -l)" "$(echo "$files / $2" | bc -l)"; }
row "sha256sum (find, xargs)" "$s_sum"
row "eima bless --dry-run" "$s_dry"
row "eima bless (security.ima + user.eima)" "$s_bless"
