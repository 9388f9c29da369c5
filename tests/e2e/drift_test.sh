#!/usr/bin/env bash
# `eima sbom drift` and `eima bless --from-log/--allowlist` against a list written by a real
# eimad run: a container runs files its SBOM lists, one it lists with another digest, one
# it does not list (with a 0xFF byte in its name); drift names each, and the packages none
# of whose files ran, in text, JSON and CycloneDX (which eima's own reader then reads).
# The corpus SBOMs are compared with the same list, their package counts checked against
# an independent count. bless blesses the tree from the container's list, and from a flat
# allowlist, with bless's statuses and exit codes.
#   drift_test.sh BIN_DIR trace|lsm
BIN=$1
MODE=${2:-trace}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
[[ $(id -u) -eq 0 ]] || skip_test "needs root (namespaces, BPF)"
command -v python3 >/dev/null || skip_test "no python3"
CORPUS=${EIMA_CORPUS_DIR:-$here/../../../shared/corpus}
T=$(mktemp -d "${EIMA_TEST_TMPDIR:-/tmp}/eima-drift.XXXXXX")
RUN=$T/run
cleanup() { stop_eimad >/dev/null 2>&1; rm -rf "$T"; }
trap cleanup EXIT
R=$T/rootfs
make_rootfs "$R"
cp -L /usr/bin/true "$R/bin/extra" && printf 'x' >>"$R/bin/extra"
odd=$(printf 'odd\xff')
cp -L /usr/bin/true "$R/bin/$odd" && printf 'y' >>"$R/bin/$odd"
mkdir -p "$R/usr/bin" && cp -L /usr/bin/env "$R/usr/bin/unused"

# SPDX JSON with packages linked by hasFiles and by a CONTAINS relationship; dyn-true is
# listed with a digest that is not its content's.
f() { printf '{"SPDXID": "SPDXRef-%s", "fileName": "%s", "checksums": [{"algorithm": "SHA256", "checksumValue": "%s"}]}' "$1" "$2" "$3"; }
{
	echo '{"spdxVersion": "SPDX-2.3", "SPDXID": "SPDXRef-DOCUMENT", "name": "drift-test",'
	echo ' "packages": ['
	echo '  {"SPDXID": "SPDXRef-busybox", "name": "busybox", "versionInfo": "1.36", "hasFiles": ["SPDXRef-bb"]},'
	echo '  {"SPDXID": "SPDXRef-coreutils", "name": "coreutils", "versionInfo": "9.1", "hasFiles": ["SPDXRef-true"]},'
	echo '  {"SPDXID": "SPDXRef-glibc", "name": "glibc", "versionInfo": "2.36"},'
	echo '  {"SPDXID": "SPDXRef-unused", "name": "unused-tools", "versionInfo": "1", "hasFiles": ["SPDXRef-unused-file", "SPDXRef-env"]},'
	echo '  {"SPDXID": "SPDXRef-docs", "name": "docs-without-files"}'
	echo ' ],'
	echo ' "files": ['
	echo "  $(f bb /bin/busybox "$(sha256_of "$R/bin/busybox")"),"
	echo "  $(f true /bin/dyn-true "$(sha256_of /bin/busybox)"),"
	echo "  $(f env /bin/dyn-env "$(sha256_of "$R/bin/dyn-env")"),"
	echo "  $(f ld /lib64/ld-linux-x86-64.so.2 "$(sha256_of "$R/lib64/ld-linux-x86-64.so.2")"),"
	echo "  $(f libc /lib/x86_64-linux-gnu/libc.so.6 "$(sha256_of "$R/lib/x86_64-linux-gnu/libc.so.6")"),"
	echo "  $(f unused-file /usr/bin/unused "$(sha256_of "$R/usr/bin/unused")")"
	echo ' ],'
	echo ' "relationships": ['
	echo '  {"spdxElementId": "SPDXRef-glibc", "relationshipType": "CONTAINS", "relatedSpdxElement": "SPDXRef-libc"},'
	echo '  {"spdxElementId": "SPDXRef-ld", "relationshipType": "CONTAINED_BY", "relatedSpdxElement": "SPDXRef-glibc"}'
	echo ' ]}'
} >"$T/sbom.json"

start_eimad "$RUN" "$T/eimad.log" --mode "$MODE" --tpm none --vtpm none ||
	{ failed "eimad starts"; finish; exit; }
"$BIN/eima-test-container" "$R" -- /bin/sh -c "/bin/dyn-true && /bin/extra && '/bin/$odd'"
check_eq "the container ran its programs" 0 $?
settle "$RUN"
"$BIN/eima" ps --run-dir "$RUN" --json >"$T/ps.json"
cid=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['containers'][0]['id'])" "$T/ps.json")
check "the container is known" test -n "$cid"
stop_eimad
list=$RUN/containers/$cid/binary_runtime_measurements

