// Picks and reserves the host a VM starts or resumes on, as xapi's message forwarding does
// (forward_to_suitable_host / reserve_memory_for_vm): the check and the reservation
// (VM.scheduled_to_be_resident_on) happen in one synchronous step, so two concurrent starts
// cannot both count on the same free memory; the reservation is dropped once the operation ends
// (a started VM is resident_on the host instead).
import { NULL_REF } from '../../shared/datamodel/types.js';
import { XenApiError } from '../../shared/errors.js';
import type { Services } from '../api/context.js';
import type { Database, Row } from '../db/database.js';
import { type BootCheckOptions, bootError, chooseHost, type PoolView } from './placement.js';

/** The pool as placement sees it: the database and which agents are connected now. */
export function poolView(svc: Services): PoolView {
  return { records: svc.db, reachable: (h) => svc.hosts.live(h), localHost: svc.hostRef() };
}

/** The pool master's host ref (this manager's host when the pool names none). */
export function masterOf(svc: Services): string {
  const master = svc.db.get('pool', svc.poolRef())?.master;
  return master ? String(master) : svc.hostRef();
}

/**
 * Chooses the host (the requested one after checking it can boot the VM, else the best one) and
 * reserves it. Throws the reason the requested host cannot, or NO_HOSTS_AVAILABLE.
 */
export function reserveHost(
  svc: Services,
  vm: string,
  requested?: string,
  cpuCheck?: BootCheckOptions['cpuCheck'],
): string {
  const { db } = svc;
  const view = poolView(svc);
  let host: string;
  if (requested) {
    const row = db.mustGet('host', requested);
    if (Object.values((row.current_operations as Record<string, string>) ?? {}).includes('evacuate'))
      throw new XenApiError('HOST_EVACUATE_IN_PROGRESS', [requested]);
    const e = bootError(view, vm, requested, { cpuCheck });
    if (e) throw e;
    host = requested;
  } else {
    host = chooseSuitable(view, vm, masterOf(svc), cpuCheck);
  }
  // Bookkeeping a restart voids (clearStaleReservations): stored with the operation's end.
  db.deferred(() => db.update('VM', vm, { scheduled_to_be_resident_on: host }));
  return host;
}

/**
 * chooseHost, then the chosen host's own check: a host is chosen without the memory check when
 * none has the memory (as xapi), and without the CPU check when no host passes it, so that the
 * caller learns why (HOST_NOT_ENOUGH_FREE_MEMORY, VM_INCOMPATIBLE_WITH_THIS_HOST) rather than
 * NO_HOSTS_AVAILABLE. Berth has no squeezed to refuse the start later: the check happens here.
 */
function chooseSuitable(view: PoolView, vm: string, master: string, cpuCheck?: BootCheckOptions['cpuCheck']) {
  let host: string;
  try {
    host = chooseHost(view, vm, master, { cpuCheck });
  } catch (e) {
    if (!cpuCheck || !(e instanceof XenApiError) || e.code !== 'NO_HOSTS_AVAILABLE') throw e;
    host = chooseHost(view, vm, master);
  }
  const e = bootError(view, vm, host, { cpuCheck });
  if (e) throw e;
  return host;
}

/** Drops the VM's reservation (after the operation, whatever its outcome). */
export function releaseHost(svc: Services, vm: string): void {
  const row: Row | undefined = svc.db.get('VM', vm);
  if (row && row.scheduled_to_be_resident_on !== NULL_REF)
    svc.db.deferred(() => svc.db.update('VM', vm, { scheduled_to_be_resident_on: NULL_REF }));
}

/**
 * Start-up: reservations of operations that died with the previous process (a VM with no
 * operation in progress is scheduled nowhere). Returns the VMs cleared.
 */
export function clearStaleReservations(db: Database): string[] {
  const cleared: string[] = [];
  db.transaction(() => {
    for (const [ref, vm] of db.all('VM')) {
      if (vm.scheduled_to_be_resident_on === NULL_REF || !vm.scheduled_to_be_resident_on) continue;
      if (Object.keys((vm.current_operations as object) ?? {}).length) continue;
      db.update('VM', ref, { scheduled_to_be_resident_on: NULL_REF });
      cleared.push(ref);
    }
  });
  return cleared;
}
