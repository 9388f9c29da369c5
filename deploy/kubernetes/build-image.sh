#!/usr/bin/env bash
# Builds eimad's container image with buildah from the Debian package: a minimal bookworm
# root with the package's dependencies (mmdebstrap, cached in /var/cache/eima-vm), the
# .deb (scripts/package.sh), and the Containerfile beside this script. Prints the image id.
#   deploy/kubernetes/build-image.sh [TAG]      (root; default tag localhost/eima:<version>)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${EIMA_VM_CACHE:-/var/cache/eima-vm}
deb=$(bash "$repo/scripts/package.sh" | tail -1)
version=$(dpkg-deb -f "$deb" Version)
tag=${1:-localhost/eima:$version}
ctx=$(mktemp -d /var/tmp/eima-image.XXXXXX)
trap 'rm -rf "$ctx"' EXIT

# The base: bookworm's apt variant plus exactly the package's Depends, cached by that list.
depends=$(dpkg-deb -f "$deb" Depends | sed 's/([^)]*)//g; s/ //g')
recommends=$(dpkg-deb -f "$deb" Recommends | sed 's/([^)]*)//g; s/ //g')
key=$(printf '%s' "bookworm apt $depends,$recommends" | sha256sum | cut -c1-16)
base=$cache/image-base-$key.tar
if [[ ! -s $base ]]; then
	mkdir -p "$cache"
	echo "making the image's base root (mmdebstrap, once per dependency list)" >&2
	# the .tar name makes mmdebstrap write a tarball, not a directory
	mmdebstrap --quiet --variant=apt --include="$depends,$recommends" bookworm "$base.tmp.tar" >&2
	mv "$base.tmp.tar" "$base"
fi
cp "$base" "$ctx/base.tar"
cp "$deb" "$ctx/eima.deb"
cp "$here/Containerfile" "$ctx/"
# chroot isolation: RUN needs no OCI runtime (and none of its rlimits or cgroups).
buildah bud --quiet --isolation chroot --layers=false -t "$tag" -f "$ctx/Containerfile" "$ctx" >&2
buildah images --quiet --noheading "$tag" | head -1