"$BIN/eima" sbom drift --sbom "$T/sbom.json" --container "$cid" --run-dir "$RUN" --json >"$T/drift.json"
check_eq "drift exits 2 when files drifted" 2 $?
check_eq "drift: each file and package as expected" ok "$(python3 - "$T/drift.json" <<'PY'
import json, os, sys
d = json.load(open(sys.argv[1]))
kinds = {os.fsencode(f["path"]): f["kind"] for f in d["files"]}
want = {b"/bin/dyn-true": "digest_differs", b"/bin/extra": "unlisted", b"/bin/odd\xff": "unlisted"}
not_run = sorted(p["name"] for p in d["packages_not_run"])
pk = d["packages"]
if kinds != want: print("files", kinds)
elif not_run != ["unused-tools"]: print("not run", not_run)
elif (pk["total"], pk["linked"], pk["ran"], pk["unlinked"]) != (5, 4, 3, 1): print("packages", pk)
elif d["matched"] < 3: print("matched", d["matched"])   # busybox, ld.so, libc
elif [f for f in d["files"] if f["kind"] == "digest_differs"][0]["sbom_digests"] == []: print("no sbom digest")
else: print("ok")
PY
)"
check "drift JSON writes the 0xFF byte as \\udcff" grep -qF '"/bin/odd\udcff"' "$T/drift.json"

"$BIN/eima" sbom drift --sbom "$T/sbom.json" --log "$RUN/containers/$cid/ascii_runtime_measurements" --json >"$T/drift-ascii.json"
check_eq "drift of the ascii list exits 2" 2 $?
check_eq "  ... and says the same as of the binary list" \
	"$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d.pop("list"); print(json.dumps(d, sort_keys=True))' "$T/drift.json")" \
	"$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d.pop("list"); print(json.dumps(d, sort_keys=True))' "$T/drift-ascii.json")"
"$BIN/eima" sbom drift --sbom "$T/sbom.json" --log "$list" >"$T/drift.txt"
check "drift text names the unused package" grep -q "^not_run *package unused-tools 1" "$T/drift.txt"
check "drift text names the digest that differs" grep -q "^digest_differs */bin/dyn-true" "$T/drift.txt"

"$BIN/eima" sbom drift --sbom "$T/sbom.json" --log "$list" --cyclonedx >"$T/drift.cdx.json"
check_eq "drift --cyclonedx exits 2" 2 $?
# eima's SBOM reader takes no \udcXX escapes (nlohmann's lexer refuses lone surrogates), so
# Python reads it, as docs/json-bytes.md intends.
check_eq "drift --cyclonedx: 3 drifted files with SHA-256 and one package not run" \
	"CycloneDX 1.5 file:SHA-256:digest_differs file:SHA-256:unlisted file:SHA-256:unlisted library:-:not-run" \
	"$(python3 -c '
import json,sys; d=json.load(open(sys.argv[1]))
print(d["bomFormat"], d["specVersion"], *sorted(c["type"] + ":" + (c["hashes"][0]["alg"] if "hashes" in c else "-") + ":" + [p["value"] for p in c["properties"] if p["name"] == "eima:drift"][0] for c in d["components"]))' "$T/drift.cdx.json")"

"$BIN/eima" sbom drift --sbom "$T/sbom.json" >/dev/null 2>"$T/err"
check_eq "drift without --container or --log is an error" 1 $?
printf '{"spdxVersion": "SPDX-2.3", "files": [' >"$T/trunc.json"
"$BIN/eima" sbom drift --sbom "$T/trunc.json" --log "$list" 2>"$T/err" >/dev/null
check_eq "drift of a truncated SBOM exits 1" 1 $?
check "  ... naming the offset" grep -q "offset" "$T/err"

