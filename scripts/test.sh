#!/usr/bin/env bash
# Installs what the tests need (idempotent), creates the berth-qemu user QEMU drops to, and runs
# the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# QEMU runs as berth-qemu, as on every host berth-up.sh set up: a test that only passes with QEMU
# as root (e.g. one that needs /dev/net/tun after QEMU's privilege drop) fails here too.
scripts/qemu-user.sh
npm test
