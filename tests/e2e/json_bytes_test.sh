#!/usr/bin/env bash
# A container executes a file whose name holds 0xFF (Linux names are bytes): eima's JSON
# (log show, ps, status, from-log policies) carries the byte as \udcff (docs/json-bytes.md)
# and never aborts, and a policy made from the container's list still allows that list.
#   json_bytes_test.sh BIN_DIR trace|lsm
BIN=$1
MODE=$2
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
[[ $(id -u) -eq 0 ]] || skip_test "needs root (namespaces, BPF)"
command -v python3 >/dev/null || skip_test "no python3"
T=$(mktemp -d "${EIMA_TEST_TMPDIR:-/tmp}/eima-json-bytes.XXXXXX")
RUN=$T/run
cleanup() { stop_eimad >/dev/null 2>&1; rm -rf "$T"; }
trap cleanup EXIT
make_rootfs "$T/rootfs"
name=$(printf 'run\xff-me')
cp -L /usr/bin/true "$T/rootfs/bin/$name"
printf 'p%s' "$RANDOM" >>"$T/rootfs/bin/$name"
digest=$(sha256_of "$T/rootfs/bin/$name")

# has_entry FILE PATH_BYTES_PYTHON_LITERAL: a log show --json entry with that path and digest.
has_entry() {
	python3 -c "
import json, os, sys
d = json.load(open(sys.argv[1]))
want = eval(sys.argv[2])
sys.exit(0 if any(os.fsencode(e.get('path', '')) == want and e.get('digest') == 'sha256:' + sys.argv[3] for e in d) else 1)" "$1" "$2" "$digest"
}

start_eimad "$RUN" "$T/eimad.log" --mode "$MODE" --tpm none ||
	{ failed "eimad starts"; finish; exit; }
"$BIN/eima-test-container" "$T/rootfs" -- "/bin/$name"
check_eq "the container ran the 0xFF file" 0 $?
settle "$RUN"
"$BIN/eima" ps --run-dir "$RUN" --json >"$T/ps.json"
check_eq "eima ps --json exits 0" 0 $?
cid=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['containers'][0]['id'])" "$T/ps.json")
check "the container is known" test -n "$cid"
list=$RUN/containers/$cid/binary_runtime_measurements

"$BIN/eima" log show --run-dir "$RUN" --container "$cid" --json >"$T/show.json"
check_eq "log show --json of the container exits 0" 0 $?
check "  ... has the 0xFF path with its digest" has_entry "$T/show.json" "b'/bin/run\xff-me'"
check "  ... written as \\udcff" grep -qF '"/bin/run\udcff-me"' "$T/show.json"
"$BIN/eima" log show --run-dir "$RUN" --json >"$T/host.json"
check_eq "log show --json of the host list exits 0" 0 $?
check "  ... has <container>:<path> with the byte" has_entry "$T/host.json" "b'$cid:/bin/run\xff-me'"
check "the ascii list holds the raw byte, as the kernel writes it" \
	grep -qF " /bin/$name" "$RUN/containers/$cid/ascii_runtime_measurements"
"$BIN/eima" status --run-dir "$RUN" --json >/dev/null
check_eq "eima status --json exits 0" 0 $?

"$BIN/eima" policy from-log "$list" -o "$T/p.json"
check_eq "policy from-log on the container's list exits 0" 0 $?
"$BIN/eima" log verify "$list" --policy "$T/p.json" --json >"$T/v.json"
check_eq "the policy made from the list allows the list" 0 $?
"$BIN/eima" log verify "$RUN/containers/$cid/ascii_runtime_measurements" --policy "$T/p.json" >/dev/null
check_eq "  ... and the ascii list" 0 $?
python3 - "$T/p.json" "$T/p-bad.json" <<'PY'
import json, os, sys
d = json.load(open(sys.argv[1]))
d['digests'][os.fsdecode(b'/bin/run\xff-me')] = ['00' * 32]
json.dump(d, open(sys.argv[2], 'w'))
PY
"$BIN/eima" log verify "$list" --policy "$T/p-bad.json" --json >"$T/v.json"
check_eq "with the 0xFF file's digest changed the list is refused" 1 $?
check "  ... naming the path" grep -qF 'run\udcff-me' "$T/v.json"
stop_eimad
check_eq "eimad exits 0" 0 $?
finish