# Corpus SBOMs against the same list; counts from an independent reading of the JSON and
# of the ascii list (a package ran when one of its files' paths is in the list).
ascii=$RUN/containers/$cid/ascii_runtime_measurements
for sb in "$CORPUS"/spdx/*.json "$CORPUS"/cyclonedx/*.json; do
	[[ -f "$sb" ]] || continue
	want=$(python3 - "$sb" "$ascii" <<'PY'
import json, os, sys
d = json.load(open(sys.argv[1]))
norm = lambda p: "/".join(c for c in p.split("/") if c not in ("", "."))
ran = {norm(l.split(" ", 4)[4].rstrip("\n")) for l in open(sys.argv[2], errors="surrogateescape")}
path_of = {f["SPDXID"]: norm(f.get("fileName", "")) for f in d.get("files", []) if "SPDXID" in f}
if "spdxVersion" in d:
    files = {f["SPDXID"] for f in d.get("files", []) if "SPDXID" in f}
    link = {}
    for p in d.get("packages", []):
        link.setdefault(p.get("SPDXID", p.get("name")), set()).update(x for x in p.get("hasFiles", []) if x in files)
    for r in d.get("relationships", []):
        if r["relationshipType"] == "CONTAINS" and r["relatedSpdxElement"] in files:
            link.setdefault(r["spdxElementId"], set()).add(r["relatedSpdxElement"])
        if r["relationshipType"] == "CONTAINED_BY" and r["spdxElementId"] in files:
            link.setdefault(r["relatedSpdxElement"], set()).add(r["spdxElementId"])
    ids = [p.get("SPDXID", p.get("name")) for p in d.get("packages", [])]
    total, linked = len(ids), sum(1 for i in ids if link.get(i))
    did = sum(1 for i in ids if any(path_of[f] in ran for f in link.get(i, ())))
    print(total, linked, did, linked - did)
    sys.exit()
else:
    def walk(cs):
        for c in cs:
            yield c, any(x.get("type") == "file" for x in c.get("components", []))
            yield from walk(c.get("components", []))
    comps = [(c, l) for c, l in walk(d.get("components", [])) if c.get("type") != "file"]
    total, linked = len(comps), sum(1 for _, l in comps if l)
print(total, linked, 0, linked)
PY
)
	got=$("$BIN/eima" sbom drift --sbom "$sb" --log "$list" --json |
		python3 -c 'import json,sys; p=json.load(sys.stdin)["packages"]; print(p["total"], p["linked"], p["ran"], p["not_run"])')
	check_eq "corpus $(basename "$sb"): packages total, linked, ran, not run" "$want" "$got"
done

# bless from the known-good list: every file that ran is blessed; the file changed since
# is mismatched (exit 2); a flat allowlist blesses the same way.
cp -a "$R" "$T/tree"
"$BIN/eima" bless --from-log "$list" --root "$T/tree" --key "$T/key.pem" --cert "$T/cert.pem" --json >/dev/null 2>&1
check_eq "bless --from-log without a key exits 1" 1 $?
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=eima-drift-test \
	-keyout "$T/key.pem" -out "$T/cert.pem" 2>/dev/null
bless() { "$BIN/eima" bless --root "$T/tree" --key "$T/key.pem" --cert "$T/cert.pem" --json "$@"; }
counts() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); c=r["counts"]; print(c["blessed"], c["mismatched"], c["missing"], c["unlisted"])' "$1"; }
bless --from-log "$list" >"$T/from-log.json"
check_eq "bless --from-log exits 0" 0 $?
# busybox (sh, extra's base), dyn-true, ld.so, libc, extra, odd: blessed; dyn-env and
# usr/bin/unused are ELF files that did not run: unlisted.
check_eq "bless --from-log: blessed, mismatched, missing, unlisted" "6 0 0 2" "$(counts "$T/from-log.json")"
has_blessing() { getfattr --only-values -n user.eima "$1" >/dev/null 2>&1; }
check "  ... the blessing is on the file" has_blessing "$T/tree/bin/$odd"
check "  ... the report names the source" grep -q '"log"' "$T/from-log.json"
printf 'z' >>"$T/tree/bin/extra"
bless --from-log "$list" --dry-run >"$T/from-log2.json"
check_eq "bless --from-log of a changed file exits 2" 2 $?
check_eq "  ... it is mismatched" "5 1 0 2" "$(counts "$T/from-log2.json")"
(cd "$R" && sha256sum bin/busybox usr/bin/unused | sed 's|  |  /|') >"$T/allowlist.txt"
bless --allowlist "$T/allowlist.txt" --dry-run >"$T/allow.json"
check_eq "bless --allowlist (flat) exits 0" 0 $?
check_eq "  ... blesses its two files" "2 0 0 6" "$(counts "$T/allow.json")"
"$BIN/eima" policy from-log "$list" -o "$T/policy.json" 2>/dev/null
bless --allowlist "$T/policy.json" --dry-run >"$T/allow2.json"
check_eq "bless --allowlist (an eima runtime policy) exits 2 (extra changed)" 2 $?
check_eq "  ... same as --from-log" "5 1 0 2" "$(counts "$T/allow2.json")"
"$BIN/eima" bless --sbom "$T/sbom.json" --from-log "$list" --root "$T/tree" --key "$T/key.pem" --cert "$T/cert.pem" >/dev/null 2>"$T/err"
check "bless with both --sbom and --from-log is refused" grep -q "excludes" "$T/err"
"$BIN/eima" bless --root "$T/tree" --key "$T/key.pem" --cert "$T/cert.pem" >/dev/null 2>"$T/err"
check_eq "bless with no source exits 1" 1 $?
finish
