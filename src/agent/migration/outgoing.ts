// Source side (instance_migrate): migration parameters (downtime target, bandwidth, TLS with
// this host's certificate as client, the destination's address as the name its certificate
// must carry), a non-live migration's `stop`, then `migrate`; returns once QEMU streams. Within
// the host the agent connects to the destination's Unix socket itself and hands QEMU the
// connected descriptor (an unprivileged QEMU cannot reach the other VM's runtime dir).
import { connect, type Socket } from 'node:net';
import { XenApiError } from '../../shared/errors.js';
import { logger } from '../../shared/log.js';
import type { IncomingMigration, MigrationParams } from '../../shared/host/migration.js';
import { passFd } from '../qemu/fdpass.js';
import { sleep } from '../qemu/proc.js';
import type { QemuVm } from '../qemu/vm-process.js';
import { type MigrationContext, qemuUser, uriHost } from './context.js';
import { finishSource } from './finish.js';
import { type MigrationMark, readMigrationMark, writeMigrationMark } from './mark.js';
import { cancelMirrors, finishMirrors, mirrorProgress, startMirrors } from './mirror.js';
import type { QemuMigrationInfo } from './status.js';
import { prepareMigrationDir } from './qemu-dir.js';
import { stageTlsCreds, TLS_CREDS_ID, tlsCredsObject } from './tls-creds.js';

const log = logger('migration');

/** QEMU's max-bandwidth for "no limit" (bytes/s; QEMU's own default is 128 MiB/s). */
export const UNLIMITED_BANDWIDTH = 64 * 1024 * 1024 * 1024;

/** The `migrate-set-parameters` arguments for a migration to `target` (pure). */
export function sourceParameters(
  target: IncomingMigration,
  params: MigrationParams,
): Record<string, unknown> {
  return {
    'downtime-limit': Math.round(params.downtimeMs),
    'max-bandwidth': params.bandwidth > 0 ? Math.round(params.bandwidth) : UNLIMITED_BANDWIDTH,
    'tls-creds': target.transport === 'tls' ? TLS_CREDS_ID : '',
    'tls-hostname': target.transport === 'tls' ? target.address : '',
  };
}

