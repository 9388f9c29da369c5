#!/usr/bin/env bash
# man.sh BIN_DIR OUT_DIR [EIMAD]: eima(1) and eimad(8) from the programs' own --help
# (help2man), eima's with every subcommand's help in it, so a man page never says other
# than --help. EIMAD: the eimad the package ships (default BIN_DIR/eimad).
set -euo pipefail
bin=$1 out=$2 eimad=${3:-$1/eimad}
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# subcommands PATH...: the subcommands listed in `eima PATH... --help`.
subcommands() {
	"$bin/eima" "$@" --help | sed -n '/^Subcommands:/,/^$/{/^  [a-z]/s/^  \([^ ]*\).*/\1/p}'
}
# describe PATH...: one section of the include file per subcommand, depth first.
describe() {
	local sub
	for sub in $(subcommands "$@"); do
		printf '.SS "eima %s"\n.nf\n' "$* $sub" | sed 's/"eima  /"eima /'
		"$bin/eima" "$@" "$sub" --help | sed -e '/^Usage:/d' -e 's/\\/\\e/g' -e 's/^\./\\\&./'
		printf '.fi\n'
		describe "$@" "$sub"
	done
}
{
	printf '[SUBCOMMANDS]\n'
	describe
	printf '[FILES]\n.TP\n/run/eima\nlists, final evidence of exited containers and eimad.sock (the default --run-dir)\n'
	printf '[SEE ALSO]\n.BR eimad (8),\n.BR evmctl (1),\n.BR tpm2_checkquote (1)\n'
} >"$tmp/eima.h2m"
{
	printf '[FILES]\n.TP\n/etc/eima/eimad.conf\noptions read by eimad.service (--config)\n'
	printf '.TP\n/run/eima\nlists, the control socket and the embedded swtpm state\n'
	printf '.TP\n/sys/fs/bpf/eima\nprograms and ring buffer pinned across a restart\n'
	printf '[SEE ALSO]\n.BR eima (1),\n.BR systemd.service (5)\n'
} >"$tmp/eimad.h2m"

help2man --no-info --no-discard-stderr --section 1 --include "$tmp/eima.h2m" \
	--name 'measure, attest and verify containers with eBPF IMA' "$bin/eima" >"$out/eima.1"
help2man --no-info --no-discard-stderr --section 8 --include "$tmp/eimad.h2m" \
	--name 'the eima measuring agent' "$eimad" >"$out/eimad.8"
