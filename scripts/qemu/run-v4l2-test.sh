#!/usr/bin/env bash
# Tests the project's V4L2 code against real kernel drivers: boots Debian's kernel
# (linux-image-amd64) under qemu-system-x86_64 with a small initramfs that runs the static test
# binary cpp/test/hw/v4l2_hw_check.cpp against vivid (capture) and vicodec (M2M stateful FWHT
# encoder, built out of tree from linux-source-6.1 with v4l2-mem2mem against the matching headers).
#
#   scripts/qemu/run-v4l2-test.sh        build what is missing, boot, print the guest's results
#
# The accelerator: KVM when a guest really boots under it, else TCG (see "boot" below);
# KVS_QEMU_ACCEL=kvm|tcg forces one. KVS_QEMU_KVM_DEADLINE / KVS_QEMU_TCG_DEADLINE (30 / 180 s)
# bound the wait for the guest's first line.
#
# Exit status: 0 all guest checks passed, 1 a check failed or the VM did not finish,
# 77 something needed is missing (the reason is printed as "SKIP: ...").
# Work files go to build/qemu/ (reused between runs of the same checkout).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT=$ROOT/build/qemu
VM_TIMEOUT=${KVS_QEMU_TIMEOUT:-420}

log() { printf '[qemu-v4l2] %s\n' "$*" >&2; }
skip() { echo "SKIP: $*"; exit 77; }

# ------------------------------------------------------------------ prerequisites
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 not installed (Debian package qemu-system-x86)"
ABI=$(dpkg-query -W -f='${Depends}' linux-image-amd64 2>/dev/null | grep -o 'linux-image-[0-9][^ ,]*-amd64' | head -n1 | sed 's/^linux-image-//') || true
[ -n "$ABI" ] || skip "linux-image-amd64 is not installed"
KERNEL=/boot/vmlinuz-$ABI
MODDIR=/lib/modules/$ABI
HEADERS=/usr/src/linux-headers-$ABI
SRC_TAR=$(ls /usr/src/linux-source-*.tar.xz 2>/dev/null | head -n1 || true)
[ -r "$KERNEL" ] || skip "$KERNEL is missing or unreadable"
[ -d "$MODDIR/kernel/drivers/media" ] || skip "$MODDIR has no media modules"
[ -d "$HEADERS" ] || skip "linux-headers-$ABI is not installed (matching headers needed to build vicodec)"
[ -n "$SRC_TAR" ] || skip "linux-source-6.1 is not installed (vicodec source)"
BUSYBOX=$(command -v busybox || true)
[ -n "$BUSYBOX" ] && ! ldd "$BUSYBOX" >/dev/null 2>&1 || skip "a static busybox is needed (Debian package busybox-static)"
for t in cpio depmod modprobe modinfo make g++; do
  command -v "$t" >/dev/null || [ -x "/sbin/$t" ] || skip "$t not installed"
done
[ -f /usr/lib/x86_64-linux-gnu/libv4l2.a ] || skip "static libv4l2.a missing (Debian package libv4l-dev)"
[ -f /usr/lib/x86_64-linux-gnu/libopenh264.a ] || skip "static libopenh264.a missing (Debian package libopenh264-dev)"
export PATH="$PATH:/sbin:/usr/sbin"
mkdir -p "$OUT"
# One run at a time per checkout (the work files are shared).
exec 9>"$OUT/.lock"
flock -w 300 9 || { echo "another run of this script holds $OUT/.lock"; exit 1; }
log "kernel $ABI"

