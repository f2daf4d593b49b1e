#!/usr/bin/env bash
# Lets the kernel run arm64 programs through qemu-aarch64-static (binfmt_misc), as chroots into
# arm64 root filesystems need: every program started there, and every program those start, is
# arm64. Where PID 1 is not systemd nothing registers it at boot, so this does, once: mounts
# binfmt_misc when it is not, and enables Debian's qemu-aarch64 entry (fix_binary: the
# interpreter is opened now, so it need not exist inside the chroot).
set -euo pipefail
[ -f /usr/share/binfmts/qemu-aarch64 ] || { echo "binfmt: qemu-user-static is not installed" >&2; exit 1; }
if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
fi
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
  update-binfmts --enable qemu-aarch64 >&2 || update-binfmts --import qemu-aarch64 >&2
fi
grep -qx enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 || { echo "binfmt: qemu-aarch64 is registered but disabled" >&2; exit 1; }
grep -q '^flags: .*F' /proc/sys/fs/binfmt_misc/qemu-aarch64 || { echo "binfmt: qemu-aarch64 lacks the F flag" >&2; exit 1; }
