#!/usr/bin/env bash
# Templates other than ima-ng: ima-sig carries the file's security.ima, ima is the legacy
# SHA-1 template; evmctl accepts both lists against the TPM.
#   templates_test.sh BIN_DIR trace|lsm
BIN=$1
MODE=$2
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
[[ $(id -u) -eq 0 ]] || skip_test "needs root"
command -v evmctl >/dev/null || skip_test "evmctl is not installed"
T=$(mktemp -d "${EIMA_TEST_TMPDIR:-/tmp}/eima-tmpl.XXXXXX")
cleanup() { stop_eimad >/dev/null 2>&1; rm -rf "$T"; }
trap cleanup EXIT
cp -L /usr/bin/true "$T/signed"; printf 's%s' "$RANDOM" >> "$T/signed"
# An IMA hash xattr (type 0x04 IMA_XATTR_DIGEST_NG, algo 4 = sha256) as evmctl writes it.
evmctl ima_hash -a sha256 "$T/signed" >/dev/null 2>&1 ||
	setfattr -n security.ima -v "0x0404$(sha256_of "$T/signed")" "$T/signed"
xattr=$(getfattr -e hex -n security.ima "$T/signed" 2>/dev/null |
	awk -F= '/^security.ima=/ { sub(/^0x/, "", $2); print $2 }')
[[ -n $xattr ]] || { failed "the test file has security.ima"; finish; exit; }

for tmpl in ima-sig ima; do
	echo "== --template $tmpl"
	RUN=$T/run-$tmpl
	start_eimad "$RUN" "$T/eimad-$tmpl.log" --mode "$MODE" --tpm swtpm --template "$tmpl" ||
		{ failed "eimad starts with $tmpl"; continue; }
	"$T/signed"
	settle "$RUN"
	line=$(grep " $T/signed" "$RUN/host/ascii_runtime_measurements")
	if [[ $tmpl == ima-sig ]]; then
		check_eq "ima-sig entry carries security.ima" \
			"ima-sig sha256:$(sha256_of "$T/signed") $T/signed $xattr" "$(cut -d' ' -f3- <<<"$line")"
	else
		check_eq "ima entry has the SHA-1 digest" \
			"ima $(sha1sum "$T/signed" | cut -d' ' -f1) $T/signed" "$(cut -d' ' -f3- <<<"$line")"
	fi
	snapshot "$RUN" "$T/snap"
	evmctl ima_measurement --ignore-violations --pcrs sha1,"$T/snap/pcrs.sha1" \
		--pcrs sha256,"$T/snap/pcrs.sha256" "$T/snap/binary_runtime_measurements" > "$T/evmctl.out" 2>&1
	check_eq "evmctl accepts the $tmpl list" 0 $?
	check "$tmpl list replays to the TPM at its last entry" \
		"$BIN/eima" log verify "$T/snap/binary_runtime_measurements" --pcrs sha1,"$T/snap/pcrs.sha1" --pcrs sha256,"$T/snap/pcrs.sha256"
	stop_eimad
done
finish
