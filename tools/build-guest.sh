#!/usr/bin/env bash
# Builds the small test guest Berth's tests, benchmarks and default template boot:
#   OUT/vmlinuz     Debian's kernel, unpacked from linux-image-amd64 (dpkg-deb -x, not installed)
#   OUT/initrd.img  a busybox initramfs whose init loads the virtio/ACPI modules, prints the boot
#                   marker BERTH-GUEST-READY on ttyS0, powers off on the ACPI power button and
#                   runs a shell on the serial console (tests type commands there).
# Usage: tools/build-guest.sh [OUT]   (default ${BERTH_GUEST_DIR:-/var/lib/berth/guest})
# Idempotent and cached: rebuilds only when the kernel package version or this script changed.
# Needs: apt (lists updated), dpkg-deb, cpio, gzip, busybox-static (installed here if missing).
set -euo pipefail
OUT=${1:-${BERTH_GUEST_DIR:-/var/lib/berth/guest}}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT"

# linux-image-amd64 is a metapackage: its versioned dependency names the real kernel package.
resolve() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}'; }
pkg=$(resolve)
if [ -z "$pkg" ]; then
  apt-get update -qq
  pkg=$(resolve)
fi
[ -n "$pkg" ] || { echo "build-guest: cannot resolve linux-image-amd64 (apt-get update?)" >&2; exit 1; }
stamp="$pkg $(sha256sum "$HERE/build-guest.sh" | cut -c1-16)"
if [ -f "$OUT/.stamp" ] && [ "$(cat "$OUT/.stamp")" = "$stamp" ] && [ -s "$OUT/vmlinuz" ] && [ -s "$OUT/initrd.img" ]; then
  exit 0
fi

# The initramfs has no libc: busybox must be the static build (package busybox-static).
static_busybox() { [ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1; }
if ! static_busybox || ! command -v cpio >/dev/null; then
  [ "$(id -u)" = 0 ] || { echo "build-guest: needs busybox-static and cpio" >&2; exit 1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static cpio >/dev/null
  static_busybox || { echo "build-guest: /bin/busybox is not static" >&2; exit 1; }
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download -qq -o APT::Sandbox::User=root "$pkg" >/dev/null)
dpkg-deb -x "$work"/linux-image-*.deb "$work/k"
kver=${pkg#linux-image-}
mods="$work/k/lib/modules/$kver/kernel"

root="$work/root"
mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,mnt,etc,lib/modules}
cp /bin/busybox "$root/bin/busybox"
for app in $("$root/bin/busybox" --list); do
  [ -e "$root/bin/$app" ] || ln -s busybox "$root/bin/$app"
done
# In Debian's kernel virtio-pci/blk/net/balloon and the ACPI button are modules (not built in);
# copy them in load order (busybox insmod has no dependency resolution and no xz support).
order=""
for m in drivers/virtio/virtio_ring.ko drivers/virtio/virtio.ko drivers/virtio/virtio_pci_modern_dev.ko \
  drivers/virtio/virtio_pci_legacy_dev.ko drivers/virtio/virtio_pci.ko drivers/block/virtio_blk.ko \
  net/core/failover.ko drivers/net/net_failover.ko drivers/net/virtio_net.ko drivers/virtio/virtio_balloon.ko \
  drivers/acpi/button.ko drivers/input/evdev.ko; do
  name=$(basename "$m")
  if [ -f "$mods/$m" ]; then cp "$mods/$m" "$root/lib/modules/$name"
  elif [ -f "$mods/$m.xz" ]; then xz -dc "$mods/$m.xz" > "$root/lib/modules/$name"
  elif [ -f "$mods/$m.zst" ]; then zstd -qdc "$mods/$m.zst" > "$root/lib/modules/$name"
  else continue # built into this kernel
  fi
  order="$order ${name%.ko}"
done

cat > "$root/init" <<EOF
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null || mdev -s
for m in$order; do insmod /lib/modules/\$m.ko 2>/dev/null; done
mdev -s 2>/dev/null
hostname berth-guest
ip link set lo up
# ACPI power button (QMP system_powerdown): busybox acpid runs /etc/acpi/PWRF/00000080.
mkdir -p /etc/acpi/PWRF
printf '#!/bin/sh\\necho BERTH-GUEST-POWEROFF > /dev/ttyS0\\npoweroff -f\\n' > /etc/acpi/PWRF/00000080
chmod +x /etc/acpi/PWRF/00000080
# -d: foreground, log to stderr (the default log file /var/log/acpid.log has no directory here)
acpid -d >/dev/null 2>&1 &
echo "BERTH-GUEST-READY \$(uname -r) vcpus=\$(grep -c ^processor /proc/cpuinfo) mem=\$(awk '/MemTotal/ {print \$2}' /proc/meminfo)kB" > /dev/ttyS0
# A shell on the serial console, restarted if it exits.
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
