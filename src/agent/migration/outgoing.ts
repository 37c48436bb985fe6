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
import type { QemuVm } from '../qemu/vm-process.js';
import { type MigrationContext, qemuUser, uriHost } from './context.js';
import { finishSource } from './finish.js';
import { type MigrationMark, writeMigrationMark } from './mark.js';
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
    const mark: MigrationMark = {
      role: 'src',
      transport: target.transport,
      wasRunning: vm.state === 'running',
      pausedByMigration: false,
      port: target.port,
      startedAt: Date.now(),
    };
    writeMigrationMark(vm.paths.dir, mark);
    vm.migrating = 'out';
    try {
      if (target.nbd)
        // MIRROR CALL SITE (slice mirror-agent, src/agent/migration/mirror.ts): mirror every
        // disk into target.nbd's exports, memory once all are ready. Not merged yet.
        throw new Error('storage migration is not available yet');
      if (target.transport === 'tls') {
        const dir = prepareMigrationDir(vm.paths.dir, qemuUser(ctx, vm));
        stageTlsCreds(ctx.pkiDir, dir, 'client', qemuUser(ctx, vm));
        await qmp.command('object-del', { id: TLS_CREDS_ID }).catch(() => undefined);
        await qmp.command('object-add', tlsCredsObject(dir, 'client'));
      }
      await qmp.command('migrate-set-parameters', sourceParameters(target, params));
      if (!params.live && mark.wasRunning) {
        mark.pausedByMigration = true;
        writeMigrationMark(vm.paths.dir, mark); // before the stop: a restart must not lose it
        await qmp.command('stop');
      }
      await startStream(vm, target);
      log.info('migration started', { uuid, transport: target.transport, live: params.live });
    } catch (e) {
      await finishSource(ctx, uuid, false, vm).catch(() => undefined);
      const msg = e instanceof Error ? e.message : String(e);
      throw e instanceof XenApiError ? e : new XenApiError('VM_MIGRATE_FAILED', [uuid, '', '', msg]);
    }
  });
}
