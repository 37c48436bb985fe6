// The move of a running guest with mirrored disks, driven through the migration part of the host
// contract (src/shared/host/migration.ts): destination accept (QEMU waiting, new volumes served
// over NBD), source migrate (mirror, then memory), status until done, finish on both ends.
// Pool-migrate's migrateVm (vm/migrate.ts) is the pool's one entry point for memory migration;
// this file is what storage migration needs of it (an explicit destination spec and mirrored
// disks) and its fallback until that takes those options.
import { XenApiError } from '../../shared/errors.js';
import { NULL_REF } from '../../shared/datamodel/types.js';
import type { MigrationProcedures, MigrationStatus, MirrorDisk } from '../../shared/host/migration.js';
import type { Services } from '../api/context.js';
import type { TaskHandle } from '../tasks/task-manager.js';
import type { InstanceSpec } from './host-agent.js';

export interface StreamOptions {
  /** The guest's instance spec on the destination (its disks on the new volumes). */
  spec: InstanceSpec;
  /** Devices mirrored to the destination before memory moves. */
  mirror: MirrorDisk[];
  live: boolean;
  downtimeMs?: number;
  bandwidth?: number;
  /** How often the source's status is read. */
  pollMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The end a status shows, if any (pure). */
export function outcome(st: MigrationStatus): 'ok' | 'failed' | undefined {
  if (st.phase === 'completed') return 'ok';
  if (st.phase === 'failed' || st.phase === 'cancelled') return 'failed';
  return undefined;
}

type Migration = MigrationProcedures;

/** Polls the source until the migration ends; aborts it when the task is cancelled. */
async function waitForEnd(
  from: Migration,
  uuid: string,
  task: TaskHandle | undefined,
  pollMs: number,
  failed: (why: string) => XenApiError,
): Promise<void> {
  for (;;) {
    if (task?.signal.aborted) {
      await from.instance_migration_abort(uuid).catch(() => undefined);
      task.checkCancelled();
    }
    const st = await from.instance_migration_status(uuid);
    task?.setProgress(Math.min(0.99, st.progress));
    const end = outcome(st);
    if (end === 'ok') return;
    if (end === 'failed') throw failed(st.error ?? st.phase);
    await sleep(pollMs);
  }
}

/**
 * Finalizes both ends (Ganeti's finalize_migration_dst/src; idempotent). Success: the destination
 * takes over first, and only then the source lets go; a destination that cannot take over is
 * finalized as failed and the guest runs on at the source. Returns what went wrong, if anything.
 */
async function finish(
  to: Migration,
  from: Migration,
  uuid: string,
  ok: boolean,
): Promise<string | undefined> {
  if (ok) {
    try {
      await to.instance_migration_finish_dst(uuid, true);
    } catch (e) {
      await finish(to, from, uuid, false);
      return `the destination could not take over: ${String(e)}`;
    }
    await from.instance_migration_finish_src(uuid, true).catch(() => undefined); // the guest runs at dst
    return undefined;
  }
  await Promise.allSettled([
    to.instance_migration_finish_dst(uuid, false),
    from.instance_migration_finish_src(uuid, false),
  ]);
  return undefined;
}

/**
 * Moves running VM `vm` from its host to `dst`; on success the guest runs there and the record
 * says so (resident_on, console location). On failure or cancellation the guest runs on at the
 * source and VM_MIGRATE_FAILED / TASK_CANCELLED is thrown.
 */
export async function streamVm(
  svc: Services,
  task: TaskHandle | undefined,
  vm: string,
  dst: string,
  o: StreamOptions,
): Promise<void> {
  const { db } = svc;
  const rec = db.mustGet('VM', vm);
  const uuid = String(rec.uuid);
  const src = String(rec.resident_on);
  const from = svc.hosts.get(src).migration;
  const to = svc.hosts.get(dst).migration;
  const address = src === dst ? '' : String(db.mustGet('host', dst).address);
  const failed = (why: string) => new XenApiError('VM_MIGRATE_FAILED', [vm, src, dst, why]);
  const incoming = await to.instance_migration_accept(o.spec, { address, mirror: o.mirror });
  try {
    await from.instance_migrate(uuid, incoming, {
      live: o.live,
      downtimeMs: o.downtimeMs ?? 300,
      bandwidth: o.bandwidth ?? 0,
    });
    await waitForEnd(from, uuid, task, o.pollMs ?? 200, failed);
  } catch (e) {
    await finish(to, from, uuid, false);
    throw e;
  }
  const wrong = await finish(to, from, uuid, true);
  if (wrong) throw failed(wrong);
  db.transaction(() => {
    db.update('VM', vm, { resident_on: dst, scheduled_to_be_resident_on: NULL_REF });
    const where = String(db.get('host', dst)?.address ?? 'localhost');
    for (const c of (db.get('VM', vm)?.consoles as string[]) ?? []) {
      if (db.has('console', c)) db.update('console', c, { location: `https://${where}/console?ref=${c}` });
    }
  });
}
