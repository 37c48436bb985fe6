#!/usr/bin/env bash
# Creates the system user QEMU processes drop to (berth-qemu), idempotently, as on every host set
# up by scripts/berth-up.sh; scripts/test.sh runs it too, so the suite always runs QEMU as that
# user (docs/agent.md "What runs as whom"). In group kvm where there is one, for /dev/kvm.
set -euo pipefail
[ "$(id -u)" -eq 0 ] || { echo "qemu-user: run as root (useradd)" >&2; exit 1; }
QEMU_USER=${1:-berth-qemu}
if ! getent passwd "$QEMU_USER" >/dev/null; then
  group_opt=(--user-group)
  getent group "$QEMU_USER" >/dev/null && group_opt=(--gid "$QEMU_USER")
  useradd --system "${group_opt[@]}" --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin --comment "Berth QEMU processes" "$QEMU_USER"
fi
if getent group kvm >/dev/null && ! id -nG "$QEMU_USER" | tr ' ' '\n' | grep -qx kvm; then
  usermod -a -G kvm "$QEMU_USER"
fi
