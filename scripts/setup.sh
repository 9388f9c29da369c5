#!/usr/bin/env bash
# Installs every Debian package eima builds, tests and demos with, and fetches the
# guest kernel the test VM boots. Idempotent: a second run is fast.
set -euo pipefail

packages=(
	# build
	cmake make g++ clang clang-19 llvm-19 libbpf-dev bpftool libelf-dev zlib1g-dev
	libssl-dev libtss2-dev nlohmann-json3-dev libcli11-dev libfmt-dev libspdlog-dev
	libgtest-dev libgmock-dev libbenchmark-dev pkg-config
	# TPM, IMA tooling used by tests and the demo
	swtpm swtpm-tools tpm2-tools ima-evm-utils keyutils openssl xxd attr
	# containers and the test VM
	busybox-static runc qemu-system-x86 qemu-utils cpio kmod util-linux iproute2 zstd
	# benchmarks
	hyperfine
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
	echo "setup: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The guest kernel: Debian's newest 6.12 cloud flavour (BPF LSM, IMA, TPM TIS/CRB built in).
# Kept beside it: its config (to check what is built in) and its modules under
# $cache/lib/modules/VER with depmod's indexes, which the test VM loads with `modprobe -d
# $cache` (overlayfs, veth, loop, vsock are modules in this flavour).
here=$(cd "$(dirname "$0")/.." && pwd)
cache=${EIMA_VM_CACHE:-/var/cache/eima-vm}
mkdir -p "$cache"
have=$(ls "$cache"/vmlinuz-6.12* 2>/dev/null | sort -V | tail -n1 || true)
ver=${have##*/vmlinuz-}
if [[ -z "$have" || ! -f "$cache/config-$ver" || ! -f "$cache/lib/modules/$ver/modules.dep" ]]; then
	[[ -n "$(apt-cache search --names-only '^linux-image-6\.12\..*-cloud-amd64$' 2>/dev/null)" ]] ||
		apt-get update -qq
	pkgs=$(apt-cache search --names-only '^linux-image-6\.12\..*-cloud-amd64$' |
		awk '{print $1}' | grep -v -- '-dbg$' | grep -v unsigned | sort -V)
	# Complete the kernel already cached if the archive still has it, else take the newest.
	pkg=$(grep -Fx "linux-image-$ver" <<<"$pkgs" || tail -n1 <<<"$pkgs")
	[[ -n "$pkg" ]] || { echo "setup: no linux-image-6.12.*-cloud-amd64 in the archive" >&2; exit 1; }
	echo "setup: fetching guest kernel $pkg"
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	(cd "$tmp" && apt-get download -qq "$pkg" && dpkg -x ./*.deb root)
	ver=${pkg#linux-image-}
	cp "$tmp/root/boot/vmlinuz-$ver" "$tmp/root/boot/config-$ver" "$cache"/
	mods=$tmp/root/lib/modules/$ver
	[[ -d "$mods" ]] || mods=$tmp/root/usr/lib/modules/$ver
	mkdir -p "$cache/lib/modules"
	rm -rf "$cache/lib/modules/$ver"
	cp -a "$mods" "$cache/lib/modules/$ver"
	depmod -b "$cache" "$ver"
	rm -rf "$tmp"
fi
ls "$cache"/vmlinuz-6.12* | sort -V | tail -n1 > "$cache/current"
echo "setup: ok (guest kernel $(cat "$cache/current"))"
: "$here"
