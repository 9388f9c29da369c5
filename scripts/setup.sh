#!/usr/bin/env bash
# Installs every Debian package eima builds, tests and demos with, and fetches the
# guest kernel the test VM boots. Idempotent: a second run is fast.
set -euo pipefail

packages=(
	# build
	cmake make g++ clang clang-19 llvm-19 libbpf-dev bpftool libelf-dev zlib1g-dev
	libssl-dev libtss2-dev nlohmann-json3-dev libcli11-dev libfmt-dev libspdlog-dev
	libgtest-dev libgmock-dev libbenchmark-dev pkg-config
	# fuzzing (fuzz/, bench/fuzz.sh): libFuzzer and the sanitizer runtimes for clang-19
	libclang-rt-19-dev
	# TPM, IMA tooling used by tests and the demo
	swtpm swtpm-tools tpm2-tools ima-evm-utils keyutils openssl xxd attr
	# containers and the test VM
	busybox-static runc qemu-system-x86 qemu-utils cpio kmod util-linux iproute2 zstd
	# real container engines in the tests (rootful podman with runc; containerd with ctr)
	podman containerd
	# deploy/kubernetes: the image is built with buildah; the test parses the manifest
	buildah python3-yaml
	# benchmarks
	hyperfine
	# the Debian package (scripts/package.sh): man pages from --help, shlibs, a clean root to install into
	help2man dpkg-dev mmdebstrap
	# metrics: promtool checks the exposition, a real Prometheus scrapes eimad
	prometheus curl jq
	# events: the test validates eimad's events against docs/events.schema.json
	python3-jsonschema
	# peak RSS of the SBOM memory test (/usr/bin/time -f %M)
	time
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

# The guest kernels: Debian's newest 6.12 cloud flavour (from the machine's own apt
# sources) and 6.18 cloud flavour (from trixie-backports, fetched with a private apt
# configuration so the machine's sources stay as they are). Both have BPF LSM, IMA, TPM
# TIS/CRB and virtio-fs built in. Kept beside each vmlinuz-VER: its config (to check what
# is built in) and its modules under $cache/lib/modules/VER with depmod's indexes, which
# the test VM loads with `modprobe -d $cache` (overlayfs, veth, loop, vsock are modules in
# this flavour). $cache/current-SERIES names each kernel; $cache/current the default
# (6.12). Nothing touches the network once both are cached.
here=$(cd "$(dirname "$0")/.." && pwd)
cache=${EIMA_VM_CACHE:-/var/cache/eima-vm}
mkdir -p "$cache"
tmp=''
trap 'rm -rf "${tmp:-}"' EXIT

# The Debian mirror this machine uses (the site of its main suite), for trixie-backports.
debian_mirror() {
	local codename site
	codename=$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release)
	# shellcheck disable=SC2016 # $(SITE) is apt's format, not a command
	site=$(apt-get indextargets --format '$(SITE) $(RELEASE)' 2>/dev/null |
		awk -v c="$codename" '$2 == c { print $1; exit }')
	echo "${site:-http://deb.debian.org/debian}"
}

# guest_kernel SERIES [SUITE]: caches the newest linux-image-SERIES.*-cloud-amd64 from the
# machine's sources, or from SUITE through a private apt configuration.
guest_kernel() {
	local series=$1 suite=${2:-} have ver pkgs pkg mods apt=() re
	have=$(ls "$cache"/vmlinuz-"$series".* 2>/dev/null | sort -V | tail -n1 || true)
	ver=${have##*/vmlinuz-}
	if [[ -z "$have" || ! -f "$cache/config-$ver" || ! -f "$cache/lib/modules/$ver/modules.dep" ]]; then
		tmp=$(mktemp -d)
		# apt-get download fetches as the _apt user into the current directory.
		chmod 755 "$tmp"
		mkdir "$tmp/dl"
		chown _apt "$tmp/dl" 2>/dev/null || true
		if [[ -n "$suite" ]]; then
			mkdir -p "$tmp/apt/lists/partial" "$tmp/apt/cache/archives/partial"
			echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $(debian_mirror) $suite main" \
				>"$tmp/apt/sources.list"
			apt=(-o "Dir::Etc::sourcelist=$tmp/apt/sources.list" -o Dir::Etc::sourceparts=-
				-o "Dir::State::Lists=$tmp/apt/lists" -o "Dir::Cache=$tmp/apt/cache")
			echo "setup: reading $suite ($(debian_mirror)) with a private apt configuration"
			apt-get "${apt[@]}" update -qq
		fi
		re="^linux-image-${series//./\\.}\\..*-cloud-amd64\$"
		[[ -n "$suite" || -n "$(apt-cache search --names-only "$re" 2>/dev/null)" ]] ||
			apt-get update -qq
		pkgs=$(apt-cache "${apt[@]}" search --names-only "$re" |
			awk '{print $1}' | grep -v -- '-dbg$' | grep -v unsigned | sort -V)
		# Complete the kernel already cached if the archive still has it, else take the newest.
		pkg=$(grep -Fx "linux-image-$ver" <<<"$pkgs" || tail -n1 <<<"$pkgs")
		[[ -n "$pkg" ]] || { echo "setup: no linux-image-$series.*-cloud-amd64 in the archive${suite:+ ($suite)}" >&2; exit 1; }
		echo "setup: fetching guest kernel $pkg${suite:+ from $suite}"
		(cd "$tmp/dl" && apt-get "${apt[@]}" download -qq "$pkg" && dpkg -x ./*.deb ../root)
		ver=${pkg#linux-image-}
		cp "$tmp/root/boot/vmlinuz-$ver" "$tmp/root/boot/config-$ver" "$cache"/
		mods=$tmp/root/lib/modules/$ver
		[[ -d "$mods" ]] || mods=$tmp/root/usr/lib/modules/$ver
		mkdir -p "$cache/lib/modules"
		rm -rf "$cache/lib/modules/$ver"
		cp -a "$mods" "$cache/lib/modules/$ver"
		depmod -b "$cache" "$ver"
		rm -rf "$tmp"
		tmp=''
	fi
	ls "$cache"/vmlinuz-"$series".* | sort -V | tail -n1 >"$cache/current-$series"
}
guest_kernel 6.12
guest_kernel 6.18 trixie-backports
cp "$cache/current-6.12" "$cache/current"
echo "setup: ok (guest kernels $(cat "$cache/current-6.12") $(cat "$cache/current-6.18"))"
: "$here"
