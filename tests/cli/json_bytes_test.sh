#!/usr/bin/env bash
# Bytes that are not UTF-8 in every JSON eima writes (docs/json-bytes.md): a path with 0xFF
# in a list, a policy token, an algorithm name and a Keylime exclude path. Each command
# exits as it should (never abort), writes JSON that Python reads back to the same bytes
# (os.fsencode of json.loads), and a policy made from such a list still matches it.
#   tests/cli/json_bytes_test.sh BIN_DIR
BIN=$1
source "$(dirname "$0")/../e2e/lib.sh"
command -v python3 >/dev/null || skip_test "no python3"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

# A binary and an ascii ima-ng list, template hashes right, with one path holding 0xFF and
# one an invalid UTF-8 sequence (overlong '/'), written by Python only.
python3 - "$T" <<'PY'
import hashlib, struct, sys
t = sys.argv[1]
def field(b): return struct.pack('<I', len(b)) + b
bins, lines = b'', b''
for path, content in ((b'/bin/ok', b'a'), (b'/bin/\xff', b'b'), (b'/x/\xc0\xaf-\\udcff', b'c')):
    digest = hashlib.sha256(content).digest()
    data = field(b'sha256:\0' + digest) + field(path + b'\0')
    th = hashlib.sha1(data).digest()
    bins += struct.pack('<I', 10) + th + field(b'ima-ng') + field(data)
    lines += b'10 %s ima-ng sha256:%s %s\n' % (th.hex().encode(), digest.hex().encode(), path)
open(t + '/list.bin', 'wb').write(bins)
open(t + '/list.ascii', 'wb').write(lines)
PY
mkdir -p "$T/run/host"
cp "$T/list.bin" "$T/run/host/binary_runtime_measurements"

# py FILE EXPR: EXPR over d = json.load(FILE); b(s) = os.fsencode(s); texts = every string
# in d (keys too) as bytes.
py() {
	python3 -c "
import json, os, sys
d = json.load(open(sys.argv[1]))
b = os.fsencode
def walk(x):
    if isinstance(x, str): yield b(x)
    elif isinstance(x, list): yield from (s for v in x for s in walk(v))
    elif isinstance(x, dict): yield from (s for k, v in x.items() for s in [b(k), *walk(v)])
texts = list(walk(d))
print(eval(sys.argv[2]))" "$@"
}

"$BIN/eima" log show --run-dir "$T/run" --json >"$T/show.json"
check_eq "log show --json exits 0" 0 $?
check_eq "log show --json: the 0xFF path reads back as its bytes" True \
	"$(py "$T/show.json" "[b(e['path']) for e in d] == [b'/bin/ok', b'/bin/\xff', b'/x/\xc0\xaf-\\\\udcff']")"
check "log show --json writes the byte as \\udcff" grep -qF '"/bin/\udcff"' "$T/show.json"
check "log show --json keeps a backslash-u text as text" grep -qF '\udcc0\udcaf-\\udcff' "$T/show.json"

for list in list.bin list.ascii; do
	"$BIN/eima" policy from-log "$T/$list" -o "$T/p.json"
	check_eq "policy from-log $list exits 0" 0 $?
	check_eq "policy from-log $list: the paths are the list's bytes" True \
		"$(py "$T/p.json" "sorted(b(k) for k in d['digests']) == sorted([b'/bin/ok', b'/bin/\xff', b'/x/\xc0\xaf-\\\\udcff'])")"
	for other in list.bin list.ascii; do
		"$BIN/eima" log verify "$T/$other" --policy "$T/p.json" --json >"$T/v.json"
		check_eq "a policy from $list allows $other" 0 $?
		check_eq "  ... and the report says ok" True "$(py "$T/v.json" "d['ok']")"
	done
done
# The same policy with the 0xFF path's digest changed: that entry, named by its bytes.
python3 - "$T/p.json" "$T/p-bad.json" <<'PY'
import json, os, sys
d = json.load(open(sys.argv[1]))
d['digests'][os.fsdecode(b'/bin/\xff')] = ['00' * 32]
json.dump(d, open(sys.argv[2], 'w'))
PY
"$BIN/eima" log verify "$T/list.bin" --policy "$T/p-bad.json" --json >"$T/v.json"
check_eq "a policy written by Python with a wrong digest for the 0xFF path fails" 1 $?
check "  ... naming the path" grep -qF '/bin/\udcff' "$T/v.json"

# policy check --json with a token holding 0xFF: an error in JSON, not an abort.
printf 'measure func=BPRM_CHECK\nmeasure fowner\xff=0\n' >"$T/ima-policy"
"$BIN/eima" policy check "$T/ima-policy" --json >"$T/c.json"
check_eq "policy check --json on a 0xFF token exits 1" 1 $?
check_eq "  ... with an error naming the token's bytes" True \
	"$(py "$T/c.json" "any(b'fowner\xff' in t for t in texts)")"

# log verify --json with a 0xFF algorithm name: an error in JSON, not an abort.
printf '10 %040d ima-ng sha\xff:00 /bin/x\n' 0 >"$T/bad-algo.ascii"
"$BIN/eima" log verify "$T/bad-algo.ascii" --json >"$T/a.json" 2>"$T/a.err"
rc=$?
check "log verify --json on a 0xFF algorithm name fails without aborting (exit $rc)" test "$rc" = 1
check_eq "  ... and writes JSON naming the algorithm's bytes" True \
	"$(py "$T/a.json" "any(b'sha\xff' in t for t in texts)")"

# import-keylime: an exclude list with a 0xFF regex, a Keylime JSON policy written by Python.
printf '/tmp/\xff.*\n' >"$T/excludes.txt"
"$BIN/eima" policy import-keylime "$T/excludes.txt" -o "$T/ex.json"
check_eq "import-keylime of an exclude list with 0xFF exits 0" 0 $?
check_eq "  ... and keeps the regex's bytes" True "$(py "$T/ex.json" "[b(x) for x in d['excludes']['regex']] == [b'/tmp/\xff.*']")"
python3 - "$T/k.json" <<'PY'
import json, os, sys
json.dump({'meta': {'version': 1}, 'release': 0,
           'digests': {os.fsdecode(b'/bin/\xff'): [__import__('hashlib').sha256(b'b').hexdigest()]},
           'excludes': [os.fsdecode(b'/tmp/\xfe')], 'keyrings': {}, 'ima': {'ignored_keyrings': [],
           'log_hash_alg': 'sha1', 'dm_policy': None}, 'ima-buf': {}, 'verification-keys': ''},
          open(sys.argv[1], 'w'))
PY
"$BIN/eima" policy import-keylime "$T/k.json" -o "$T/kp.json"
check_eq "import-keylime of a Keylime policy Python wrote with surrogates exits 0" 0 $?
check_eq "  ... and has the bytes" True \
	"$(py "$T/kp.json" "[b(k) for k in d['digests']] == [b'/bin/\xff'] and [b(x) for x in d['excludes']['regex']] == [b'/tmp/\xfe']")"
"$BIN/eima" policy export-keylime "$T/kp.json" -o "$T/k2.json"
check_eq "export-keylime of it exits 0" 0 $?
check_eq "  ... and Keylime (Python) reads the same bytes back" True \
	"$(py "$T/k2.json" "[b(k) for k in d['digests']] == [b'/bin/\xff'] and [b(x) for x in d['excludes']] == [b'/tmp/\xfe']")"
finish
