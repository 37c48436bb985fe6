// Live migration of a running VM between two hosts of the pool, driven from the manager
// (VM.pool_migrate; host.evacuate and VM.migrate_send call migrateVm too). The checks are xapi's
// (Message_forwarding.VM.pool_migrate: the operation, the CPU unless forced, assert_can_boot_here
// on the destination, its memory reserved); the bytes go QEMU to QEMU through the agents'
// migration procedures (src/shared/host/migration.ts): accept on the destination, migrate on the
// source, status polled into the task's progress, finish on both ends. The database switches
// over in one transaction once the destination runs the guest; any failure before that leaves the
// VM running on the source with nothing left on the destination (docs/migration.md).
import { randomUUID } from 'node:crypto';
import { NULL_REF } from '../../shared/datamodel/types.js';
import { XenApiError } from '../../shared/errors.js';
import type {
  IncomingMigration,
  MigrationParams,
  MigrationStatus,
  MirrorDisk,
} from '../../shared/host/migration.js';
import { logger } from '../../shared/log.js';
import type { Services } from '../api/context.js';
import { createMessage } from '../api/message.js';
import type { Row } from '../db/database.js';
import { attachVifBackend, detachVifBackend } from '../network/backend.js';
import { vmNics } from '../network/vm-nics.js';
import { isNull } from '../storage/records.js';
import { vmDisks } from '../storage/vm-disks.js';
import type { TaskHandle } from '../tasks/task-manager.js';
import { nowXapi } from '../time.js';
import { cpuCompatError } from '../validation/start-checks.js';
import type { HostAgent, InstanceInfo, InstanceSpec } from './host-agent.js';
import { checkOperation } from './lifecycle.js';
import { bootError, type PoolView, vmAndHost } from './placement.js';
import { poolView, releaseHost } from './reservation.js';
import { CLEANUP_MS, guardMigration, type MigrationGuard, withinMs } from './migration-recovery.js';
import { instanceSpec } from './spec.js';
import { refreshAllowedOperations, withVmOperation } from './vm-state.js';

const log = logger('migrate');

/** QEMU's downtime target when the caller sets none (the lead's decision: 300 ms). */
export const DEFAULT_DOWNTIME_MS = 300;
/** How often the source's migration status is read while it runs. */
const POLL_MS = Number(process.env.BERTH_MIGRATE_POLL_MS ?? 100);
/** How long the source's agent may stay unreachable while a migration runs before it is failed. */
const STATUS_GRACE_MS = Number(process.env.BERTH_MIGRATE_STATUS_GRACE_MS ?? 30_000);
/** How long an aborted migration may take to report that it stopped. */
const ABORT_WAIT_MS = 30_000;

export type MigrationOperation = 'pool_migrate' | 'migrate_send';

/** How a migration runs: the contract's parameters plus what the manager decides around them. */
export interface MigrateOptions extends MigrationParams {
  /** xapi's `force=true`: no CPU compatibility check, allowed-operations checks not strict. */
  force: boolean;
  /** The operation recorded in the VM's current_operations (default pool_migrate). */
  operation?: MigrationOperation;
  /**
   * Disks the destination receives by mirroring (storage migration): the destination spec's disk
   * of each device is then the new, empty volume (see `disks`). Empty: shared storage.
   */
  mirror?: MirrorDisk[];
  /** VIF ref → the network it has on the destination (xapi's vif_map); others keep theirs. */
  vifMap?: Record<string, string>;
  /**
   * The destination's disks when the caller built them (storage migration: the moved disks on
   * their new volumes, on SRs the VM's records do not name yet); default: the VM's disks as the
   * destination's PBDs see them.
   */
  disks?: InstanceSpec['disks'];
  /**
   * Which checks run before anything moves: `pool` (default) is VM.pool_migrate's (the disks' SRs
   * must be plugged on the destination); `caller` means the caller checked the destination
   * already (migrate_send with a vdi_map) and only the operation and the memory are checked here.
   */
  checks?: 'pool' | 'caller';
  /** More database changes in the switch-over transaction (the VBDs' new VDIs, for one). */
  onSwitchOver?: (info: InstanceInfo) => void;
}

/** What a finished migration measured (QEMU's own figures). */
export interface MigrationResult {
  downtimeMs?: number;
  totalTimeMs?: number;
}

const isTrue = (v: string | undefined) => v !== undefined && v.trim().toLowerCase() === 'true';

