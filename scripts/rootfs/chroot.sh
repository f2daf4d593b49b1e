#!/usr/bin/env bash
# A fresh copy of a cached clean root filesystem (scripts/rootfs/make.sh) to install into and run
# in, as its architecture under emulation (binfmt). The chroot shares the host's network, so a
# program in it serving on 127.0.0.1 is reachable from the host.
#   scripts/rootfs/chroot.sh prepare SUITE DIR [ARCH]   unpack, resolv.conf, /proc mounted
#   scripts/rootfs/chroot.sh run DIR COMMAND...         run in it (clean environment)
#   scripts/rootfs/chroot.sh cleanup DIR                unmount /proc, remove DIR
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
[ "$(id -u)" -eq 0 ] || { echo "chroot.sh: needs root (chroot, mount)" >&2; exit 1; }
cmd="${1:?prepare|run|cleanup}"
shift
case "$cmd" in
  prepare)
    suite="${1:?suite}" dir="${2:?dir}" arch="${3:-arm64}"
    tar="$(bash "$here/make.sh" "$suite" "$arch")"
    if [ "$arch" = arm64 ] && [ "$(uname -m)" != aarch64 ]; then bash "$here/../cross/binfmt.sh"; fi
    "$0" cleanup "$dir"
    mkdir -p "$dir"
    tar -xf "$tar" -C "$dir"
    cp /etc/resolv.conf "$dir/etc/resolv.conf"
    mount -t proc proc "$dir/proc"
    ;;
  run)
    dir="${1:?dir}"
    shift
    exec chroot "$dir" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
    ;;
  cleanup)
    dir="${1:?dir}"
    [ -e "$dir" ] || exit 0
    dir="$(realpath "$dir")"
    # Anything still mounted below DIR (deepest first), then the files.
    awk -v d="$dir" '$2 == d || index($2, d "/") == 1 { print $2 }' /proc/self/mounts | sort -r | while read -r m; do
      umount "$m" || umount -l "$m"
    done
    rm -rf --one-file-system "$dir"
    ;;
  *) echo "chroot.sh: unknown command '$cmd' (prepare, run, cleanup)" >&2; exit 2 ;;
esac
