// The end of a migration on either side (Ganeti's finalize_migration_dst/src, abort) and its
// status. Every end is idempotent: a VM already finished, or gone, is left as it is.
//   source, success:      QEMU ends (no event: the VM runs on at the destination), files go;
//   source, failure:      migration cancelled if still running, credentials and TLS parameters
//                         cleared, the guest runs on here (`cont` if it ran before);
//   destination, success: once QEMU completed the incoming stream, credentials go and `cont`
//                         (unless the spec says paused): an ordinary VM of this agent
//                         (event 'running', reason 'migrated-in');
//   destination, failure: QEMU is killed (no event), its files go.
import { XenApiError } from '../../shared/errors.js';
import { logger } from '../../shared/log.js';
import type { MigrationStatus } from '../../shared/host/migration.js';
import type { InstanceInfo } from '../../shared/noded/instance.js';
import { sleep } from '../qemu/proc.js';
import type { QmpClient } from '../qemu/qmp.js';
import type { QemuVm } from '../qemu/vm-process.js';
import type { MigrationContext } from './context.js';
import { readMigrationMark, removeMigrationMark } from './mark.js';
import { releaseMigrationDir } from './qemu-dir.js';
import { migrationStatus, NO_MIGRATION, type QemuMigrationInfo } from './status.js';
import { TLS_CREDS_ID } from './tls-creds.js';
import { cancelMirrors, finishMirrors, mirrorProgress, stopMirrorTargets } from './mirror.js';
import { drive } from './outgoing.js';

const log = logger('migration');

/** How long a finish waits for QEMU to reach the end of the stream (destination) or a cancel. */
export const SETTLE_MS = 30_000;

const query = (qmp: QmpClient) => qmp.command<QemuMigrationInfo>('query-migrate');

/** Polls query-migrate until `done` or `ms` pass; the last answer. */
async function waitMigrate(
  qmp: QmpClient,
  done: (status: string | undefined) => boolean,
  ms: number,
): Promise<QemuMigrationInfo> {
  const deadline = Date.now() + ms;
  for (;;) {
    const q = await query(qmp);
    if (done(q.status) || Date.now() > deadline) return q;
    await sleep(20);
  }
}

const running = (s: string | undefined) =>
  s !== undefined && !['none', 'completed', 'failed', 'cancelled'].includes(s);

/** TLS credentials and parameters out of QEMU, the migration dir and mark gone. */
async function clearMigration(vm: QemuVm): Promise<void> {
  const qmp = vm.requireQmp();
  // Destination of a storage migration: its NBD server goes before the guest runs here.
  if (vm.migrating === 'in') await stopMirrorTargets(qmp);
  await qmp.command('migrate-set-parameters', { 'tls-creds': '', 'tls-hostname': '' }).catch(() => undefined);
  await qmp.command('object-del', { id: TLS_CREDS_ID }).catch(() => undefined);
  releaseMigrationDir(vm.paths.dir);
  removeMigrationMark(vm.paths.dir);
}

/** Source, failure: the migration stops and the guest runs on here as it did before. */
async function keepSource(vm: QemuVm): Promise<void> {
  const qmp = vm.requireQmp();
  const mark = readMigrationMark(vm.paths.dir);
  const q = await query(qmp);
  if (running(q.status)) {
    await qmp.command('migrate_cancel');
    await waitMigrate(qmp, (s) => !running(s), SETTLE_MS);
  }
  if (mark?.mirror) {
    // The copies are abandoned: the guest's disks stay where they are.
    await cancelMirrors(qmp, { force: true }).catch((e) =>
      log.warn('could not cancel the disk mirrors', { uuid: vm.spec.uuid, error: String(e) }),
    );
    await finishMirrors(qmp, mark.mirror);
  }
  await clearMigration(vm);
  // QEMU resumes a live guest itself after a failed or cancelled migration; not one the agent
  // stopped (non-live), nor one whose migration completed.
  await vm.endMigration(mark?.wasRunning ?? true, 'migration-failed');
}

