# Shared by the berth-guest scripts (sourced; cwd is the OS directory).
set -eu

die() { echo "berth-guest: $*" >&2; exit 1; }

# The filesystem lies in the first partition, 1 MiB into the disk (mtools' image@@offset).
FS_OFFSET=1048576

# The kernel and initramfs the disk boots: tools/build-guest.sh's output, linked or copied as
# ./guest when the definition is installed.
GUEST_DIR=./guest

need_tools() {
  for t in sfdisk mformat mcopy mtype syslinux dd; do
    command -v "$t" >/dev/null 2>&1 || die "missing tool '$t' (Debian packages fdisk, mtools, syslinux, syslinux-common)"
  done
  [ -f /usr/lib/syslinux/mbr/mbr.bin ] || die "missing /usr/lib/syslinux/mbr/mbr.bin (package syslinux-common)"
}

# Kernel arguments: a fixed character set, so nothing can start a new syslinux.cfg line or option.
check_kernel_args() {
  case "$1" in
    *[!A-Za-z0-9=._,:/\ -]*) die "parameter kernel_args: only letters, digits, '=', '.', '_', ',', ':', '/', '-' and spaces" ;;
  esac
}

check_variant() {
  case "${OS_VARIANT:-default}" in
    default|debug) ;;
    *) die "unknown variant '${OS_VARIANT}'" ;;
  esac
}

# The instance name as a kernel argument value: anything outside [A-Za-z0-9._-] becomes '_'.
safe_name() { printf '%s' "$1" | tr -c 'A-Za-z0-9._-' '_' | cut -c1-63; }

# syslinux.cfg for instance name $1.
syslinux_cfg() {
  extra=""
  [ "${OS_VARIANT:-default}" = debug ] && extra=" ignore_loglevel"
  [ -n "${OSP_KERNEL_ARGS:-}" ] && extra="$extra ${OSP_KERNEL_ARGS}"
  printf 'SERIAL 0 115200\nDEFAULT berth\nPROMPT 0\nTIMEOUT 0\nLABEL berth\n  KERNEL /vmlinuz\n  INITRD /initrd.img\n  APPEND console=ttyS0 panic=-1 berth.instance=%s%s\n' "$(safe_name "$1")" "$extra"
}

first_disk() {
  [ "${DISK_COUNT:-0}" -ge 1 ] || die "the VM has no disk to install on"
  [ "${DISK_0_ACCESS:-}" = rw ] || die "disk 0 is read-only"
  [ -b "${DISK_0_PATH:-}" ] || [ -f "${DISK_0_PATH:-}" ] || die "disk 0 (${DISK_0_PATH:-unset}) is not a block device"
  DISK=$DISK_0_PATH
}
