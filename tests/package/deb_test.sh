#!/usr/bin/env bash
# The Debian package in a clean root: build it (CPack), install it with dpkg into a
# minimal bookworm root made by mmdebstrap (its dependencies come from the archive, so a
# missing Depends shows), run both programs, check that systemd-analyze accepts the unit
# and that bash completes subcommands, then purge and check nothing is left but what the
# package keeps on purpose (nothing in the root: lists live in /run/eima, which purge keeps).
#   deb_test.sh BUILD_DIR
set -euo pipefail
build=$1
cache=${EIMA_VM_CACHE:-/var/cache/eima-vm}
work=$(mktemp -d /tmp/eima-deb-test.XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM
fail() { echo "FAIL: $*" >&2; exit 1; }

(cd "$build" && cpack -G DEB -B "$work/out" >"$work/cpack.log" 2>&1) ||
	{ cat "$work/cpack.log"; fail "cpack"; }
deb=$(ls "$work"/out/eima_*_amd64.deb)
version=$(dpkg-deb -f "$deb" Version)
echo "package: $(basename "$deb"), $(stat -c %s "$deb") bytes"
[[ $(dpkg-deb -f "$deb" Package) == eima ]] || fail "package name"

# The clean root: the apt variant of bookworm plus the package's Depends (so dpkg -i needs
# no network), and systemd and man-db, which a host running eimad.service has (the unit's
# check runs the root's own systemd-analyze, which looks its man pages up); cached by
# that list: a new dependency makes a new root.
depends=$(dpkg-deb -f "$deb" Depends | sed 's/([^)]*)//g; s/ //g')
key=$(printf '%s' "bookworm apt $depends,systemd,man-db" | sha256sum | cut -c1-16)
base=$cache/deb-test-root-$key.tar
if [[ ! -s $base ]]; then
	mkdir -p "$cache"
	echo "making the clean root (mmdebstrap, once per dependency list)"
	mmdebstrap --quiet --variant=apt --include="$depends,systemd,man-db" bookworm \
		"$base.tmp.tar" || fail "mmdebstrap"
	mv "$base.tmp.tar" "$base"
fi
root=$work/root
mkdir "$root"
tar -C "$root" -xf "$base"
# What a purge may leave changed: dpkg's and apt's own records and logs, and what this
# test's own tools create (man-db's index, systemd-analyze's /run/systemd).
snapshot() {
	(cd "$root" && find . -xdev \( -path ./var/lib/dpkg -o -path ./var/log -o -path ./tmp \
		-o -path ./var/cache/debconf -o -path ./var/cache/man -o -path ./run/systemd \) \
		-prune -o -print | sort)
}
snapshot >"$work/before"

cp "$deb" "$root/tmp/"
chroot "$root" dpkg -i "/tmp/$(basename "$deb")" >"$work/install.log" 2>&1 ||
	{ cat "$work/install.log"; fail "dpkg -i in a clean root"; }
[[ $(chroot "$root" eima --version) == "eima $version" ]] || fail "eima --version"
[[ $(chroot "$root" eimad --version) == "eimad $version" ]] || fail "eimad --version"
# The test-only self-protection bypass never ships (docs/self-protection.md).
# The help is read whole before grep sees it: "eimad --help | grep -q" under pipefail
# fails whenever grep's early exit makes eimad's next write die of SIGPIPE.
help=$(chroot "$root" eimad --help) || fail "eimad --help"
grep -q -- --protect <<<"$help" || fail "eimad --help lists --protect"
! grep -q -- --protect-test-kill-cgroup <<<"$help" ||
	fail "the packaged eimad has the test-only bypass"
! zcat "$root"/usr/share/man/man8/eimad.8.gz | grep -q 'protect-test-kill-cgroup' ||
	fail "eimad(8) documents the test-only bypass"
echo "no test bypass in the package: ok"
grep -q -- '--config' <<<"$help" || fail "eimad --help lists --config"
for f in /usr/share/man/man1/eima.1.gz /usr/share/man/man8/eimad.8.gz \
	/usr/lib/eima/bpf/measure_lsm.bpf.o /etc/eima/eimad.conf /lib/systemd/system/eimad.service; do
	[[ -s $root$f ]] || fail "$f not installed"
done
grep -q 'eima policy from-sbom' <<<"$(zcat "$root/usr/share/man/man1/eima.1.gz")" ||
	fail "the man page lacks the subcommands' help"
# The shipped configuration is one eimad accepts: every key is an option (eimad refuses
# unknown keys), checked by parsing it with --help after it.
chroot "$root" eimad --config /etc/eima/eimad.conf --help >/dev/null ||
	fail "eimad refuses the shipped /etc/eima/eimad.conf"
# Enabled for multi-user.target (deb-systemd-helper works without a running systemd).
[[ -L $root/etc/systemd/system/multi-user.target.wants/eimad.service ]] ||
	fail "eimad.service not enabled"
# systemd's own check of the unit, against the installed files and man pages.
chroot "$root" systemd-analyze verify /lib/systemd/system/eimad.service >"$work/verify.log" 2>&1 ||
	{ cat "$work/verify.log"; fail "systemd-analyze verify"; }
if [[ -s $work/verify.log ]]; then
	cat "$work/verify.log"
	fail "systemd-analyze verify warned"
fi
echo "systemd-analyze verify: clean"
# Completion from --help: subcommands of eima, then of eima policy, then options.
complete_words() {
	chroot "$root" bash -c '. /usr/share/bash-completion/completions/eima
		COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _eima_complete
		printf "%s\n" "${COMPREPLY[@]}"' - "$@"
}
[[ $(complete_words eima sta) == status ]] || fail "completion of 'eima sta'"
complete_words eima st | grep -qx stop || fail "completion of 'eima st' (status, stop)"
complete_words eima policy '' | grep -qx from-sbom || fail "completion of 'eima policy'"
complete_words eimad --fr | grep -qx -- --fresh || fail "completion of 'eimad --fr'"
echo "completion: ok"

chroot "$root" dpkg --purge eima >"$work/purge.log" 2>&1 || { cat "$work/purge.log"; fail "purge"; }
snapshot >"$work/after"
if ! diff -u "$work/before" "$work/after"; then
	fail "purge left files behind (above)"
fi
echo "install, run, verify, purge: ok"
