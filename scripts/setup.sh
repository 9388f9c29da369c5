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
	swtpm swtpm-tools tpm2-tools ima-evm-utils keyutils openssl xxd
	# containers and the test VM
	busybox-static runc qemu-system-x86 qemu-utils cpio kmod util-linux iproute2
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
here=$(cd "$(dirname "$0")/.." && pwd)
cache=${EIMA_VM_CACHE:-/var/cache/eima-vm}
mkdir -p "$cache"
if ! ls "$cache"/vmlinuz-6.12* >/dev/null 2>&1; then
	[[ -n "$(apt-cache search --names-only '^linux-image-6\.12\..*-cloud-amd64$' 2>/dev/null)" ]] ||
		apt-get update -qq
	pkg=$(apt-cache search --names-only '^linux-image-6\.12\..*-cloud-amd64$' |
		awk '{print $1}' | grep -v -- '-dbg$' | grep -v unsigned | sort -V | tail -n1)
	[[ -n "$pkg" ]] || { echo "setup: no linux-image-6.12.*-cloud-amd64 in the archive" >&2; exit 1; }
	echo "setup: fetching guest kernel $pkg"
	tmp=$(mktemp -d)
	(cd "$tmp" && apt-get download -qq "$pkg" && dpkg -x ./*.deb root)
	cp "$tmp"/root/boot/vmlinuz-* "$cache"/
	rm -rf "$tmp"
fi
ls "$cache"/vmlinuz-6.12* | sort -V | tail -n1 > "$cache/current"
echo "setup: ok (guest kernel $(cat "$cache/current"))"
: "$here"
