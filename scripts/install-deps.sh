#!/usr/bin/env bash
# Installs what Berth needs on Debian 12: the apt packages in scripts/apt-packages.txt and the
# npm dependencies (npm ci). Idempotent: apt runs only when a package is missing, npm ci only when
# package-lock.json changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/.."

need_root() { [ "$(id -u)" -eq 0 ] || { echo "install-deps: run as root (apt-get, loop devices, bridges)" >&2; exit 1; }; }

mapfile -t pkgs < <(grep -vE '^\s*(#|$)' scripts/apt-packages.txt)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  need_root
  echo "install-deps: apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # NFS-Ganesha is here for the tests, which start their own server: the system service the
  # package enables (where systemd runs) must not keep serving. Only when this run installed it.
  if [[ " ${missing[*]} " == *" nfs-ganesha "* ]] && [ -d /run/systemd/system ]; then
    systemctl disable --now nfs-ganesha.service >/dev/null 2>&1 || true
  fi
  # The same for the MIT KDC and kadmind (the Kerberos tests start their own KDC in a temp dir).
  if [[ " ${missing[*]} " == *" krb5-kdc "* || " ${missing[*]} " == *" krb5-admin-server "* ]] \
    && [ -d /run/systemd/system ]; then
    systemctl disable --now krb5-kdc.service krb5-admin-server.service >/dev/null 2>&1 || true
  fi
fi

if ! command -v node >/dev/null || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  echo "install-deps: Berth needs Node.js >= 20 (found: $(node --version 2>/dev/null || echo none))." >&2
  echo "Debian 12's own nodejs package is 18; install Node 20 or newer first." >&2
  exit 1
fi

stamp=node_modules/.berth-lock-hash
hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$hash" ]; then
  echo "install-deps: npm ci"
  # The committed lock must satisfy `npm ci` as it is (no fallback to `npm install`, which would
  # rewrite package-lock.json in a fresh clone); regenerate it with a full `npm install`.
  npm ci --no-audit --no-fund --loglevel=error
  sha256sum package-lock.json | cut -d' ' -f1 > "$stamp"
fi

# The agent's native helper (src/agent/native/berth-fdpass.c: opens TAPs and passes descriptors to
# QEMU), named after its source's hash as the agent looks for it (src/agent/qemu/fdpass.ts); the
# agent builds it itself on first use where this did not run.
src=src/agent/native/berth-fdpass.c
bin=.cache/native/berth-fdpass-$(sha256sum "$src" | cut -c1-16)
if [ ! -x "$bin" ]; then
  mkdir -p .cache/native
  cc -O2 -Wall -o "$bin.$$.tmp" "$src"
  mv "$bin.$$.tmp" "$bin"
fi
