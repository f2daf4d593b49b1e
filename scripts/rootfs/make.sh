#!/usr/bin/env bash
# A clean Debian root filesystem of another architecture (mmdebstrap --variant=apt: Essential,
# apt and what they need; nothing of kvs-edge), packed as a tarball and cached outside the
# checkout, keyed by suite and architecture. The arm64 tests unpack a fresh copy
# for every run (scripts/rootfs/chroot.sh), so each starts from a clean system.
#   scripts/rootfs/make.sh SUITE [ARCH]   -> prints the tarball's path
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
suite="${1:?suite (bookworm, trixie, bullseye)}"
arch="${2:-arm64}"
source "$here/../cross/cache-dir.sh"
# Bump "rootfs-1" when the way it is made changes.
key="$(printf '%s\n' rootfs-1 "$suite" "$arch" | sha256sum | cut -c1-16)"
tar="$KVS_EDGE_CACHE/rootfs-$suite-$arch-$key.tar"
# One maker at a time (several checkouts may share the cache); the others then find it made.
exec 9>"$tar.lock"
flock 9
if [ -f "$tar" ]; then
  echo "$tar"
  exit 0
fi
if [ "$arch" = arm64 ] && [ "$(uname -m)" != aarch64 ]; then
  bash "$here/../cross/binfmt.sh"
fi
echo "[rootfs] $suite/$arch: mmdebstrap --variant=apt" >&2
t0=$SECONDS
rm -f "$tar.tmp"
mmdebstrap --quiet --mode=root --variant=apt --arch="$arch" --format=tar \
  --aptopt='Acquire::Retries "3"' --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  "$suite" "$tar.tmp" http://deb.debian.org/debian >&2
mv "$tar.tmp" "$tar"
echo "[rootfs] $suite/$arch ready in $((SECONDS - t0)) s: $tar ($(du -h "$tar" | cut -f1))" >&2
echo "$tar"
