// The raw QEMU-to-QEMU live migration, the physical limit bench:migrate compares Berth with: the
// test guest (Berth's own QEMU command line, qemuArgs(), TCG) in namespace A, a `-incoming defer`
// QEMU in namespace B joined to A by a veth pair, the migration driven straight through QMP with
// the parameters Berth uses (downtime-limit, no bandwidth limit). With `tls`, both QEMUs use
// tls-creds-x509 with verify-peer and a pool CA's host certificates, as Berth must between hosts;
// without, plain TCP (what no Berth host may do: the bare wire's figure).
//
// Measured: the wall time from starting the destination QEMU to the guest running there (what
// VM.pool_migrate does end to end), QEMU's own total-time and downtime (query-migrate), and the
// guest's counter gap across the switch-over (test/helpers/guest-counter.ts).
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { qemuArgs, runtimePaths } from '../../src/agent/qemu/command-line.js';
import { QmpClient } from '../../src/agent/qemu/qmp.js';
import { CA_CERT, createPoolCa, HOST_CERT, HOST_KEY, issueHostCert } from '../../src/shared/pki/pool-pki.js';
import type { InstanceSpec } from '../../src/shared/noded/instance.js';
import { ConsoleRecorder, counterStats, switchGap } from '../../test/helpers/guest-counter.js';
import { GUEST_DIR } from '../../test/helpers/stack.js';
import { loadGuest } from './guest-load.js';
import { createVethPair, type VethPair } from './veth-pair.js';

const MiB = 1024 * 1024;
/** "No limit" as libvirt sets it (QEMU's own default is 32 MiB/s). */
export const UNLIMITED_BANDWIDTH = Number.MAX_SAFE_INTEGER;
const PORT = 49152;

export interface MigrationFigures {
  /** Start of the destination QEMU → the guest running there, ms. */
  wallMs: number;
  /** `migrate` → status completed, ms (as seen by polling every 20 ms). */
  migrateMs: number;
  qemuTotalMs?: number;
  qemuDowntimeMs?: number;
  /** The guest's counter: the gap across the switch-over and the largest gap overall. */
  counterGapMs?: number;
  counterMaxGapMs: number;
  counterStepMs: number;
  counterBackwards: number;
  ramTransferredMiB?: number;
}

export interface PeerOptions {
  memoryMiB: number;
  fillMiB: number;
  downtimeMs: number;
  tls: boolean;
  log?: (s: string) => void;
}

/** The guest's spec: Berth's test template with `memoryMiB` of RAM. */
export function benchSpec(uuid: string, memoryMiB: number): InstanceSpec {
  return {
    uuid,
    name: `bench-migrate-${uuid.slice(0, 8)}`,
    vcpus: 1,
    vcpusMax: 1,
    memoryBytes: memoryMiB * MiB,
    memoryMaxBytes: memoryMiB * MiB,
    kernel: join(GUEST_DIR, 'vmlinuz'),
    initrd: join(GUEST_DIR, 'initrd.img'),
    cmdline: 'console=ttyS0 panic=-1',
    disks: [],
    nics: [],
    balloon: false,
    startPaused: false,
  };
}

interface Qemu {
  proc: ChildProcess;
  qmp: QmpClient;
  serial: string;
}

