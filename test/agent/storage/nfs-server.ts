// A real NFS server for tests: NFS-Ganesha (userspace, VFS backend) with its own rpcbind, both in
// a network namespace of their own (ports 2049/111 there, a private /run) reached from this
// namespace over a veth pair; its own config, pid file, log and export directory. Everything is
// stopped and deleted when the test ends.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { run, runChecked } from '../../../src/shared/exec.js';

export interface NfsServer {
  /** The server's address, as a client in this namespace reaches it. */
  address: string;
  /** The exported directory on this machine (what the server serves). */
  exportDir: string;
  /** The log, for failure messages. */
  log: string;
}

const NEEDS = [
  '/usr/bin/ganesha.nfsd',
  '/usr/sbin/rpcbind',
  '/usr/lib/x86_64-linux-gnu/ganesha/libfsalvfs.so',
];

/** Why a real NFS server cannot run here (undefined: it can). */
export function nfsServerUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (network namespace, rpcbind)';
  const missing = NEEDS.filter((p) => !existsSync(p));
  if (missing.length)
    return `missing ${missing.join(', ')} (scripts/install-deps.sh installs nfs-ganesha-vfs)`;
  return undefined;
}

function config(exportDir: string, stateDir: string): string {
  return `NFS_CORE_PARAM {
  Enable_NLM = false;
  Enable_RQUOTA = false;
  Protocols = 3, 4;
}
NFSV4 { Graceless = true; RecoveryBackend = fs; RecoveryRoot = "${stateDir}/recovery"; }
NFS_KRB5 { Active_krb5 = false; }
EXPORT {
  Export_Id = 1;
  Path = "${exportDir}";
  Pseudo = "${exportDir}";
  Access_Type = RW;
  Squash = No_Root_Squash;
  SecType = sys;
  Protocols = 3, 4;
  Transports = TCP;
  FSAL { Name = VFS; }
}
`;
}

// Runs inside the namespace: a private /run (rpcbind's socket), rpcbind, then Ganesha.
// Paths arrive as positional arguments, never interpolated into the script.
const LAUNCH = `set -e
mount -t tmpfs -o mode=0755 berth-nfs-run /run
mkdir -p /run/rpcbind
rpcbind -f &
sleep 0.3
exec ganesha.nfsd -F -f "$1" -L "$2" -p "$3" -N NIV_EVENT`;

const portOpen = (host: string, port: number) =>
  new Promise<boolean>((resolve) => {
    const s = connect({ host, port });
    s.setTimeout(1000, () => {
      s.destroy();
      resolve(false);
    });
    s.once('connect', () => {
      s.end();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });

/** A /30 from 100.64.0.0/10 not already on this host. */
function pickSubnet(): [string, string] {
  const used = readFileSync('/proc/net/fib_trie', 'utf8');
  for (;;) {
    const b = randomBytes(3);
    const prefix = `100.${64 + (b[0] & 63)}.${b[1]}`;
    const base = b[2] & 0xfc;
    if (!used.includes(`${prefix}.${base + 1}`) && !used.includes(`${prefix}.${base + 2}`))
      return [`${prefix}.${base + 1}`, `${prefix}.${base + 2}`];
  }
}

export async function startNfsServer(t: TestContext, dir: string): Promise<NfsServer> {
  const tag = randomBytes(3).toString('hex');
  const ns = `berth-nfs-${tag}`;
  const outer = `bnfs${tag}`;
  const inner = `bnfs${tag}p`;
  const [hostAddr, serverAddr] = pickSubnet();
  const exportDir = join(dir, 'export');
  const stateDir = join(dir, 'ganesha');
  mkdirSync(exportDir, { recursive: true });
  mkdirSync(join(stateDir, 'recovery'), { recursive: true });
  const conf = join(stateDir, 'ganesha.conf');
  const log = join(stateDir, 'ganesha.log');
  const pidFile = join(stateDir, 'ganesha.pid');
  writeFileSync(conf, config(exportDir, stateDir));

  await runChecked('ip', ['netns', 'add', ns]);
  t.after(async () => {
    // Only the server's processes live in this namespace: stop them, then the namespace (and veth).
    const pids = (await run('ip', ['netns', 'pids', ns])).stdout.split('\n').filter(Boolean);
    for (const p of pids) {
      try {
        process.kill(Number(p), 'SIGTERM');
      } catch {
        /* gone */
      }
    }
    for (let i = 0; i < 50; i++) {
      if (!(await run('ip', ['netns', 'pids', ns])).stdout.trim()) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    for (const p of (await run('ip', ['netns', 'pids', ns])).stdout.split('\n').filter(Boolean)) {
      try {
        process.kill(Number(p), 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    await run('ip', ['link', 'del', outer]);
    await run('ip', ['netns', 'del', ns]);
  });
  await runChecked('ip', ['link', 'add', outer, 'type', 'veth', 'peer', 'name', inner]);
  await runChecked('ip', ['link', 'set', inner, 'netns', ns]);
  await runChecked('ip', ['addr', 'add', `${hostAddr}/30`, 'dev', outer]);
  await runChecked('ip', ['link', 'set', outer, 'up']);
  await runChecked('ip', ['-n', ns, 'addr', 'add', `${serverAddr}/30`, 'dev', inner]);
  await runChecked('ip', ['-n', ns, 'link', 'set', inner, 'up']);
  await runChecked('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);

  // Detached from this process's lifetime only through the namespace cleanup above.
  const { spawn } = await import('node:child_process');
  const child = spawn('ip', ['netns', 'exec', ns, 'sh', '-c', LAUNCH, 'berth-nfs', conf, log, pidFile], {
    stdio: 'ignore',
  });
  child.unref();
  const deadline = Date.now() + 30_000;
  const ready = () => existsSync(log) && readFileSync(log, 'utf8').includes('NFS SERVER INITIALIZED');
  while (!ready() || !(await portOpen(serverAddr, 2049))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      const tail = existsSync(log) ? readFileSync(log, 'utf8').split('\n').slice(-15).join('\n') : '';
      throw new Error(`NFS-Ganesha did not come up on ${serverAddr}:2049\n${tail}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { address: serverAddr, exportDir, log };
}

/**
 * Replaces the kernel NFS client for one test, where this kernel has none: a `mount.nfs` first on
 * PATH that logs its arguments and bind-mounts the exported directory (the server exports it at
 * its own path). The driver's work around the mount then runs on what the server really serves.
 * Returns the file the calls are logged to; PATH is restored when the test ends.
 */
export function standInMountNfs(t: TestContext, dir: string): string {
  const bin = join(dir, 'stand-in-bin');
  const calls = join(dir, 'mount-nfs-calls');
  mkdirSync(bin, { recursive: true });
  writeFileSync(
    join(bin, 'mount.nfs'),
    `#!/bin/sh\nprintf '%s\\n' "$*" >> "${calls}"\nexec mount --bind "\${1#*:}" "$2"\n`,
    { mode: 0o755 },
  );
  const path = process.env.PATH;
  process.env.PATH = `${bin}:${path}`;
  t.after(() => {
    process.env.PATH = path;
  });
  return calls;
}
