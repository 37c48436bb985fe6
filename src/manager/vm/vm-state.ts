// VM bookkeeping in the database: allowed/current operations, power-state transitions with their
// side effects (resident_on, domid, VM_metrics), fresh copies of VM records for clone/snapshot.
import { randomUUID } from 'node:crypto';
import { NULL_REF } from '../../shared/datamodel/types.js';
import type { Database, Row } from '../db/database.js';
import { EPOCH_XAPI, nowXapi, toXapiTime } from '../time.js';
import { allowedOperations, assertOperationValid, type PowerState } from './lifecycle.js';

export function refreshAllowedOperations(db: Database, ref: string): void {
  const vm = db.get('VM', ref);
  if (!vm) return;
  const ops = allowedOperations(ref, vm, db.model.enums.vm_operations);
  const old = vm.allowed_operations as string[];
  if (old.length === ops.length && old.every((o, i) => o === ops[i])) return;
  db.update('VM', ref, { allowed_operations: ops });
}

/**
 * Runs `fn` as operation `op` on a VM: checks it is allowed now, records it in
 * current_operations under the task (so concurrent callers get OTHER_OPERATION_IN_PROGRESS),
 * and always removes it again afterwards. `andThen`, when given, records the outcome of a
 * successful `fn` in the same transaction that removes the operation (one durable commit, one
 * write of the VM row); if it throws, the operation is still removed.
 * Marking the operation is a deferred write (Database.deferred): it is void after a restart, and
 * the commit that removes it stores both.
 */
export async function withVmOperation<T>(
  db: Database,
  ref: string,
  op: string,
  taskRef: string,
  fn: () => Promise<T>,
  andThen?: (result: T) => void,
): Promise<T> {
  db.deferred(() => {
    const vm = db.mustGet('VM', ref);
    assertOperationValid(ref, vm, op);
    db.update('VM', ref, { current_operations: { ...(vm.current_operations as object), [taskRef]: op } });
    refreshAllowedOperations(db, ref);
  });
  const done = () => {
    const vm = db.get('VM', ref);
    if (!vm) return;
    const { [taskRef]: _done, ...rest } = vm.current_operations as Record<string, string>;
    db.update('VM', ref, { current_operations: rest });
    refreshAllowedOperations(db, ref);
  };
  let result: T;
  try {
    result = await fn();
  } catch (e) {
    db.transaction(done);
    throw e;
  }
  if (!andThen) {
    db.transaction(done);
    return result;
  }
  try {
    db.transaction(() => {
      andThen(result);
      done();
    });
  } catch (e) {
    db.transaction(done);
    throw e;
  }
  return result;
}

export interface RunningFacts {
  host: string;
  domid: number;
  vcpus: number;
  memoryBytes: number;
  startedAt?: number;
}

/** Records a VM as Running/Paused on a host, with its metrics (`vm`: its row, if already read). */
export function markStarted(
  db: Database,
  ref: string,
  state: 'Running' | 'Paused',
  f: RunningFacts,
  vm: Row = db.mustGet('VM', ref),
): void {
  db.transaction(() => {
    db.update('VM', ref, {
      power_state: state,
      resident_on: f.host,
      domid: f.domid,
      scheduled_to_be_resident_on: NULL_REF,
    });
    const metrics = String(vm.metrics);
    if (db.has('VM_metrics', metrics)) {
      db.update('VM_metrics', metrics, {
        start_time: f.startedAt ? toXapiTime(new Date(f.startedAt)) : nowXapi(),
        VCPUs_number: f.vcpus,
        memory_actual: f.memoryBytes,
        state: [state.toLowerCase()],
        last_updated: nowXapi(),
      });
    }
    refreshAllowedOperations(db, ref);
  });
}

export function setPowerState(db: Database, ref: string, state: PowerState): void {
  db.transaction(() => {
    const vm = db.mustGet('VM', ref);
    if (vm.power_state === state) return;
    const changes: Row = { power_state: state };
    if (state === 'Halted' || state === 'Suspended') {
      changes.resident_on = NULL_REF;
      changes.domid = -1;
      const metrics = String(vm.metrics);
      if (db.has('VM_metrics', metrics)) {
        db.update('VM_metrics', metrics, {
          VCPUs_number: 0,
          memory_actual: 0,
          state: [],
          last_updated: nowXapi(),
        });
      }
    }
    db.update('VM', ref, changes);
    const metrics = String(vm.metrics);
    if (state !== 'Halted' && state !== 'Suspended' && db.has('VM_metrics', metrics)) {
      db.update('VM_metrics', metrics, { state: [state.toLowerCase()], last_updated: nowXapi() });
    }
    refreshAllowedOperations(db, ref);
  });
}

export function newVmMetrics(db: Database): string {
  return db.create('VM_metrics', {
    memory_actual: 0,
    VCPUs_number: 0,
    VCPUs_utilisation: {},
    VCPUs_CPU: {},
    VCPUs_params: {},
    VCPUs_flags: {},
    state: [],
    start_time: EPOCH_XAPI,
    install_time: nowXapi(),
    last_updated: nowXapi(),
    other_config: {},
    hvm: false,
    nested_virt: false,
    nomigrate: false,
    current_domain_type: 'unspecified',
  });
}

/** Fields reset in a copy of a VM (clone, copy, snapshot): identity, runtime state, links. */
export function copyVmFields(src: Row, overrides: Row): Row {
  const rec: Row = { ...structuredClone(src) };
  for (const k of [
    'uuid',
    'VBDs',
    'VIFs',
    'consoles',
    'crash_dumps',
    'VTPMs',
    'VUSBs',
    'VGPUs',
    'attached_PCIs',
    'snapshots',
    'children',
  ]) {
    delete rec[k];
  }
  Object.assign(rec, {
    power_state: 'Halted',
    resident_on: NULL_REF,
    scheduled_to_be_resident_on: NULL_REF,
    domid: -1,
    current_operations: {},
    allowed_operations: [],
    is_default_template: false,
    is_control_domain: false,
    guest_metrics: NULL_REF,
    suspend_VDI: NULL_REF,
    other_config: { ...(src.other_config as object), mac_seed: randomUUID() },
    blobs: {},
    ...overrides,
  });
  return rec;
}
