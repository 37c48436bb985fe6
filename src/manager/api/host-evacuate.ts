// host.evacuate, host.get_vms_which_prevent_evacuation and host.assert_can_evacuate, as xapi's
// Xapi_host: the plan (vm/evacuation-plan.ts) must move every guest or nothing moves; then the
// VMs migrate live, `evacuate_batch_size` at a time, each as VM.pool_migrate to its planned host.
// Like xapi, host.evacuate does not disable the host: maintenance mode is host.disable first
// (docs/evacuation.md).
import { XenApiError, isXenApiError } from '../../shared/errors.js';
import { logger } from '../../shared/log.js';
import type { Database } from '../db/database.js';
import { cpuCompatError } from '../validation/start-checks.js';
import {
  cannotEvacuateError,
  computeEvacuationPlan,
  residentGuests,
  type VmPlan,
  vmsPreventingEvacuation,
} from '../vm/evacuation-plan.js';
import { migrateVm, parseMigrateOptions } from '../vm/migrate.js';
import { poolView } from '../vm/reservation.js';
import type { TaskHandle } from '../tasks/task-manager.js';
import type { CallContext, HandlerTable } from './context.js';

const log = logger('host-evacuate');

/** xapi.conf's evacuation-batch-size default: VMs migrating at once when the caller gives 0. */
export const DEFAULT_EVACUATION_BATCH_SIZE = 10;

const isNull = (ref: unknown) => ref === undefined || ref === '' || ref === 'OpaqueRef:NULL';

function planOf(ctx: CallContext, host: string): Map<string, VmPlan> {
  ctx.svc.db.mustGet('host', host);
  return computeEvacuationPlan(poolView(ctx.svc), host, { cpuCheck: cpuCompatError });
}

/**
 * The migration network must carry an address on every destination (xapi's
 * assert_valid_ip_configuration_on_network_for_host): PIF_NOT_PRESENT [host, network],
 * REQUIRED_PIF_IS_UNPLUGGED [pif], INTERFACE_HAS_NO_IP [pif].
 */
export function assertMigrationNetwork(db: Database, network: string, hosts: Iterable<string>): void {
  db.mustGet('network', network);
  for (const host of new Set(hosts)) {
    const found = [...db.all('PIF')].find(([, p]) => p.host === host && p.network === network);
    if (!found) throw new XenApiError('PIF_NOT_PRESENT', [host, network]);
    const [ref, pif] = found;
    if (!pif.currently_attached) throw new XenApiError('REQUIRED_PIF_IS_UNPLUGGED', [ref]);
    const v6 = (pif.IPv6 as string[] | undefined) ?? [];
    const address = pif.primary_address_type === 'IPv6' ? v6[0] : pif.IP;
    if (!address) throw new XenApiError('INTERFACE_HAS_NO_IP', [ref]);
  }
}

/**
 * One VM's move: migrateVm (VM.pool_migrate's work) under a handle of the evacuation's task that
 * shares its cancellation but not its progress (the evacuation counts VMs moved, as xapi's).
 */
async function migrateOne(ctx: CallContext, vm: string, host: string, options: Record<string, string>) {
  const task = ctx.task;
  const sub: TaskHandle | undefined = task && {
    ref: task.ref,
    signal: task.signal,
    setProgress: () => {},
    checkCancelled: () => task.checkCancelled(),
  };
  await migrateVm(ctx.svc, sub, vm, host, parseMigrateOptions(options));
}

/**
 * Runs `moves` with at most `batch` at once, a new one as soon as one ends (xapi's batch). A VM
 * that stopped meanwhile (VM_BAD_POWER_STATE) is not an error; the first other error is thrown
 * once the moves under way have ended (none is started after it).
 */
async function runInBatches(
  moves: Array<() => Promise<void>>,
  batch: number,
  onDone: (done: number) => void,
): Promise<void> {
  let next = 0;
  let done = 0;
  let failure: unknown;
  const worker = async () => {
    while (failure === undefined && next < moves.length) {
      const move = moves[next++];
      try {
        await move();
      } catch (e) {
        if (!(isXenApiError(e) && e.code === 'VM_BAD_POWER_STATE')) failure ??= e;
      }
      onDone(++done);
    }
  };
  await Promise.all(Array.from({ length: Math.min(batch, moves.length) }, worker));
  if (failure !== undefined) throw failure;
}

export async function evacuateHost(
  ctx: CallContext,
  host: string,
  network: string,
  batchSize: number,
): Promise<void> {
  const plans = planOf(ctx, host);
  for (const plan of plans.values()) if ('error' in plan) throw plan.error;
  const moves = [...plans].map(([vm, plan]) => [vm, (plan as { host: string }).host] as const);
  const options: Record<string, string> = { live: 'true' };
  if (!isNull(network)) {
    assertMigrationNetwork(
      ctx.svc.db,
      network,
      moves.map(([, to]) => to),
    );
    options.network = network;
  }
  const batch = Math.max(1, Math.abs(batchSize > 0 ? batchSize : DEFAULT_EVACUATION_BATCH_SIZE));
  log.info('evacuating host', { host, vms: moves.length, batch });
  await runInBatches(
    moves.map(([vm, to]) => () => {
      ctx.task?.checkCancelled(); // no new move after task.cancel
      return migrateOne(ctx, vm, to, options);
    }),
    batch,
    (done) => ctx.task?.setProgress(done / moves.length),
  );
  const left = residentGuests(poolView(ctx.svc), host).length;
  if (left) throw new XenApiError('INTERNAL_ERROR', [`evacuate: ${left} VMs are still resident on ${host}`]);
}

export const hostEvacuateApi: HandlerTable = {
  handlers: {
    'host.evacuate': (ctx, host, network, batchSize) => evacuateHost(ctx, host, network, Number(batchSize)),
    'host.get_vms_which_prevent_evacuation': (ctx, host) => vmsPreventingEvacuation(planOf(ctx, host)),
    'host.assert_can_evacuate': (ctx, host) => {
      const e = cannotEvacuateError(planOf(ctx, host));
      if (e) throw e;
    },
  },
};
