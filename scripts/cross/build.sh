#!/usr/bin/env bash
# Cross-builds the engine, the addon and the C++ unit tests for another architecture against a
# Debian sysroot (scripts/cross/sysroot.sh), with the host's cross compiler and cmake-js.
#   scripts/cross/build.sh [ARCH] [SUITE]   (default arm64 bookworm) -> build-cross/SUITE-ARCH/
# The addon is build-cross/SUITE-ARCH/Release/kvs_edge.node (what the packages ship: openh264
# linked statically, see CMakeLists.txt); the tests run with scripts/cross/ctest.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
arch="${1:-arm64}"
suite="${2:-bookworm}"
case "$arch" in
  arm64) triple=aarch64-linux-gnu ;;
  amd64) triple=x86_64-linux-gnu ;;
  *) echo "cross build: unknown architecture '$arch' (arm64, amd64)" >&2; exit 2 ;;
esac
command -v "$triple-g++" >/dev/null || { echo "cross build: $triple-g++ is missing (scripts/apt-packages/cross.txt)" >&2; exit 1; }
sysroot="$(bash scripts/cross/sysroot.sh "$suite" "$arch")"
out="build-cross/$suite-$arch"
mkdir -p build-cross
echo "[cross] building $out against $sysroot" >&2
t0=$SECONDS
export KVS_SYSROOT="$sysroot" KVS_CROSS_TRIPLE="$triple"
# configure every time (cheap: cached), so a changed flag or toolchain file is taken; then build.
flags=(--out "$out" --CDCMAKE_TOOLCHAIN_FILE="$PWD/scripts/cross/toolchain.cmake"
  --CDKVS_SYSROOT="$sysroot" --CDKVS_CROSS_TRIPLE="$triple" --CDKVS_OPENH264_STATIC=ON)
{ npx cmake-js configure "${flags[@]}" && npx cmake-js build "${flags[@]}" -p "$(nproc)"; } >"$out.log" 2>&1 \
  || { tail -n 60 "$out.log"; exit 1; }
echo "[cross] $out built in $((SECONDS - t0)) s" >&2