/** Connects to a Unix socket without reading from it (the descriptor goes to QEMU). */
function connectPaused(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ path });
    s.pause();
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/** The OS descriptor of a connected socket (Node keeps it in the handle). */
function socketFd(s: Socket): number {
  const fd = (s as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('no descriptor for the migration socket');
  return fd;
}

async function startStream(vm: QemuVm, target: IncomingMigration): Promise<void> {
  if (target.transport === 'tls') {
    await vm.requireQmp().command('migrate', { uri: `tcp:${uriHost(target.address)}:${target.port}` });
    return;
  }
  const s = await connectPaused(target.socket ?? '');
  try {
    await passFd(
      vm.paths.fdpass,
      'berth-migrate',
      { execute: 'migrate', arguments: { uri: 'fd:berth-migrate' } },
      { fd: socketFd(s) },
    );
  } finally {
    s.destroy(); // QEMU holds its own copy
  }
}

/** The memory part: a non-live migration's `stop` (recorded first), then the stream. */
async function beginMemory(vm: QemuVm, mark: MigrationMark, target: IncomingMigration, live: boolean) {
  if (!live && mark.wasRunning) {
    mark.pausedByMigration = true;
    writeMigrationMark(vm.paths.dir, mark); // before the stop: a restart must not lose it
    await vm.requireQmp().command('stop');
  }
  await startStream(vm, target);
  if (mark.mirror) {
    mark.stage = 'memory';
    writeMigrationMark(vm.paths.dir, mark);
  }
}

export async function startMigration(
  ctx: MigrationContext,
  uuid: string,
  target: IncomingMigration,
  params: MigrationParams,
): Promise<void> {
  await ctx.vms.withVm(uuid, async (vm) => {
    if (vm.migrating)
      throw new XenApiError('OPERATION_NOT_ALLOWED', [`VM ${uuid} is already migrating in or out`]);
    const qmp = vm.requireQmp();
    const devices = target.nbd ? Object.keys(target.nbd.exports) : [];
    const mark: MigrationMark = {
      role: 'src',
      transport: target.transport,
      wasRunning: vm.state === 'running',
      pausedByMigration: false,
      port: target.port,
      startedAt: Date.now(),
      ...(devices.length ? { mirror: devices, stage: 'mirroring' as const, target, params } : {}),
    };
    writeMigrationMark(vm.paths.dir, mark);
    vm.migrating = 'out';
    try {
      for (const d of devices)
        if (!vm.spec.disks.some((x) => x.device === d && !x.cdrom))
          throw new XenApiError('VM_REQUIRES_VDI', [uuid, d]);
      if (target.transport === 'tls') {
        const dir = prepareMigrationDir(vm.paths.dir, qemuUser(ctx, vm));
        if (!target.tls)
          throw new XenApiError('VM_MIGRATE_FAILED', [
            uuid,
            '',
            '',
            'the target has no migration credentials',
          ]);
        stageTlsCreds(target.tls, dir, 'client', qemuUser(ctx, vm));
        await qmp.command('object-del', { id: TLS_CREDS_ID }).catch(() => undefined);
        await qmp.command('object-add', tlsCredsObject(dir, 'client'));
      }
      await qmp.command('migrate-set-parameters', sourceParameters(target, params));
      if (target.nbd && devices.length) {
        // Disks first (libvirt's order): memory follows once every mirror is in sync (advance).
        await startMirrors(qmp, target.nbd, devices, {
          speed: params.bandwidth, // the disk copies share the migration's limit (per disk)
          ...(target.nbd.socket
            ? { fdpass: vm.paths.fdpass }
            : { tlsCredsId: TLS_CREDS_ID, tlsHostname: target.address }),
        });
        log.info('disk mirroring started', { uuid, devices });
      } else {
        await beginMemory(vm, mark, target, params.live);
        log.info('migration started', { uuid, transport: target.transport, live: params.live });
      }
    } catch (e) {
      await finishSource(ctx, uuid, false, vm).catch(() => undefined);
      const msg = e instanceof Error ? e.message : String(e);
      throw e instanceof XenApiError ? e : new XenApiError('VM_MIGRATE_FAILED', [uuid, '', '', msg]);
    }
  });
  if (target.nbd) drive(ctx, uuid);
}

/**
 * One step of a storage migration on the source (pure over QEMU's answers, under the VM's queue):
 * mirrors in sync → memory starts; memory completed (guest paused) → `block-job-cancel` leaves
 * each target a consistent copy and the jobs go; a failure is recorded. True once nothing is
 * left to do.
 */
export async function advance(vm: QemuVm): Promise<boolean> {
  const mark = readMigrationMark(vm.paths.dir);
  if (vm.migrating !== 'out' || !mark?.mirror || !mark.target || !mark.params) return true;
  const qmp = vm.requireQmp();
  const fail = (error: string) => {
    Object.assign(mark, { stage: 'failed', error });
    writeMigrationMark(vm.paths.dir, mark);
    log.warn('storage migration failed', { uuid: vm.spec.uuid, error });
    return true;
  };
  if (mark.stage === 'mirroring') {
    const p = await mirrorProgress(qmp);
    if (p.error) return fail(p.error);
    const gone = mark.mirror.find((d) => {
      const j = p.jobs.find((x) => x.device === d);
      return !j || ['concluded', 'null', 'aborting'].includes(j.status);
    });
    if (gone) return fail(`the mirror of ${gone} ended before it was in sync`);
    if (!p.ready) return false;
    await beginMemory(vm, mark, mark.target, mark.params.live);
    log.info('disks in sync, memory migration started', { uuid: vm.spec.uuid });
    return false;
  }
  if (mark.stage !== 'memory') return true;
  const q = await qmp.command<QemuMigrationInfo>('query-migrate');
  if (q.status === 'failed' || q.status === 'cancelled')
    return fail(q['error-desc'] ?? `memory migration ${q.status}`);
  if (q.status !== 'completed') return false;
  const total = (await mirrorProgress(qmp)).total;
  const outcome = await cancelMirrors(qmp);
  await finishMirrors(qmp, mark.mirror);
  const bad = outcome.find((o) => !o.consistent);
  if (bad || outcome.length < mark.mirror.length)
    return fail(
      `the copy of ${bad?.device ?? 'a disk'} is not consistent${bad?.error ? `: ${bad.error}` : ''}`,
    );
  Object.assign(mark, { stage: 'completed', diskTotal: total });
  writeMigrationMark(vm.paths.dir, mark);
  log.info('storage migration completed', { uuid: vm.spec.uuid });
  return true;
}

/**
 * How often the driver advances a storage migration, ms. Each step it waits is time added to the
 * migration: mirrors in sync → memory starts, and memory completed (the guest paused on the source)
 * → the jobs are cancelled and the destination may resume. A step is two or three QMP queries.
 */
export const DRIVE_POLL_MS = 50;

/** Per agent, the VMs whose storage migration a loop drives (advance every DRIVE_POLL_MS). */
const drivingBy = new WeakMap<MigrationContext, Set<string>>();

/** Drives the storage migration of `uuid` to its end in the background (one loop per VM). */
export function drive(ctx: MigrationContext, uuid: string): void {
  const driving = drivingBy.get(ctx) ?? new Set<string>();
  drivingBy.set(ctx, driving);
  if (driving.has(uuid)) return;
  driving.add(uuid);
  void (async () => {
    try {
      for (;;) {
        if (!ctx.vms.peek(uuid)) return;
        if (await ctx.vms.withVm(uuid, (vm) => advance(vm))) return;
        await sleep(DRIVE_POLL_MS);
      }
    } catch (e) {
      log.warn('storage migration driver stopped', { uuid, error: String(e) });
    } finally {
      driving.delete(uuid);
    }
  })();
}
