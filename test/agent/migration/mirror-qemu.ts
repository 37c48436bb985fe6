// Bare QEMUs for the mirror tests: -machine none, paused, qcow2 drives (if=none: each has a
// BlockBackend `drive-vbd-<device>`, as the agent's command line names a VM's disks), a QMP
// monitor and the fd-passing monitor the agent hands descriptors to (as a VM's).
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { QmpClient } from '../../../src/agent/qemu/qmp.js';
import {
  CA_CERT,
  createPoolCa,
  HOST_CERT,
  HOST_KEY,
  issueHostCert,
} from '../../../src/shared/pki/pool-pki.js';

export interface BareVm {
  qmp: QmpClient;
  fdpass: string;
  proc: ChildProcess;
}

/**
 * Registers the hook that kills every QEMU started (call BEFORE tempDir(t)) and returns `start`:
 * a QEMU over `dir` with `disks` (device → qcow2 path), optionally waiting for an incoming
 * migration (-incoming defer).
 */
export function bareQemus(t: TestContext) {
  const procs: ChildProcess[] = [];
  const clients: QmpClient[] = [];
  t.after(async () => {
    for (const c of clients) c.close();
    for (const p of procs) {
      if (p.exitCode === null && p.signalCode === null) {
        const gone = new Promise((r) => p.once('exit', r));
        p.kill('SIGKILL');
        await gone;
      }
    }
  });
  return async (dir: string, disks: Record<string, string>, incoming = false): Promise<BareVm> => {
    mkdirSync(dir, { recursive: true });
    const sock = join(dir, 'qmp.sock');
    const fdpass = join(dir, 'fdpass.sock');
    const p = spawn(
      'qemu-system-x86_64',
      [
        ...['-machine', 'none', '-nodefaults', '-display', 'none', '-S'],
        ...['-chardev', `socket,id=qmp,path=${sock},server=on,wait=off`, '-mon', 'chardev=qmp,mode=control'],
        ...[
          '-chardev',
          `socket,id=fdp,path=${fdpass},server=on,wait=off`,
          '-mon',
          'chardev=fdp,mode=control',
        ],
        ...Object.entries(disks).flatMap(([device, path]) => [
          '-drive',
          `if=none,id=drive-vbd-${device},file=${path},format=qcow2,auto-read-only=off`,
        ]),
        ...(incoming ? ['-incoming', 'defer'] : []),
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    procs.push(p);
    let qmp: QmpClient | undefined;
    for (let i = 0; i < 200 && !qmp && p.exitCode === null; i++)
      qmp = await QmpClient.connect(sock, 2000).catch(async () => {
        await new Promise((r) => setTimeout(r, 50));
        return undefined;
      });
    assert.ok(qmp, 'QMP up');
    clients.push(qmp);
    return { qmp, fdpass, proc: p };
  };
}

/** Ends a bare QEMU with `quit` (it flushes and closes its images) and waits for its exit. */
export async function quit(vm: BareVm): Promise<void> {
  if (vm.proc.exitCode !== null || vm.proc.signalCode !== null) return;
  const gone = new Promise((r) => vm.proc.once('exit', r));
  await vm.qmp.command('quit').catch(() => undefined);
  await gone;
}

export const sh = (cmd: string, ...args: string[]) => execFileSync(cmd, args, { encoding: 'utf8' });

/** A qcow2 image of `size` with known data written by qemu-io (`writes`: [pattern, offset, len]). */
export function image(path: string, size: string, writes: [number, number, number][] = []): string {
  sh('qemu-img', 'create', '-q', '-f', 'qcow2', path, size);
  for (const [pat, off, len] of writes)
    sh('qemu-io', '-f', 'qcow2', '-c', `write -P ${pat} ${off} ${len}`, path);
  return path;
}

/** True when qemu-img compare finds the two images' guest-visible contents equal. */
export function sameContent(a: string, b: string): boolean {
  try {
    sh('qemu-img', 'compare', '-U', a, b);
    return true;
  } catch {
    return false;
  }
}

/**
 * Pool PKI for two hosts at 127.0.0.1, laid out as QEMU's tls-creds-x509 wants it: `server/`
 * (ca-cert.pem, server-cert.pem, server-key.pem) and `client/` (ca-cert.pem, client-*.pem).
 */
export async function qemuTlsDirs(dir: string): Promise<{ server: string; client: string }> {
  const ca = join(dir, 'ca');
  mkdirSync(ca, { recursive: true });
  await createPoolCa(ca, 'mirror-agent test');
  const out = { server: join(dir, 'server'), client: join(dir, 'client') };
  const hosts = {
    server: '11111111-2222-4333-8444-555555555555',
    client: '11111111-2222-4333-8444-666666666666',
  };
  for (const end of ['server', 'client'] as const) {
    const issued = join(dir, `issued-${end}`);
    mkdirSync(issued, { recursive: true });
    await issueHostCert(ca, hosts[end], '127.0.0.1', issued);
    mkdirSync(out[end], { recursive: true });
    copyFileSync(join(issued, CA_CERT), join(out[end], 'ca-cert.pem'));
    copyFileSync(join(issued, HOST_CERT), join(out[end], `${end}-cert.pem`));
    copyFileSync(join(issued, HOST_KEY), join(out[end], `${end}-key.pem`));
  }
  return out;
}