# ------------------------------------------------------------------ vicodec + v4l2-mem2mem
MODBUILD=$OUT/modules-$ABI
STAMP_KEY="$ABI $(stat -c '%s %Y' "$SRC_TAR") kbuild-v1"  # bump when the module build below changes
if [ ! -f "$MODBUILD/vicodec.ko" ] || [ ! -f "$MODBUILD/v4l2-mem2mem.ko" ] || [ "$(cat "$MODBUILD/.stamp" 2>/dev/null)" != "$STAMP_KEY" ]; then
  log "building vicodec and v4l2-mem2mem from $(basename "$SRC_TAR") against linux-headers-$ABI"
  rm -rf "$MODBUILD" "$OUT/src"
  mkdir -p "$MODBUILD" "$OUT/src"
  top=$(basename "$SRC_TAR" .tar.xz)  # the archive holds one folder of the same name
  tar -C "$OUT/src" -xJf "$SRC_TAR" \
    "$top/drivers/media/test-drivers/vicodec" \
    "$top/drivers/media/v4l2-core/v4l2-mem2mem.c"
  cp "$OUT/src/$top"/drivers/media/test-drivers/vicodec/*.[ch] "$MODBUILD/"
  cp "$OUT/src/$top/drivers/media/v4l2-core/v4l2-mem2mem.c" "$MODBUILD/"
  cat >"$MODBUILD/Kbuild" <<'EOF'
obj-m += v4l2-mem2mem.o vicodec.o
vicodec-objs := vicodec-core.o codec-fwht.o codec-v4l2-fwht.o
EOF
  make -C "$HEADERS" M="$MODBUILD" -j2 modules >"$OUT/modules-build.log" 2>&1 || { tail -n 30 "$OUT/modules-build.log"; echo "module build failed"; exit 1; }
  rm -rf "$OUT/src"
  echo "$STAMP_KEY" >"$MODBUILD/.stamp"
fi

# ------------------------------------------------------------------ static test binary
BIN=$OUT/v4l2_hw_check
SOURCES=(cpp/test/hw/v4l2_hw_check.cpp cpp/media/v4l2_device.cpp cpp/media/v4l2_m2m_encoder.cpp cpp/media/v4l2_capture.cpp cpp/media/annexb.cpp
         cpp/media/video_pipeline.cpp cpp/media/raw_source.cpp cpp/media/h264_encoder.cpp cpp/media/openh264_encoder.cpp
         cpp/media/pattern_source.cpp cpp/media/child_process.cpp cpp/media/h264_stream_pipeline.cpp cpp/media/annexb_parser.cpp
         cpp/media/h264_sei.cpp)
rebuild=0
[ -x "$BIN" ] || rebuild=1
for s in "${SOURCES[@]}" cpp/media/*.h; do [ "$s" -nt "$BIN" ] && rebuild=1; done
if [ $rebuild = 1 ]; then
  log "building the static test binary"
  g++ -std=c++20 -O2 -Wall -Wextra -Wno-unused-parameter -static -Icpp/media -o "$BIN.tmp" "${SOURCES[@]}" \
    -lv4l2 -lv4lconvert -ljpeg -lopenh264 -lrt -lm -lpthread 2>"$OUT/binary-build.log" || { cat "$OUT/binary-build.log"; exit 1; }
  mv "$BIN.tmp" "$BIN"
fi

# ------------------------------------------------------------------ initramfs
log "packing the initramfs"
IR=$OUT/initramfs
rm -rf "$IR"
mkdir -p "$IR"/{bin,sbin,dev,proc,sys,tmp,"lib/modules/$ABI/extra"}
cp "$BUSYBOX" "$IR/bin/busybox"
cp "$BIN" "$IR/bin/v4l2_hw_check"
# The module closure of vivid and of what vicodec/v4l2-mem2mem need, from the image's tree.
deps=$( (modprobe -S "$ABI" --show-depends vivid
         for m in $(modinfo -F depends "$MODBUILD/vicodec.ko" "$MODBUILD/v4l2-mem2mem.ko" | tr ',' '\n' | sort -u); do
           [ "$m" = v4l2-mem2mem ] || modprobe -S "$ABI" --show-depends "$m"
         done) | awk '$1 == "insmod" {print $2}' | sort -u)
for ko in $deps; do
  mkdir -p "$IR$(dirname "$ko")"
  cp "$ko" "$IR$ko"
done
cp "$MODBUILD/vicodec.ko" "$MODBUILD/v4l2-mem2mem.ko" "$IR/lib/modules/$ABI/extra/"
cp "$MODDIR"/modules.order "$MODDIR"/modules.builtin "$MODDIR"/modules.builtin.modinfo "$IR/lib/modules/$ABI/" 2>/dev/null || true
depmod -b "$IR" "$ABI"
cat >"$IR/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
echo "HW BOOT kernel $(uname -r)"
fail=0
settle() { i=0; while [ $i -lt 50 ] && ! ls /dev/video* >/dev/null 2>&1; do sleep 0.1; i=$((i+1)); done; sleep 0.3; }
run() { echo "HW RUN $*"; /bin/v4l2_hw_check "$@" || fail=1; }
modprobe vivid n_devs=1 node_types=0x1 multiplanar=1 || { echo "HW not ok 0 - modprobe vivid"; fail=1; }
settle
run capture
rmmod vivid
modprobe vivid n_devs=1 node_types=0x1 multiplanar=2 || { echo "HW not ok 0 - modprobe vivid multiplanar=2"; fail=1; }
settle
run capture --expect-mplane
rmmod vivid
modprobe vicodec || { echo "HW not ok 0 - modprobe vicodec"; fail=1; }
settle
run encoder
rmmod vicodec
modprobe vicodec multiplanar=1 || { echo "HW not ok 0 - modprobe vicodec multiplanar=1"; fail=1; }
settle
run encoder --expect-mplane
rmmod vicodec
modprobe vicodec && modprobe vivid n_devs=1 node_types=0x1 multiplanar=1 || { echo "HW not ok 0 - modprobe vicodec+vivid"; fail=1; }
settle
run pipeline
run media-pipeline
if [ $fail = 0 ]; then echo "KVS-HW-RESULT: PASS"; else echo "KVS-HW-RESULT: FAIL"; fi
sync
poweroff -f
EOF
chmod +x "$IR/init"
(cd "$IR" && find . | cpio -o -H newc --quiet) >"$OUT/initramfs.cpio"

# ------------------------------------------------------------------ boot
# The accelerator is chosen by what boots, not by what opens: some machines (nested
# virtualisation, microVMs, containers with /dev/kvm passed through) have a /dev/kvm that opens
# and answers the probe below, yet a guest under it never gets past the kernel's first steps.
# So KVM must show the guest's first line (init's "HW BOOT") within KVM_DEADLINE seconds, or the
# guest is stopped and booted again under TCG. KVS_QEMU_ACCEL=kvm|tcg forces one (no fallback).
# What ran and why is printed as "HW ACCEL <name> reason=<why>" for the test's diagnostics.
KVM_DEADLINE=${KVS_QEMU_KVM_DEADLINE:-30}
TCG_DEADLINE=${KVS_QEMU_TCG_DEADLINE:-180}
LOG=$OUT/console.log

kvm_usable() {  # prints why not, returns 1, when KVM cannot even be tried
  if [ ! -e /dev/kvm ]; then echo "no /dev/kvm"; return 1; fi
  if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then echo "/dev/kvm is not readable and writable by $(id -un)"; return 1; fi
  if ! qemu-system-x86_64 -accel kvm -M none -display none -S -daemonize -pidfile "$OUT/kvm-probe.pid" >/dev/null 2>&1; then
    rm -f "$OUT/kvm-probe.pid"; echo "qemu cannot open a KVM machine"; return 1
  fi
  kill "$(cat "$OUT/kvm-probe.pid")" 2>/dev/null || true
  rm -f "$OUT/kvm-probe.pid"
}

# boot ACCEL DEADLINE: runs the VM with the console in $LOG; returns qemu's status, or 200 when
# the guest printed nothing of its own within DEADLINE seconds (the VM is then stopped).
boot() {
  local accel=$1 deadline=$2 args qpid i booted=0 rc
  if [ "$accel" = kvm ]; then args=(-accel kvm -cpu host); else args=(-accel tcg); fi
  : >"$LOG"
  log "booting under $accel (first guest line within ${deadline}s, whole run within ${VM_TIMEOUT}s)"
  timeout --kill-after=10 "$VM_TIMEOUT" qemu-system-x86_64 "${args[@]}" -m 512 -smp 1 -nographic -no-reboot \
    -kernel "$KERNEL" -initrd "$OUT/initramfs.cpio" \
    -append "console=ttyS0 panic=-1 loglevel=3 rdinit=/init" </dev/null >"$LOG" 2>&1 &
  qpid=$!
  for ((i = 0; i < deadline * 10; i++)); do
    if grep -aq 'HW BOOT' "$LOG"; then booted=1; break; fi
    kill -0 "$qpid" 2>/dev/null || break
    sleep 0.1
  done
  grep -aq 'HW BOOT' "$LOG" && booted=1
  if [ $booted = 0 ] && kill -0 "$qpid" 2>/dev/null; then
    LAST_LINE=$(tr -d '\r' <"$LOG" | LC_ALL=C sed 's/\x1b\[[0-9;?]*[A-Za-z]//g' | grep -av '^[[:space:]]*$' | tail -n1 | cut -c1-120)
    kill -TERM "$qpid" 2>/dev/null || true  # timeout passes it on to qemu
    wait "$qpid" 2>/dev/null || true
    return 200
  fi
  rc=0
  wait "$qpid" || rc=$?
  return $rc
}

start=$(date +%s)
if [ -n "${KVS_QEMU_ACCEL:-}" ]; then
  case "$KVS_QEMU_ACCEL" in kvm | tcg) ;; *) echo "KVS_QEMU_ACCEL must be kvm or tcg, not '$KVS_QEMU_ACCEL'"; exit 1 ;; esac
  accel=$KVS_QEMU_ACCEL reason="forced by KVS_QEMU_ACCEL"
elif why=$(kvm_usable); then
  accel=kvm reason="/dev/kvm opens and qemu starts a KVM machine"
else
  accel=tcg reason="$why"
fi
if [ "$accel" = kvm ]; then deadline=$KVM_DEADLINE; else deadline=$TCG_DEADLINE; fi
set +e
boot "$accel" "$deadline"
qrc=$?
if [ $qrc = 200 ] && [ "$accel" = kvm ] && [ -z "${KVS_QEMU_ACCEL:-}" ]; then
  cp "$LOG" "$OUT/console-kvm.log"
  log "no guest output within ${deadline}s under kvm (last console line: ${LAST_LINE:-none}); falling back to tcg"
  accel=tcg reason="kvm did not boot a guest: no guest output within ${deadline}s under kvm (console in build/qemu/console-kvm.log)"
  deadline=$TCG_DEADLINE
  boot tcg "$deadline"
  qrc=$?
fi
set -e
echo "HW ACCEL $accel reason=$reason"
log "VM finished in $(( $(date +%s) - start ))s under $accel (qemu status $qrc)"
# The guest's lines (the console may put escape sequences in front of a line).
tr -d '\r' <"$LOG" | LC_ALL=C sed -n -e 's/.*\(HW \(ok\|not ok\|DATA\|SUMMARY\|RUN\|BOOT\) .*\)/\1/p' -e 's/.*\(KVS-HW-RESULT: [A-Z]*\).*/\1/p' || true
if [ $qrc = 200 ]; then
  echo "NO-BOOT: no guest output within ${deadline}s under $accel"
  echo "last console lines:"
  tail -n 20 "$LOG" | tr -d '\r'
  exit 1
fi
if [ $qrc = 124 ] || [ $qrc = 137 ]; then
  echo "VM timed out after ${VM_TIMEOUT}s under $accel; last console lines:"
  tail -n 20 "$LOG" | tr -d '\r'
  exit 1
fi
if grep -aq 'KVS-HW-RESULT: PASS' "$LOG"; then exit 0; fi
grep -aq 'KVS-HW-RESULT' "$LOG" || { echo "the VM did not report a result; last console lines:"; tail -n 30 "$LOG" | tr -d '\r'; }
exit 1
