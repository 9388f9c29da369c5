#!/usr/bin/env bash
# `eima policy from-sbom`: a runtime policy with exactly the real digests an SBOM declares.
# Judged for real: an SBOM written here from the first entries of a real IMA list (with one
# digest changed and one all-zero) gives a policy under which `eima log verify` passes those
# entries, fails the changed and the placeholder one, and finds the rest "not in policy".
# The Keylime form imports back to the same digests.
BIN=$1
CORPUS=$2
source "$(dirname "$0")/../e2e/lib.sh"
LOG=$CORPUS/ima-logs/keylime-perf-ubuntu-ima-ng-sha256.ascii_runtime_measurements
MS=$CORPUS/spdx/ms-sbom-tool-missionlz.spdx.json
[[ -f $LOG && -f $MS ]] || skip_test "no corpus at $CORPUS"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$BIN/eima" policy from-sbom "$MS" -o "$work/ms.json" 2>"$work/ms.err"
check_eq "from-sbom exits 0" 0 $?
check "it says what it took" grep -q ": 153 files: 153 paths with 306 digests" "$work/ms.err"
check_eq "each path has its SHA-256 and SHA-1, algorithm explicit" \
	'["sha256:37eec709bd606fa90861bc08d28d4117f11f752c3dd1c044fca2271e2f811828", "sha1:094f7a9121bbad7d52efb1d3f4b630ca15f32793"]' \
	"$(python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["digests"]["/.gitignore"]))' <"$work/ms.json")"
"$BIN/eima" policy from-sbom "$MS" --keylime -o "$work/ms-keylime.json" 2>/dev/null
"$BIN/eima" policy import-keylime "$work/ms-keylime.json" -o "$work/back.json" 2>/dev/null
# Keylime keeps bare hex (no algorithm): the same digests, compared as hex.
check_eq "the Keylime form imports back to the same digests" same "$(python3 - "$work/ms.json" "$work/back.json" <<'PY'
import json, sys
strip = lambda m: {p: sorted(d.split(":")[-1] for d in ds) for p, ds in m.items()}
a, b = (json.load(open(f))["digests"] for f in sys.argv[1:3])
print("same" if strip(a) == strip(b) and len(a) == 153 else "differ")
PY
)"

# Entries 1..5 of the list (0 is boot_aggregate): 1-3 as they are, 4 with a digest that is
# not its own, 5 with syft's all-zero placeholder.
python3 - "$LOG" "$work/sbom.json" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()[1:6]
files = []
for i, line in enumerate(lines):
    _, _, _, digest, path = line.split(" ", 4)
    hexd = digest.split(":", 1)[1]
    if i == 3:
        hexd = "ff" + hexd[2:]
    if i == 4:
        hexd = "0" * 64
    files.append({"fileName": path, "checksums": [{"algorithm": "SHA256", "checksumValue": hexd}]})
json.dump({"spdxVersion": "SPDX-2.3", "name": "from-log", "files": files}, open(sys.argv[2], "w"))
PY
"$BIN/eima" policy from-sbom "$work/sbom.json" -o "$work/policy.json" 2>"$work/err"
check "a placeholder allows nothing" grep -q ": 5 files: 4 paths with 4 digests; 1 files without a usable digest, 1 placeholders" "$work/err"
"$BIN/eima" log verify "$LOG" --policy "$work/policy.json" --json >"$work/verify.json"
check_eq "log verify fails under the SBOM's policy" 1 $?
python3 - "$work/verify.json" "$LOG" >"$work/judged" <<'PY'
import json, sys
failures = {f["entry"]: f["reason"] for f in json.load(open(sys.argv[1]))["policy_failures"]}
entries = len(open(sys.argv[2]).read().splitlines())
for i in range(1, 6):
    print(i, failures.get(i, "allowed"))
print("others not in policy:", all(failures.get(i) == "not in policy" for i in range(6, entries)))
PY
check_eq "entries 1-3 allowed, 4 a wrong digest, 5 (placeholder) not in policy, the rest not in policy" \
	"1 allowed
2 allowed
3 allowed
4 digest not allowed
5 not in policy
others not in policy: True" "$(cat "$work/judged")"
finish
