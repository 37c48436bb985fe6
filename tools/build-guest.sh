#!/usr/bin/env bash
# Builds the small test guest Berth's tests, benchmarks and default template boot:
#   OUT/vmlinuz     Debian's kernel, unpacked from linux-image-amd64 (dpkg-deb -x, not installed)
#   OUT/initrd.img  a busybox initramfs whose init loads the virtio/ACPI modules, prints the boot
#                   marker BERTH-GUEST-READY on ttyS0, powers off on the ACPI power button and
#                   runs a shell on the serial console (tests type commands there).
# Usage: tools/build-guest.sh [OUT]   (default ${BERTH_GUEST_DIR:-/var/lib/berth/guest})
# Idempotent: rebuilds only when the kernel package version or this script changed.
set -euo pipefail
OUT=${1:-${BERTH_GUEST_DIR:-/var/lib/berth/guest}}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT"

pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
if [ -z "$pkg" ]; then
  apt-get update -qq
  pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
fi
[ -n "$pkg" ] || { echo "build-guest: cannot resolve linux-image-amd64" >&2; exit 1; }
stamp="$pkg $(sha256sum "$HERE/build-guest.sh" | cut -c1-16)"
if [ -f "$OUT/.stamp" ] && [ "$(cat "$OUT/.stamp")" = "$stamp" ] && [ -f "$OUT/vmlinuz" ] && [ -f "$OUT/initrd.img" ]; then
  exit 0
fi
command -v busybox >/dev/null && [ -f /bin/busybox ] || { echo "build-guest: needs busybox-static" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download "$pkg" >/dev/null 2>&1)
dpkg-deb -x "$work"/linux-image-*.deb "$work/k"
kver=${pkg#linux-image-}
mods="$work/k/lib/modules/$kver/kernel"

root="$work/root"
mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,mnt,etc,lib/modules}
cp /bin/busybox "$root/bin/busybox"
for app in $("$root/bin/busybox" --list); do
  [ -e "$root/bin/$app" ] || ln -s busybox "$root/bin/$app"
done
# Modules in load order (no modprobe in the guest: plain insmod).
for m in drivers/virtio/virtio.ko drivers/virtio/virtio_ring.ko drivers/virtio/virtio_pci_modern_dev.ko \
  drivers/virtio/virtio_pci_legacy_dev.ko drivers/virtio/virtio_pci.ko drivers/block/virtio_blk.ko \
  net/core/failover.ko drivers/net/net_failover.ko drivers/net/virtio_net.ko drivers/virtio/virtio_balloon.ko \
  drivers/acpi/button.ko drivers/input/evdev.ko; do
  f="$mods/$m"
  [ -f "$f" ] || f="$f.xz"
  [ -f "$f" ] && cp "$f" "$root/lib/modules/"
done
ls "$root/lib/modules" | sed 's/\.xz$//' > "$root/lib/modules/order"

cat > "$root/init" <<'EOF'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null || mdev -s
for m in virtio virtio_ring virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk failover net_failover virtio_net virtio_balloon button evdev; do
  [ -f /lib/modules/$m.ko ] && insmod /lib/modules/$m.ko 2>/dev/null
done
mdev -s 2>/dev/null
ip link set lo up
# ACPI power button (QMP system_powerdown) → clean power-off.
mkdir -p /etc/acpi/PWRF
printf '#!/bin/sh\necho BERTH-GUEST-POWEROFF > /dev/ttyS0\npoweroff -f\n' > /etc/acpi/PWRF/00000080
chmod +x /etc/acpi/PWRF/00000080
acpid -d >/dev/null 2>&1 &
( while :; do for f in /sys/class/input/input*/name; do :; done; sleep 3600; done ) &
echo "BERTH-GUEST-READY $(uname -r) vcpus=$(grep -c ^processor /proc/cpuinfo) mem=$(awk '/MemTotal/ {print $2}' /proc/meminfo)kB" > /dev/ttyS0
while :; do
  setsid sh -c 'exec sh </dev/ttyS0 >/dev/ttyS0 2>&1'
done
EOF
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -9) > "$work/initrd.img"
cp "$work/k/boot/vmlinuz-$kver" "$OUT/vmlinuz.new" && mv "$OUT/vmlinuz.new" "$OUT/vmlinuz"
mv "$work/initrd.img" "$OUT/initrd.img"
echo "$stamp" > "$OUT/.stamp"
echo "build-guest: $OUT ($pkg)"
