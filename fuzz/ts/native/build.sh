#!/usr/bin/env bash
# Builds the native part of Jazzer.js (the coverage-guided fuzzer for JavaScript) from the C++
# sources that the @jazzer.js/fuzzer npm package ships, linked against Debian's libFuzzer
# (libclang-rt-14-dev) and Node-API headers from the node-api-headers package. The package's own
# install script (disabled in package.json's allowScripts) would download a prebuilt binary or
# a patched LLVM from GitHub; libfuzzer-glue.cpp covers the fork's three extra entry points.
#   fuzz/ts/native/build.sh        prints the path of the built addon
# Exit status 77 (with a SKIP line) when clang++ or libFuzzer is not installed.
set -euo pipefail
cd "$(dirname "$0")/../../.."
PKG=node_modules/@jazzer.js/fuzzer
OUT=$PKG/build/Release/jazzerjs.node
CXX=${CLANGXX:-$(command -v clang++ || command -v clang++-14 || true)}
[ -n "$CXX" ] || { echo "SKIP: clang++ not installed (Debian packages clang, libclang-rt-14-dev)"; exit 77; }
LIBFUZZER=$("$CXX" -print-file-name=libclang_rt.fuzzer_no_main-x86_64.a 2>/dev/null || true)
if [ ! -f "$LIBFUZZER" ]; then
  LIBFUZZER=$(ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer_no_main-x86_64.a 2>/dev/null | tail -n 1 || true)
fi
[ -f "$LIBFUZZER" ] || { echo "SKIP: libFuzzer not installed (Debian package libclang-rt-14-dev)"; exit 77; }
[ -f "$PKG/addon.cpp" ] || { echo "no $PKG/addon.cpp: run npm ci"; exit 1; }
SRCS=("$PKG"/*.cpp "$PKG"/shared/*.cpp fuzz/ts/native/libfuzzer-glue.cpp)
if [ -f "$OUT" ]; then
  newer=$(find "${SRCS[@]}" fuzz/ts/native/build.sh -newer "$OUT" | head -n 1)
  [ -z "$newer" ] && { echo "$OUT"; exit 0; }
fi
mkdir -p "$(dirname "$OUT")"
"$CXX" -std=c++17 -O2 -fPIC -shared -fexceptions -DNAPI_VERSION=4 -DNAPI_CPP_EXCEPTIONS \
  -I"$PKG" -Ifuzz/ts/native -Inode_modules/node-api-headers/include -I"$PKG"/node_modules/node-addon-api \
  "${SRCS[@]}" -Wl,--whole-archive "$LIBFUZZER" -Wl,--no-whole-archive -lpthread -o "$OUT.tmp" >&2
mv "$OUT.tmp" "$OUT"
echo "$OUT"
