// The record of a VM snapshot or checkpoint (pure over the database): xapi's fields
// (Xapi_vm_clone.copy_vm_record with snapshot_info) and, for a live snapshot, how long the guest
// was held, as diagnostics next to xapi's keys in snapshot_info.
import { randomUUID } from 'node:crypto';
import type { Database } from '../db/database.js';
import type { LiveSnapshot } from '../storage/live-snapshot.js';
import { nowXapi } from '../time.js';

/** snapshot_info keys of xapi (Xapi_vm_clone.snapshot_info). */
export const DISK_SNAPSHOT_TYPE = 'disk-snapshot-type';
export const POWER_STATE_AT_SNAPSHOT = 'power-state-at-snapshot';
/** Berth's diagnostics of a live snapshot (milliseconds, decimal). */
export const IO_PAUSE_KEY = 'berth-io-pause-ms';
export const VCPU_PAUSE_KEY = 'berth-vcpu-pause-ms';

/** Fields of the new snapshot VM of `vm`. */
export function snapshotOverrides(vm: string, newName: string, powerState: string): Record<string, unknown> {
  return {
    name_label: newName,
    is_a_template: true,
    is_a_snapshot: true,
    snapshot_of: vm,
    snapshot_time: nowXapi(),
    transportable_snapshot_id: randomUUID(),
    snapshot_info: {
      [DISK_SNAPSHOT_TYPE]: 'crash_consistent',
      [POWER_STATE_AT_SNAPSHOT]: powerState,
    },
  };
}

/** Adds a live snapshot's timings to the snapshot VM's snapshot_info. */
export function recordLiveTiming(db: Database, snap: string, live: LiveSnapshot): void {
  const info = { ...((db.mustGet('VM', snap).snapshot_info as Record<string, string>) ?? {}) };
  info[IO_PAUSE_KEY] = live.transactionMs.toFixed(3);
  info[VCPU_PAUSE_KEY] = live.vcpuPauseMs.toFixed(3);
  db.update('VM', snap, { snapshot_info: info });
}