function integerOption(options: Record<string, string>, key: string, min: number): number | undefined {
  const v = options[key];
  if (v === undefined) return undefined;
  const n = Number(v.trim());
  if (v.trim() === '' || !Number.isSafeInteger(n) || n < min)
    throw new XenApiError('INVALID_VALUE', [key, v]);
  return n;
}

/**
 * The `options` map of VM.pool_migrate (pure). xapi's keys: `live` (Berth: "false" pauses the
 * guest for the whole copy; anything else, and no key, migrates live, as xapi always does),
 * `force` ("true": no CPU check, as xapi); `compress` and `copy` are accepted and have no effect.
 * Berth's own: `berth_downtime_ms` (QEMU's downtime target, ms, ≥ 1; default 300) and
 * `berth_bandwidth` (bytes per second, 0 = unlimited, the default). A malformed number is
 * INVALID_VALUE [key, value].
 */
export function parseMigrateOptions(options: Record<string, string>): MigrateOptions {
  return {
    live: options.live === undefined || options.live.trim().toLowerCase() !== 'false',
    force: isTrue(options.force),
    downtimeMs: integerOption(options, 'berth_downtime_ms', 1) ?? DEFAULT_DOWNTIME_MS,
    bandwidth: integerOption(options, 'berth_bandwidth', 0) ?? 0,
  };
}

/** VM_MIGRATE_FAILED as xapi raises it: [VM uuid, source host uuid, destination host uuid, why]. */
export function migrateFailed(vm: Row, src: Row | undefined, dst: Row | undefined, why: string): XenApiError {
  return new XenApiError('VM_MIGRATE_FAILED', [
    String(vm.uuid),
    String(src?.uuid ?? ''),
    String(dst?.uuid ?? ''),
    why,
  ]);
}

/** The VM's VIFs whose TAPs a QEMU on its host holds (on a network with a bridge). */
function bridgedVifs(view: PoolView, vm: Row): string[] {
  const r = view.records;
  return ((vm.VIFs as string[]) ?? []).filter((v) => {
    const vif = r.get('VIF', v);
    return Boolean(vif && r.get('network', String(vif.network))?.bridge);
  });
}

export interface PoolMigrateCheck {
  force?: boolean;
  operation?: MigrationOperation;
  checks?: 'pool' | 'caller';
}

/**
 * The first reason VM `vmRef` cannot be live-migrated to `hostRef` now, in xapi's order (pure):
 * the operation itself (VM_BAD_POWER_STATE unless Running, OTHER_OPERATION_IN_PROGRESS, templates,
 * snapshots, control domains), the CPU unless forced (VM_INCOMPATIBLE_WITH_THIS_HOST), then
 * assert_can_boot_here on the destination (HOST_NOT_LIVE, HOST_OFFLINE/CANNOT_CONTACT_HOST,
 * HOST_DISABLED except for a migration within one host, VM_REQUIRES_SR, VM_REQUIRES_NETWORK,
 * HOST_NOT_ENOUGH_FREE_MEMORY), and the source host reachable. Berth's own: a VM with VIFs cannot
 * migrate within one host (its TAPs are named after the VIFs: two QEMUs cannot hold them).
 */
export function poolMigrateError(
  view: PoolView,
  vmRef: string,
  hostRef: string,
  opts: PoolMigrateCheck = {},
): XenApiError | undefined {
  const r = view.records;
  const found = vmAndHost(r, vmRef, hostRef);
  if (found instanceof XenApiError) return found;
  const { vm, host } = found;
  const op = checkOperation(vmRef, vm, opts.operation ?? 'pool_migrate');
  if (op) return op;
  if (vm.power_state !== 'Running')
    return new XenApiError('VM_BAD_POWER_STATE', [vmRef, 'running', String(vm.power_state).toLowerCase()]);
  if (!opts.force) {
    const cpu = cpuCompatError(vmRef, vm, hostRef, host);
    if (cpu) return cpu;
  }
  const boot =
    opts.checks === 'caller'
      ? bootError(view, vmRef, hostRef, { devices: false })
      : bootError(view, vmRef, hostRef);
  if (boot) return boot;
  const src = String(vm.resident_on);
  if (!isNull(src) && src !== hostRef && !view.reachable(src))
    return new XenApiError(src === view.localHost ? 'CANNOT_CONTACT_HOST' : 'HOST_OFFLINE', [src]);
  if (src === hostRef && bridgedVifs(view, vm).length)
    return new XenApiError('OPERATION_NOT_ALLOWED', [
      'Berth cannot migrate a VM with VIFs within one host (its TAPs are named after its VIFs)',
    ]);
  return undefined;
}

