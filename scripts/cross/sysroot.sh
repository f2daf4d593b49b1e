#!/usr/bin/env bash
# Builds (or reuses) a Debian sysroot for cross-compiling: the packages of a list extracted with
# mmdebstrap --variant=extract (nothing configured, nothing run), absolute symlinks made relative
# so they resolve inside the sysroot. Cached outside the checkout, keyed by suite, architecture and
# the package list, so a changed list makes a new one.
#   scripts/cross/sysroot.sh [SUITE] [ARCH] [PACKAGE-LIST]   -> prints the sysroot's path
# KVS_EDGE_CACHE: the cache folder (default /var/cache/kvs-edge when writable, else ~/.cache/kvs-edge).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
suite="${1:-bookworm}"
arch="${2:-arm64}"
list="${3:-$here/sysroot-packages.txt}"
source "$here/cache-dir.sh"

mapfile -t pkgs < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$list" | tr -s ' \t' '\n' | sed '/^$/d')
# Bump "sysroot-1" when the way it is made changes.
key="$(printf '%s\n' sysroot-1 "$suite" "$arch" "${pkgs[@]}" | sha256sum | cut -c1-16)"
root="$KVS_EDGE_CACHE/sysroot-$suite-$arch-$key"
# One maker at a time (several checkouts may share the cache); the others then find it made.
exec 9>"$root.lock"
flock 9
if [ -f "$root/.complete" ]; then
  echo "$root"
  exit 0
fi
command -v mmdebstrap >/dev/null || { echo "sysroot: mmdebstrap is missing (scripts/apt-packages/cross.txt)" >&2; exit 1; }
rm -rf "$root" "$root.tmp"
mkdir -p "$root.tmp"
echo "[sysroot] $suite/$arch: ${pkgs[*]}" >&2
t0=$SECONDS
include="$(IFS=,; echo "${pkgs[*]}")"
mmdebstrap --quiet --variant=extract --arch="$arch" --include="$include" \
  --aptopt='Acquire::Retries "3"' "$suite" "$root.tmp" http://deb.debian.org/debian >&2
# Absolute symlinks (/lib/aarch64-linux-gnu/libfoo.so.1) point at the host: make them relative.
find "$root.tmp" -type l -lname '/*' -print0 | while IFS= read -r -d '' l; do
  target="$(readlink "$l")"
  ln -sfn "$(realpath -ms --relative-to="$(dirname "$l")" "$root.tmp$target")" "$l"
done
touch "$root.tmp/.complete"
mv "$root.tmp" "$root"
echo "[sysroot] $suite/$arch ready in $((SECONDS - t0)) s: $root" >&2
echo "$root"
