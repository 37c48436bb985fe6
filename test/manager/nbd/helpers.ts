// Test fixtures for the NBD export server: a real qemu-nbd backend on a Unix socket, a TLS
// certificate made by openssl, and runners for libnbd's tools (nbdinfo, nbdcopy) and qemu-img.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { promisify } from 'node:util';
import type { Database } from '../../../src/manager/db/database.js';
import type { Backend } from '../../../src/manager/nbd/backend.js';
import { ensureSelfSignedCert } from '../../../src/manager/tls.js';
import { volumePath } from '../../../src/shared/host/volume-path.js';

export const run = promisify(execFile);

/** Runs a tool; resolves with stdout/stderr and the exit code (never throws on a non-zero exit). */
export async function tool(cmd: string, args: string[], timeoutMs = 120_000) {
  try {
    const r = await run(cmd, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof x.code === 'number' ? x.code : -1, stdout: x.stdout ?? '', stderr: x.stderr ?? '' };
  }
}

/**
 * qemu-nbd serving an image read-only on a Unix socket (many clients, persistent). Call this
 * BEFORE tempDir(t): its kill hook must run before the directory is removed.
 */
export function qemuNbdBackend(t: TestContext) {
  let socketPath = '';
  let child: ChildProcess | undefined;
  let opened = 0;
  let closed = 0;
  t.after(() => {
    child?.kill('SIGKILL');
  });
  /** writable: the backend itself accepts writes (only the export server refuses them). */
  const start = async (dir: string, image: string, format: string, writable = false) => {
    socketPath = join(dir, 'backend.sock');
    child = spawn(
      'qemu-nbd',
      [
        ...(writable ? [] : ['--read-only']),
        '--persistent',
        '--shared=32',
        `--socket=${socketPath}`,
        '--export-name=disk',
        `--format=${format}`,
        image,
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    for (let i = 0; i < 200 && !existsSync(socketPath); i++) await new Promise((r) => setTimeout(r, 25));
    if (!existsSync(socketPath)) throw new Error('qemu-nbd did not start');
  };
  const openBackend = async (_vdi: string): Promise<Backend> => {
    opened++;
    return {
      socketPath,
      exportName: 'disk',
      close: () => {
        closed++;
      },
    };
  };
  return { start, openBackend, counts: () => ({ opened, closed }) };
}

/** A self-signed certificate for 127.0.0.1, and a libnbd certificate directory trusting it. */
export async function testCertificate(dir: string) {
  const cert = join(dir, 'tls', 'server.crt');
  const key = join(dir, 'tls', 'server.key');
  await ensureSelfSignedCert(cert, key, 'nbd-test-host', '127.0.0.1');
  const caDir = join(dir, 'client-tls');
  mkdirSync(caDir, { recursive: true });
  copyFileSync(cert, join(caDir, 'ca-cert.pem'));
  return { cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8'), certFile: cert, caDir };
}

/** An nbd:// or nbds:// URI for an export name (the name's '?' percent-encoded). */
export function nbdUri(port: number, exportName: string, tls?: { caDir: string }): string {
  const name = encodeURIComponent(exportName).replace(/%2F/g, '/');
  const base = `${tls ? 'nbds' : 'nbd'}://127.0.0.1:${port}/${name}`;
  return tls ? `${base}?tls-certificates=${encodeURIComponent(tls.caDir)}` : base;
}

/** One JSON-RPC call to a Manager at `url`; a XenAPI failure throws with its error data. */
export async function rpc(url: string, method: string, params: unknown[]): Promise<any> {
  const res = await fetch(`${url}/jsonrpc`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  const r = (await res.json()) as { result?: unknown; error?: { message: string; data: unknown } };
  if (r.error) throw Object.assign(new Error(`${method}: ${r.error.message}`), { data: r.error.data });
  return r.result;
}

/** The volume (path and format) of VDI `ref` on this host, as the agent lays it out. */
export function volumeOf(db: Database, ref: string) {
  const v = db.mustGet('VDI', ref);
  const s = db.mustGet('SR', String(v.SR));
  const pbd = [...db.all('PBD').values()].find((p) => p.SR === v.SR)!;
  return volumePath(
    String(s.type),
    String(s.uuid),
    pbd.device_config as Record<string, string>,
    String(v.location),
  )!;
}

/** A 64 MiB VDI in the default SR with 1 MiB of 0x5a at 0 and of 0xa5 at 32 MiB (the rest holes). */
export async function patternedVdi(
  call: (method: string, ...args: unknown[]) => Promise<any>,
  db: Database,
  name: string,
): Promise<string> {
  const pool = (await call('pool.get_all'))[0];
  const sr = await call('pool.get_default_SR', pool);
  const vdi = await call('VDI.create', {
    SR: sr,
    virtual_size: String(64 * 1024 * 1024),
    type: 'user',
    name_label: name,
    sharable: false,
    read_only: false,
    other_config: {},
  });
  const src = volumeOf(db, vdi);
  for (const [off, pat] of [
    ['0', '0x5a'],
    ['32M', '0xa5'],
  ]) {
    const w = await tool('qemu-io', ['-f', src.format, '-c', `write -P ${pat} ${off} 1M`, src.path]);
    if (w.code !== 0) throw new Error(`qemu-io write: ${w.stderr}`);
  }
  return vdi;
}

/** The data extents ([offset, length], holes and zeroes left out) nbdinfo maps at `uri`. */
export async function nbdinfoDataExtents(uri: string): Promise<[number, number][]> {
  const map = await tool('nbdinfo', ['--map', '--json', uri]);
  if (map.code !== 0) throw new Error(`nbdinfo --map: ${map.stderr}`);
  const extents = JSON.parse(map.stdout) as { offset: number; length: number; type: number }[];
  return extents.filter((e) => (e.type & 1) === 0).map((e) => [e.offset, e.length]);
}