/** poolMigrateError against the manager's database and connected agents; throws the error. */
export function assertCanPoolMigrate(
  svc: Services,
  vm: string,
  host: string,
  opts: PoolMigrateCheck = {},
): void {
  const e = poolMigrateError(poolView(svc), vm, host, opts);
  if (e) throw e;
}

/** Has the migration ended (one way or the other)? */
export const migrationEnded = (s: MigrationStatus) =>
  s.phase === 'completed' || s.phase === 'failed' || s.phase === 'cancelled';

/** The task's progress for a status (pure): the agent's 0..1, kept below 1 until switched over. */
export const taskProgress = (s: MigrationStatus) => Math.min(0.99, Math.max(0, s.progress));

/** The console's location on another host (the same path and query). */
export function consoleLocationOn(location: string, address: string): string {
  try {
    const u = new URL(location);
    u.host = address;
    return u.toString();
  } catch {
    return location;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const message = (e: unknown) =>
  e instanceof XenApiError ? [e.code, ...e.params].join(' ') : e instanceof Error ? e.message : String(e);

/**
 * Migrates running VM `vm` to host `dst` under `task` (progress, cancellation). Checks
 * (assertCanPoolMigrate) and the destination's memory reservation happen in one synchronous step
 * with marking the operation; then the destination's bridges and TAPs, accept, migrate, status
 * until it ends, finish on both ends, and the switch-over. Throws the check's error,
 * TASK_CANCELLED [task] after task.cancel, or VM_MIGRATE_FAILED; in every failure case the VM runs
 * on on the source and the destination keeps nothing.
 */
export async function migrateVm(
  svc: Services,
  task: TaskHandle | undefined,
  vm: string,
  dst: string,
  opts: MigrateOptions,
): Promise<MigrationResult> {
  const { db } = svc;
  const operation = opts.operation ?? 'pool_migrate';
  assertCanPoolMigrate(svc, vm, dst, { force: opts.force, operation, checks: opts.checks });
  const taskRef = task?.ref ?? `OpaqueRef:${randomUUID()}`;
  return withVmOperation(db, vm, operation, taskRef, async () => {
    // xapi's allocate_vm_to_host: the destination counts the VM's memory until the end.
    db.deferred(() => db.update('VM', vm, { scheduled_to_be_resident_on: dst }));
    try {
      // Journal, stream watchdog and settlement of failures (migration-recovery.ts).
      const from = String(db.mustGet('VM', vm).resident_on);
      const committed = (s: Services, ref: string, to: string) =>
        switchOver(s, ref, from, to, { uuid: String(db.mustGet('VM', ref).uuid), state: 'running' }, opts);
      return await guardMigration(svc, vm, dst, (g) => run(svc, task, taskRef, vm, dst, opts, g), {
        switchOver: committed,
      });
    } finally {
      releaseHost(svc, vm);
    }
  });
}

async function run(
  svc: Services,
  task: TaskHandle | undefined,
  taskRef: string,
  vm: string,
  dst: string,
  opts: MigrateOptions,
  guard?: MigrationGuard,
): Promise<MigrationResult> {
  const { db } = svc;
  const rec = db.mustGet('VM', vm);
  const src = String(rec.resident_on);
  const srcRow = db.get('host', src);
  const dstRow = db.mustGet('host', dst);
  const uuid = String(rec.uuid);
  const failed = (why: string) => migrateFailed(rec, srcRow, dstRow, why);
  const srcAgent = svc.hosts.get(src);
  const dstAgent = svc.hosts.get(dst);
  const sameHost = src === dst;

  let spec = instanceSpec(rec, false, {
    disks: opts.disks ?? vmDisks(db, vm, dst),
    nics: svc.networking ? vmNics(db, vm) : [],
  });
  const vifs = svc.networking ? bridgedVifs(poolView(svc), rec) : [];
  if (opts.vifMap) spec = withVifMap(svc, spec, rec, opts.vifMap);

  // The destination's side of the VIFs: bridges and TAPs, before its QEMU opens them.
  const madeTaps: string[] = [];
  const undoTaps = async () => {
    for (const v of madeTaps)
      await detachVifBackend(svc, dst, v).catch((e) =>
        log.warn('could not remove TAP', { error: String(e) }),
      );
  };
  // Bounded: over a cut link a pooled connection would hang the call for the RPC's full timeout
  // (what it leaves undone, the guard settles once the host answers: migration-recovery.ts).
  const cleanDst = () =>
    withinMs(
      (async () => {
        await dstAgent.migration.instance_migration_finish_dst(uuid, false).catch((e) => {
          guard?.owe('destination'); // done when the host answers again
          log.warn('finish_dst(false)', { vm: uuid, error: String(e) });
        });
        await undoTaps();
      })(),
      CLEANUP_MS,
    ).catch((e) => {
      guard?.owe('destination');
      log.warn('destination clean-up', { vm: uuid, error: String(e) });
    });
  const cleanSrc = () =>
    srcAgent.migration.instance_migration_finish_src(uuid, false).catch((e) => {
      guard?.owe('source');
      log.warn('finish_src(false)', { vm: uuid, error: String(e) });
    });

  let incoming: IncomingMigration;
  try {
    if (!sameHost) {
      for (const v of vifs) {
        madeTaps.push(String(db.mustGet('VIF', v).uuid));
        await attachVifBackend(svc, dst, v, opts.vifMap?.[v]);
      }
    }
    task?.checkCancelled();
    incoming = await dstAgent.migration.instance_migration_accept(spec, {
      address: sameHost ? '' : String(dstRow.address),
      mirror: opts.mirror ?? [],
    });
  } catch (e) {
    await cleanDst();
    throw e instanceof XenApiError && e.code === 'TASK_CANCELLED' ? e : asMigrateError(e, failed);
  }

  let status: MigrationStatus;
  try {
    task?.checkCancelled();
    await srcAgent.migration.instance_migrate(uuid, incoming, {
      live: opts.live,
      downtimeMs: opts.downtimeMs,
      bandwidth: opts.bandwidth,
    });
    status = await follow(srcAgent, uuid, task, (p) => task?.setProgress(p));
  } catch (e) {
    await srcAgent.migration.instance_migration_abort(uuid).catch(() => undefined);
    await cleanDst();
    await cleanSrc();
    throw asMigrateError(e, failed);
  }
  if (status.phase !== 'completed') {
    await cleanDst();
    await cleanSrc();
    if (status.phase === 'cancelled' && task?.signal.aborted)
      throw new XenApiError('TASK_CANCELLED', [taskRef]);
    throw failed(status.error ?? `the migration ended ${status.phase}`);
  }

  // The memory is across: the destination runs the guest, then the database says so, then the
  // source lets its QEMU go (its agent's reports no longer speak for the VM after the switch).
  let info: InstanceInfo;
  guard?.switching();
  try {
    info = await dstAgent.migration.instance_migration_finish_dst(uuid, true);
  } catch (e) {
    // Did the destination resume the guest? The guard asks both hosts before anything resumes.
    if (!guard?.settles) {
      await cleanDst();
      await cleanSrc();
    }
    throw failed(`the destination did not take over: ${message(e)}`);
  }
  switchOver(svc, vm, src, dst, info, opts);
  await srcAgent.migration
    .instance_migration_finish_src(uuid, true)
    .catch((e) =>
      log.warn('finish_src(true) failed; the source QEMU may be left', { vm: uuid, error: String(e) }),
    );
  // The source's TAPs (its agent removes them with its QEMU; made sure of here, in order, so that a
  // next migration back to that host does not race a late removal).
  if (!sameHost)
    for (const v of vifs) {
      const vifUuid = String(db.get('VIF', v)?.uuid ?? '');
      if (vifUuid)
        await detachVifBackend(svc, src, vifUuid).catch((e) =>
          log.warn('could not remove the source TAP', { vif: v, error: String(e) }),
        );
    }
  task?.setProgress(1);
  note(svc, rec, srcRow, dstRow);
  return { downtimeMs: status.downtimeMs, totalTimeMs: status.totalTimeMs };
}

/**
 * A check's or the agents' own XenAPI error stays; the agents' VM_MIGRATE_FAILED gets the hosts'
 * uuids (an agent knows neither); anything else is VM_MIGRATE_FAILED.
 */
function asMigrateError(e: unknown, failed: (why: string) => XenApiError): XenApiError {
  if (e instanceof XenApiError && e.code === 'VM_MIGRATE_FAILED') return failed(e.params.at(-1) ?? '');
  if (e instanceof XenApiError && e.code !== 'INTERNAL_ERROR') return e;
  return failed(message(e));
}

/**
 * Polls the source until the migration ends, the task's progress following; a cancelled task
 * aborts it (then waits for the source to say it stopped). A source agent unreachable for longer
 * than STATUS_GRACE_MS fails it.
 */
async function follow(
  agent: HostAgent,
  uuid: string,
  task: TaskHandle | undefined,
  progress: (p: number) => void,
): Promise<MigrationStatus> {
  let unreachableSince = 0;
  let abortedAt = 0;
  for (;;) {
    let s: MigrationStatus | undefined;
    try {
      s = await agent.migration.instance_migration_status(uuid);
      unreachableSince = 0;
    } catch (e) {
      unreachableSince ||= Date.now();
      if (Date.now() - unreachableSince > STATUS_GRACE_MS)
        throw new Error(`the source stopped answering: ${message(e)}`);
    }
    if (s && migrationEnded(s)) return s;
    if (s && !abortedAt) progress(taskProgress(s));
    if (task?.signal.aborted && !abortedAt) {
      abortedAt = Date.now();
      await agent.migration
        .instance_migration_abort(uuid)
        .catch((e) => log.warn('abort', { error: String(e) }));
    }
    if (abortedAt && Date.now() - abortedAt > ABORT_WAIT_MS)
      return { ...(s as MigrationStatus), phase: 'cancelled', error: 'the source did not stop in time' };
    await sleep(POLL_MS);
  }
}

/** The NICs' bridges of the destination's spec under a vif_map (VIF ref → network ref). */
function withVifMap(
  svc: Services,
  spec: InstanceSpec,
  rec: Row,
  vifMap: Record<string, string>,
): InstanceSpec {
  const { db } = svc;
  const byDevice = new Map<string, string>();
  for (const v of (rec.VIFs as string[]) ?? []) {
    const net = vifMap[v];
    const bridge = net ? db.get('network', net)?.bridge : undefined;
    if (bridge) byDevice.set(String(db.get('VIF', v)?.device), String(bridge));
  }
  return { ...spec, nics: spec.nics.map((n) => ({ ...n, bridge: byDevice.get(n.device) ?? n.bridge })) };
}

/**
 * The database after the destination took over, in one transaction: resident on the destination
 * (the reservation gone), metrics, the consoles at the destination's address, VIFs on their mapped
 * networks; VBDs and VIFs stay attached. The power-state follower (network/backend.ts) sees
 * resident_on change and moves the VIFs' TAPs.
 */
function switchOver(
  svc: Services,
  vm: string,
  src: string,
  dst: string,
  info: InstanceInfo,
  opts: MigrateOptions,
) {
  const { db } = svc;
  const address = String(db.get('host', dst)?.address ?? 'localhost');
  db.transaction(() => {
    const rec = db.mustGet('VM', vm);
    db.update('VM', vm, { resident_on: dst, scheduled_to_be_resident_on: NULL_REF });
    const metrics = String(rec.metrics);
    if (db.has('VM_metrics', metrics))
      db.update('VM_metrics', metrics, {
        memory_actual: info.memoryBytes ?? rec.memory_dynamic_max,
        last_updated: nowXapi(),
      });
    for (const c of (rec.consoles as string[]) ?? []) {
      const row = db.get('console', c);
      if (row) db.update('console', c, { location: consoleLocationOn(String(row.location), address) });
    }
    for (const [vif, net] of Object.entries(opts.vifMap ?? {}))
      if (db.has('VIF', vif) && db.has('network', net)) db.update('VIF', vif, { network: net });
    opts.onSwitchOver?.(info);
    refreshAllowedOperations(db, vm);
  });
  log.info('migrated', { vm, from: src, to: dst });
}

/** xapi's VM_MIGRATED message (priority 5) after a successful migration. */
function note(svc: Services, vm: Row, src: Row | undefined, dst: Row) {
  try {
    createMessage(
      { svc },
      'VM_MIGRATED',
      5,
      'VM',
      String(vm.uuid),
      `VM '${vm.name_label}' (uuid: ${vm.uuid}) migrated from host '${src?.name_label}' (uuid: ${src?.uuid}) to host '${dst.name_label}' (uuid: ${dst.uuid})`,
    );
  } catch (e) {
    log.warn('could not record message', { error: String(e) });
  }
}
