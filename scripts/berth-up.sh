#!/usr/bin/env bash
# Installs everything and runs a single-host Berth on its embedded defaults:
#   - apt packages and npm dependencies (scripts/install-deps.sh), build
#   - the test guest kernel/initramfs the default template boots (tools/build-guest.sh)
#   - `xe` and `berth-admin` on the PATH, bash completion for xe
#   - the system user berth-qemu that QEMU processes drop to after start-up
#   - the host agent and the manager (HTTPS :443, HTTP :80, /run/berth/xapi.sock, the NBD server
#     :10809 for VDI.get_nbd_info, serving once a network has purpose nbd), data in
#     /var/lib/berth, logs in /var/log/berth; as systemd units where systemd runs, else as
#     background daemons with pid files in /run/berth.
# Idempotent: running it again rebuilds and restarts the daemons; data is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
[ "$(id -u)" -eq 0 ] || { echo "berth-up: run as root" >&2; exit 1; }

scripts/install-deps.sh
npm run build --silent

DATA=${BERTH_DATA_DIR:-/var/lib/berth}
LOGS=${BERTH_LOG_DIR:-/var/log/berth}
RUN=/run/berth
mkdir -p "$DATA" "$LOGS" "$RUN"

# QEMU drops to this system user once it has opened its start-up files (the agent uses it because
# it exists; docs/agent.md "What runs as whom").
QEMU_USER=berth-qemu
scripts/qemu-user.sh "$QEMU_USER"
# The data directory: root's, searchable (not listable) by the QEMU user's group only: QEMU reaches
# hot-plugged disks under $DATA/sr through it; what is not for it is 0600 or in 0700 subdirectories
# (database, password, TLS key, journals). The run directory is root's alone: QEMU gets its TAPs
# and suspend files as descriptors and opens its sockets before it drops privileges.
chown "root:$(id -gn "$QEMU_USER")" "$DATA"
chmod 710 "$DATA"
chown root:root "$RUN"
chmod 700 "$RUN"

if [ -x tools/build-guest.sh ]; then
  BERTH_GUEST_DIR=${BERTH_GUEST_DIR:-$DATA/guest} tools/build-guest.sh >"$LOGS/build-guest.log" 2>&1 \
    || { echo "berth-up: building the test guest failed, see $LOGS/build-guest.log" >&2; exit 1; }
fi

# Command-line tools on the PATH.
install_bin() { # name, script
  cat >"/usr/local/bin/$1" <<EOS
#!/bin/sh
exec node "$ROOT/dist/$2" "\$@"
EOS
  chmod 755 "/usr/local/bin/$1"
}
install_bin berth-admin src/manager/admin/main.js
[ -f dist/src/clients/xe/main.js ] && install_bin xe src/clients/xe/main.js
[ -f dist/berth/main.js ] && install_bin berth berth/main.js
[ -f dist/src/clients/storage-plugin/main.js ] && install_bin berth-storage-plugin src/clients/storage-plugin/main.js
if [ -f tools/xe-completion.bash ] && [ -d /etc/bash_completion.d ]; then
  install -m 644 tools/xe-completion.bash /etc/bash_completion.d/xe
fi
# berth's completion scripts come from the CLI itself (nouns and verbs from its registry).
if [ -f dist/berth/main.js ]; then
  if [ -d /etc/bash_completion.d ]; then
    node dist/berth/main.js completion bash >/etc/bash_completion.d/berth
  fi
  if [ -d /usr/share/zsh/vendor-completions ]; then
    node dist/berth/main.js completion zsh >/usr/share/zsh/vendor-completions/_berth
  fi
fi

start_daemon() { # name, node-flags (space-separated, may be ""), script, args...
  local name=$1 flags=$2 script=$3; shift 3
  local pidfile="$RUN/$name.pid"
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    kill "$(cat "$pidfile")" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$(cat "$pidfile")" 2>/dev/null || break; sleep 0.1; done
  fi
  # shellcheck disable=SC2086 # flags are fixed words from this script
  setsid nohup node $flags "$ROOT/dist/$script" "$@" >>"$LOGS/$name.log" 2>&1 < /dev/null &
  echo $! >"$pidfile"
}

if [ -f dist/src/agent/main.js ]; then
  # The agent owns the host's storage: SRs under $DATA/sr, its journals under $DATA/storage.
  # Pool masters reach it on TCP 1811, mutual TLS with the pool's certificates only ($DATA/pki,
  # made by the manager: a standalone host is a pool of one).
  start_daemon berth-agent "" src/agent/main.js --state-root "$DATA" --pki-dir "$DATA/pki" \
    --listen-tcp 0.0.0.0:1811
fi
# A larger young generation for the manager: its heap holds every object and cached encodings,
# and fewer scavenges mean fewer pauses in event delivery (docs/decisions.md, bench:api).
# The NBD server (BERTH_NBD_PORT, `off` to disable) presents the HTTPS certificate of $DATA/tls and
# reads disks through the agent's qemu-storage-daemon exports.
start_daemon berth-manager "--max-semi-space-size=64" src/manager/main.js --data-dir "$DATA" \
  --nbd-port "${BERTH_NBD_PORT:-10809}"

# Wait for the API to answer.
for _ in $(seq 100); do
  if [ -S "$RUN/xapi.sock" ] && curl -s --unix-socket "$RUN/xapi.sock" -o /dev/null -X POST \
      -H 'Content-Type: text/xml' --data '<?xml version="1.0"?><methodCall><methodName>system.listMethods</methodName><params></params></methodCall>' http://localhost/; then
    echo "Berth is running: https://$(hostname -f 2>/dev/null || hostname)/ (XML-RPC, /jsonrpc), local socket $RUN/xapi.sock"
    echo "root password: $DATA/root-password (root-only file); logs: $LOGS"
    exit 0
  fi
  sleep 0.2
done
echo "berth-up: the manager did not come up; see $LOGS/berth-manager.log" >&2
exit 1