async function startQemu(
  pair: VethPair,
  ns: string,
  dir: string,
  spec: InstanceSpec,
  incoming: boolean,
): Promise<Qemu> {
  const paths = runtimePaths(dir, dir, spec.uuid);
  mkdirSync(paths.dir, { recursive: true });
  const args = qemuArgs(spec, paths, { accel: 'tcg', incoming });
  const proc = pair.spawn(ns, 'qemu-system-x86_64', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr?.on('data', (d) => {
    err += String(d);
  });
  for (let i = 0; i < 200; i++) {
    if (proc.exitCode !== null) break;
    const qmp = await QmpClient.connect(paths.qmp, 2000).catch(() => undefined);
    if (qmp) return { proc, qmp, serial: paths.serial };
    await new Promise((r) => setTimeout(r, 50));
  }
  proc.kill('SIGKILL');
  throw new Error(`QEMU in ${ns} did not start: ${err.slice(-500)}`);
}

/** The x509 credential directories QEMU wants: server on the destination, client on the source. */
async function tlsDirs(
  base: string,
  srcAddr: string,
  dstAddr: string,
): Promise<{ src: string; dst: string }> {
  const ca = join(base, 'ca');
  await createPoolCa(ca, 'bench-migrate');
  const out = { src: join(base, 'tls-src'), dst: join(base, 'tls-dst') };
  for (const [role, addr, dir] of [
    ['client', srcAddr, out.src],
    ['server', dstAddr, out.dst],
  ] as const) {
    const issued = join(base, `issued-${role}`);
    await issueHostCert(ca, randomUUID(), addr, issued);
    mkdirSync(dir, { mode: 0o700 });
    copyFileSync(join(issued, CA_CERT), join(dir, 'ca-cert.pem'));
    copyFileSync(join(issued, HOST_CERT), join(dir, `${role}-cert.pem`));
    copyFileSync(join(issued, HOST_KEY), join(dir, `${role}-key.pem`));
  }
  return out;
}

interface QueryMigrate {
  status?: string;
  'total-time'?: number;
  downtime?: number;
  ram?: { transferred?: number };
  'error-desc'?: string;
}

/** Polls query-migrate until the migration ends; the last answer. */
export async function waitMigrated(qmp: QmpClient, timeoutMs: number): Promise<QueryMigrate> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const q = await qmp.command<QueryMigrate>('query-migrate');
    if (q.status === 'completed') return q;
    if (q.status === 'failed' || q.status === 'cancelled')
      throw new Error(`migration ${q.status}: ${q['error-desc'] ?? ''}`);
    if (Date.now() > deadline) throw new Error(`migration still ${q.status} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** One raw QEMU-to-QEMU migration of the loaded guest; every process and namespace removed after. */
export async function peerMigration(o: PeerOptions): Promise<MigrationFigures> {
  const log = o.log ?? (() => undefined);
  const pair = await createVethPair();
  const base = mkdtempSync(join(tmpdir(), 'berth-bench-migrate-peer-'));
  const rec = new ConsoleRecorder();
  const qemus: Qemu[] = [];
  try {
    const spec = benchSpec(randomUUID(), o.memoryMiB);
    const src = await startQemu(pair, pair.nsA, join(base, 'src'), spec, false);
    qemus.push(src);
    const srcTap = await rec.tap(src.serial, 'src');
    await src.qmp.command('cont');
    await loadGuest(rec, srcTap, o.fillMiB, log);

    const t0 = performance.now();
    const dst = await startQemu(pair, pair.nsB, join(base, 'dst'), spec, true);
    qemus.push(dst);
    await rec.tap(dst.serial, 'dst');
    const params: Record<string, unknown> = {
      'downtime-limit': o.downtimeMs,
      'max-bandwidth': UNLIMITED_BANDWIDTH,
    };
    if (o.tls) {
      const dirs = await tlsDirs(base, pair.addrA, pair.addrB);
      for (const [q, dir, endpoint] of [
        [dst, dirs.dst, 'server'],
        [src, dirs.src, 'client'],
      ] as const)
        await q.qmp.command('object-add', {
          'qom-type': 'tls-creds-x509',
          id: 'bench-tls',
          dir,
          endpoint,
          'verify-peer': true,
        });
      await dst.qmp.command('migrate-set-parameters', { 'tls-creds': 'bench-tls' });
      params['tls-creds'] = 'bench-tls';
      params['tls-hostname'] = pair.addrB;
    }
    await dst.qmp.command('migrate-incoming', { uri: `tcp:${pair.addrB}:${PORT}` });
    await src.qmp.command('migrate-set-parameters', params);
    const t1 = performance.now();
    await src.qmp.command('migrate', { uri: `tcp:${pair.addrB}:${PORT}` });
    const q = await waitMigrated(src.qmp, 600_000);
    const t2 = performance.now();
    // The destination comes up paused (no autostart with -S): cont, as the agent's finish_dst.
    await dst.qmp.command('cont');
    const t3 = performance.now();
    await src.qmp.command('quit').catch(() => undefined);
    await rec.waitCounting(30, 60_000);
    const lines = rec.lines();
    const stats = counterStats(lines);
    const gap = switchGap(lines, 'src', 'dst');
    const firstDst = lines.find((l) => l.side === 'dst');
    const lastSrc = lines.filter((l) => l.side === 'src').at(-1);
    log(
      `peer${o.tls ? ' tls' : ''}: last source line → completed seen ${lastSrc ? Math.round(t2 - lastSrc.at) : '?'} ms, ` +
        `cont ${Math.round(t3 - t2)} ms, cont → first destination line ${firstDst ? Math.round(firstDst.at - t3) : '?'} ms`,
    );
    log(
      `peer${o.tls ? ' tls' : ''}: wall ${Math.round(t3 - t0)} ms, migrate ${Math.round(t2 - t1)} ms, ` +
        `qemu total ${q['total-time']} ms downtime ${q.downtime} ms, counter gap ${gap ? Math.round(gap.ms) : '?'} ms ` +
        `(${gap?.from}→${gap?.to}), max ${Math.round(stats.maxGap.ms)} ms`,
    );
    return {
      wallMs: t3 - t0,
      migrateMs: t2 - t1,
      qemuTotalMs: q['total-time'],
      qemuDowntimeMs: q.downtime,
      counterGapMs: gap?.ms,
      counterMaxGapMs: stats.maxGap.ms,
      counterStepMs: stats.medianStepMs,
      counterBackwards: stats.backwards.length,
      ramTransferredMiB: q.ram?.transferred === undefined ? undefined : q.ram.transferred / MiB,
    };
  } catch (e) {
    log(`peer console, last 3000 characters:\n${rec.text().slice(-3000)}`);
    throw e;
  } finally {
    rec.close();
    for (const q of qemus) {
      q.qmp.close();
      q.proc.kill('SIGKILL');
    }
    await pair.destroy();
    rmSync(base, { recursive: true, force: true });
  }
}
