// Test fixtures for the NBD export server: a real qemu-nbd backend on a Unix socket, a TLS
// certificate made by openssl, and runners for libnbd's tools (nbdinfo, nbdcopy) and qemu-img.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { promisify } from 'node:util';
import { ensureSelfSignedCert } from '../../../src/manager/tls.js';
import type { Backend } from '../../../src/manager/nbd/backend.js';

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