export async function finishSource(
  ctx: MigrationContext,
  uuid: string,
  success: boolean,
  /** The VM when the caller already holds its operation queue. */
  held?: QemuVm,
): Promise<void> {
  if (held) return keepSource(held);
  if (!ctx.vms.peek(uuid)) return; // gone already (finished before)
  if (!success) {
    await ctx.vms.withVm(uuid, async (vm) => {
      if (vm.migrating === 'out') await keepSource(vm);
    });
    return;
  }
  const vm = ctx.vms.peek(uuid);
  if (!vm) return;
  if (vm.migrating !== 'out') throw new XenApiError('VM_BAD_POWER_STATE', [uuid, 'migrating', vm.state]);
  const q = await query(vm.requireQmp());
  const mark = readMigrationMark(vm.paths.dir);
  // Never end the only copy of a guest: its state (and its disks) must have reached the destination.
  if (mark?.mirror && mark.stage !== 'completed')
    throw new XenApiError('VM_MIGRATE_FAILED', [uuid, '', '', `the storage migration is ${mark.stage}`]);
  if (q.status !== 'completed')
    throw new XenApiError('VM_MIGRATE_FAILED', [
      uuid,
      '',
      '',
      `the migration is ${q.status ?? 'none'}, not completed`,
    ]);
  await ctx.vms.endMigrated(uuid);
  log.info('migrated away', { uuid });
}

export async function finishDestination(
  ctx: MigrationContext,
  uuid: string,
  success: boolean,
): Promise<InstanceInfo> {
  const vm = ctx.vms.peek(uuid);
  if (!vm) {
    if (success) throw new XenApiError('VM_BAD_POWER_STATE', [uuid, 'running', 'halted']);
    return { uuid, state: 'absent' };
  }
  // An ordinary VM (finished before, or one that never migrated in) is not touched.
  if (vm.migrating !== 'in') return vm.info();
  if (!success) {
    await ctx.vms.endMigrated(uuid);
    return { uuid, state: 'absent' };
  }
  return ctx.vms.withVm(uuid, async (v) => {
    if (v.migrating !== 'in') return v.info();
    const q = await waitMigrate(v.requireQmp(), (s) => !running(s), SETTLE_MS);
    if (q.status !== 'completed')
      throw new XenApiError('VM_MIGRATE_FAILED', [
        uuid,
        '',
        '',
        `the incoming migration is ${q.status ?? 'not started'}${q['error-desc'] ? `: ${q['error-desc']}` : ''}`,
      ]);
    await clearMigration(v);
    await v.endMigration(!v.spec.startPaused, 'migrated-in');
    log.info('migrated in', { uuid, state: v.state });
    return v.info();
  });
}

/**
 * Source: cancels and the guest runs on here; destination: as finish_dst(false). A source whose
 * stream already completed is left as it is: the destination may hold (or run) the guest now, and
 * only the manager's finish_src(false) may resume it here (an abort racing the end of the stream,
 * e.g. a task.cancel, must not leave the guest running on both hosts).
 */
export async function abortMigration(ctx: MigrationContext, uuid: string): Promise<void> {
  const vm = ctx.vms.peek(uuid);
  if (vm?.migrating === 'in') await finishDestination(ctx, uuid, false);
  else if (vm?.migrating === 'out')
    await ctx.vms.withVm(uuid, async (v) => {
      if (v.migrating !== 'out') return;
      const qmp = v.requireQmp();
      if (running((await query(qmp)).status)) {
        await qmp.command('migrate_cancel');
        await waitMigrate(qmp, (st) => !running(st), SETTLE_MS);
      }
      if ((await query(qmp)).status === 'completed') {
        log.info('abort after the stream completed: left to finish_src', { uuid });
        return;
      }
      await keepSource(v);
    });
}

/**
 * query-migrate of the VM's QEMU as a MigrationStatus ('none' without a VM here); for a storage
 * migration also its disks, and 'device' until the mirrors ended after the memory completed.
 */
export async function statusOf(ctx: MigrationContext, uuid: string): Promise<MigrationStatus> {
  const vm = ctx.vms.peek(uuid);
  if (!vm) return NO_MIGRATION;
  const qmp = vm.requireQmp();
  const mark = vm.migrating === 'out' ? readMigrationMark(vm.paths.dir) : undefined;
  if (!mark?.mirror) return migrationStatus(await query(qmp));
  drive(ctx, uuid); // after an agent restart nothing drives it yet
  const done = mark.stage === 'completed';
  const p = done ? undefined : await mirrorProgress(qmp).catch(() => undefined);
  const disk = {
    transferred: done ? (mark.diskTotal ?? 0) : (p?.transferred ?? 0),
    total: done ? (mark.diskTotal ?? 0) : (p?.total ?? 0),
    mirroring: mark.stage === 'mirroring',
  };
  const s = migrationStatus(await query(qmp), disk);
  if (mark.stage === 'failed')
    return { ...s, phase: 'failed', error: mark.error ?? 'storage migration failed' };
  if (s.phase === 'completed' && !done)
    return { ...s, phase: 'device', progress: Math.min(s.progress, 0.99) };
  return s;
}
