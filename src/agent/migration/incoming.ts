// Destination side (instance_migration_accept): QEMU started for the spec with `-incoming
// defer`, then `migrate-incoming` on a port of MIGRATION_PORTS at the host's address with TLS
// (server credentials, the source's host certificate verified against the pool CA), or on a
// Unix socket in the VM's migration dir for a migration within the host.
import { join } from 'node:path';
import { XenApiError } from '../../shared/errors.js';
import { logger } from '../../shared/log.js';
import { type AcceptOptions, type IncomingMigration, MIGRATION_PORTS } from '../../shared/host/migration.js';
import type { InstanceSpec } from '../../shared/noded/instance.js';
import type { QmpClient } from '../qemu/qmp.js';
import { type MigrationContext, qemuUser, uriHost } from './context.js';
import { writeMigrationMark } from './mark.js';
import { prepareMigrationDir } from './qemu-dir.js';
import { stageTlsCreds, TLS_CREDS_ID, tlsCredsObject } from './tls-creds.js';
import { finishDestination } from './finish.js';
import { serveMirrorTargets } from './mirror.js';

const log = logger('migration');

/** The Unix socket an incoming migration within the host listens on (in the migration dir). */
export const incomingSocket = (migrationDir: string) => join(migrationDir, 'in.sock');
/** The Unix socket of the NBD server of a storage migration within the host. */
export const incomingNbdSocket = (migrationDir: string) => join(migrationDir, 'nbd.sock');

/** Is QEMU's refusal of a listening address "that port is taken" (try the next one)? (pure) */
export const portTaken = (message: string) => /address already in use|failed to bind/i.test(message);

/** Listens on the first free port of MIGRATION_PORTS; returns it. */
async function listenOnFreePort(qmp: QmpClient, address: string): Promise<number> {
  let last = '';
  for (let port = MIGRATION_PORTS.first; port <= MIGRATION_PORTS.last; port++) {
    try {
      await qmp.command('migrate-incoming', { uri: `tcp:${uriHost(address)}:${port}` });
      return port;
    } catch (e) {
      last = e instanceof Error ? e.message : String(e);
      if (!portTaken(last)) throw e;
    }
  }
  throw new Error(`no free migration port in ${MIGRATION_PORTS.first}-${MIGRATION_PORTS.last}: ${last}`);
}

export async function acceptMigration(
  ctx: MigrationContext,
  spec: InstanceSpec,
  opts: AcceptOptions,
): Promise<IncomingMigration> {
  for (const m of opts.mirror)
    if (!spec.disks?.some((d) => d.device === m.device && !d.cdrom))
      throw new XenApiError('VM_REQUIRES_VDI', [spec.uuid, m.device]);
  const transport = opts.address === '' ? 'unix' : 'tls';
  await ctx.vms.startIncoming(spec);
  try {
    return await ctx.vms.withVm(spec.uuid, async (vm) => {
      const qmp = vm.requireQmp();
      const who = qemuUser(ctx, vm);
      const dir = prepareMigrationDir(vm.paths.dir, who);
      let port = 0;
      let socket: string | undefined;
      if (transport === 'tls') {
        stageTlsCreds(ctx.pkiDir, dir, 'server', who);
        await qmp.command('object-add', tlsCredsObject(dir, 'server'));
        await qmp.command('migrate-set-parameters', { 'tls-creds': TLS_CREDS_ID });
        port = await listenOnFreePort(qmp, opts.address);
      } else {
        socket = incomingSocket(dir);
        await qmp.command('migrate-incoming', { uri: `unix:${socket}` });
      }
      // Storage migration: this QEMU serves the mirrored disks' new volumes (mirror.ts).
      const nbd = opts.mirror.length
        ? await serveMirrorTargets(
            qmp,
            opts.mirror,
            transport === 'tls'
              ? { transport: 'tls', address: opts.address, tlsCredsId: TLS_CREDS_ID }
              : { transport: 'unix', socket: incomingNbdSocket(dir), fdpass: vm.paths.fdpass },
          )
        : undefined;
      writeMigrationMark(vm.paths.dir, {
        role: 'dst',
        transport,
        wasRunning: false,
        pausedByMigration: false,
        port,
        socket,
        startedAt: Date.now(),
      });
      log.info('waiting for an incoming migration', { uuid: spec.uuid, transport, port });
      return {
        transport,
        address: opts.address,
        port,
        ...(socket ? { socket } : {}),
        ...(nbd ? { nbd } : {}),
      };
    });
  } catch (e) {
    await finishDestination(ctx, spec.uuid, false).catch(() => undefined);
    const msg = e instanceof Error ? e.message : String(e);
    throw e instanceof XenApiError ? e : new XenApiError('VM_MIGRATE_FAILED', [spec.uuid, '', '', msg]);
  }
}
