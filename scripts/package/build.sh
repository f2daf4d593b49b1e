#!/usr/bin/env bash
# npm run package: for each architecture (default: arm64 amd64), a Debian package for bookworm and
# trixie (Raspberry Pi OS) and a self-contained tarball (scripts/package/tarball.sh), both laid
# out as /opt/kvs-edge:
#   bin/kvs-edge.js  dist/ (the compiled TypeScript)  boards/  build/Release/kvs_edge.node
#   node_modules/ (production dependencies only, the target's builds)  node/bin/node (Node 24)
# The .deb adds /usr/bin/kvs-edge, /lib/systemd/system/kvs-edge.service and the system user.
# Output: build-pkg/kvs-edge_<version>_<arch>.deb (and the tarballs).
#   scripts/package/build.sh [ARCH...]   (arm64, amd64)
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/cross/cache-dir.sh
log() { printf '[package] %s\n' "$*" >&2; }

archs=("$@")
((${#archs[@]})) || archs=(arm64 amd64)
version=$(node -p 'require("./package.json").version')
mkdir -p build-pkg

log "compiling TypeScript"
npx tsc -p tsconfig.json

# Production dependencies for one npm cpu, cached by lockfile: npm install, held to the lockfile's versions, of the
# runtime's dependencies with the target's os/cpu/libc, so optional native builds are the target's.
prod_modules() {
  local cpu=$1 key dir
  key=$(cat package.json package-lock.json | sha256sum | cut -c1-16)
  dir="$KVS_EDGE_CACHE/node-modules-$cpu-$key"
  if [ ! -d "$dir/node_modules" ]; then
    log "production dependencies for linux-$cpu (npm ci --omit=dev)"
    rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
    cp package.json package-lock.json "$dir.tmp/"
    # The build tools among the dependencies (addon build, tsx) are not shipped.
    node -e 'const fs = require("fs"), f = process.argv[1], p = JSON.parse(fs.readFileSync(f));
      for (const n of ["cmake-js", "node-addon-api", "node-api-headers", "tsx"]) delete p.dependencies[n];
      fs.writeFileSync(f, JSON.stringify(p, null, 2));' "$dir.tmp/package.json"
    (cd "$dir.tmp" && npm install --omit=dev --ignore-scripts --no-audit --no-fund --os=linux --cpu="$cpu" --libc=glibc >&2)
    rm -rf "$dir" && mv "$dir.tmp" "$dir"
  fi
  echo "$dir/node_modules"
}

# /opt/kvs-edge for one architecture, from an addon build folder.
stage_opt() {
  local dest=$1 cpu=$2 addon=$3 nodebin
  mkdir -p "$dest/bin" "$dest/build/Release" "$dest/node/bin"
  cp bin/kvs-edge.js "$dest/bin/"
  cp -r dist boards "$dest/"
  cp README.md package.json "$dest/"
  install -m 0755 "$addon" "$dest/build/Release/kvs_edge.node"
  cp -r "$(prod_modules "$cpu")" "$dest/node_modules"
  nodebin=$(bash scripts/node-runtime "$cpu")
  install -m 0755 "$nodebin/node" "$dest/node/bin/node"
  cp "$nodebin/../LICENSE" "$dest/node/LICENSE"
}

# The Depends line: every NEEDED library of the addon by its package (deb-depends.txt), plus
# glib-networking (GIO's TLS module, loaded at run time: TURN over TLS) and adduser or systemd
# (the postinst makes the user with one of them).
# Every NEEDED library of the addon must have its package in deb-depends.txt.
deb_depends() {
  local addon=$1 needed deps=() line
  for needed in $(LC_ALL=C readelf -d "$addon" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    line=$(awk -v so="$needed" '!/^#/ && $1 == so { $1 = ""; sub(/^ +/, ""); print }' scripts/package/deb-depends.txt)
    [ -n "$line" ] || { echo "package: the addon needs $needed, which scripts/package/deb-depends.txt does not name" >&2; return 1; }
    deps+=("$line")
  done
  printf '%s\n' "${deps[@]}" | sort -u | paste -sd, | sed 's/,/, /g'
}

build_deb() {
  local arch=$1 cpu=$2 addon=$3 root="build-pkg/deb-$arch" deb="build-pkg/kvs-edge_${version}_$arch.deb" depends
  depends=$(deb_depends "$addon")
  rm -rf "$root"
  stage_opt "$root/opt/kvs-edge" "$cpu" "$addon"
  install -D -m 0755 scripts/package/kvs-edge.sh "$root/usr/bin/kvs-edge"
  install -d "$root/lib/systemd/system"
  sed 's#^ExecStart=.*#ExecStart=/opt/kvs-edge/node/bin/node /opt/kvs-edge/bin/kvs-edge.js run --config /etc/kvs-edge/config.yaml#' \
    scripts/systemd/kvs-edge.service >"$root/lib/systemd/system/kvs-edge.service"
  install -D -m 0644 scripts/systemd/kvs-edge.sysusers.conf "$root/usr/lib/sysusers.d/kvs-edge.conf"
  install -d -m 0750 "$root/etc/kvs-edge"
  install -d "$root/DEBIAN"
  install -m 0755 scripts/package/postinst scripts/package/postrm "$root/DEBIAN/"
  cat >"$root/DEBIAN/control" <<CONTROL
Package: kvs-edge
Version: $version
Architecture: $arch
Maintainer: kvs-edge maintainers <kvs-edge@localhost>
Section: video
Priority: optional
Depends: $depends, glib-networking, adduser | systemd
Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
Description: camera runtime for Amazon Kinesis Video Streams with WebRTC
 kvs-edge streams live video and two-way audio from a camera board to browsers and apps
 through Kinesis Video Streams WebRTC, controlled by a fleet over MQTT. It carries its own
 Node.js runtime in /opt/kvs-edge/node and runs as the kvs-edge.service systemd unit.
CONTROL
  dpkg-deb --root-owner-group -Zgzip --build "$root" "$deb" >&2
  log "$deb ($(du -h "$deb" | cut -f1))"
}

for arch in "${archs[@]}"; do
  case "$arch" in
    arm64) cpu=arm64 ;;
    amd64) cpu=x64 ;;
    *) echo "package: unknown architecture '$arch' (arm64, amd64)" >&2; exit 2 ;;
  esac
  bash scripts/cross/build.sh "$arch" bookworm
  build_deb "$arch" "$cpu" "build-cross/bookworm-$arch/Release/kvs_edge.node"
done
