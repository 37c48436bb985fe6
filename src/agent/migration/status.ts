// QEMU's `query-migrate` answer as the contract's MigrationStatus (pure): phase, progress over
// disks then memory, RAM figures, and QEMU's own downtime and total time once completed.
import type { MigrationPhase, MigrationStatus } from '../../shared/host/migration.js';

/** The part of QEMU's MigrationInfo Berth reads (QEMU 7.2 names). */
export interface QemuMigrationInfo {
  status?: string;
  ram?: { transferred?: number; remaining?: number; total?: number };
  'total-time'?: number;
  downtime?: number;
  'error-desc'?: string;
}

/** QEMU's MigrationStatus values onto the contract's phases (pure). */
export function migrationPhase(status: string | undefined): MigrationPhase {
  switch (status) {
    case undefined:
    case 'none':
      return 'none';
    case 'setup':
      return 'setup';
    case 'device':
      return 'device';
    case 'completed':
      return 'completed';
    case 'failed':
      return 'failed';
    case 'cancelled':
      return 'cancelled';
    default:
      // active, pre-switchover, wait-unplug, postcopy-*, colo and `cancelling` (not final yet:
      // a caller polling until the end keeps polling).
      return 'active';
  }
}

const nonNegative = (n: unknown): number => (typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : 0);

/**
 * MigrationStatus from QEMU's `query-migrate` (pure). `disk`: the mirrored disks' bytes (storage
 * migration); while `mirroring` is true the phase is 'mirroring' whatever QEMU says (its memory
 * migration has not started). Progress weighs disk and memory bytes alike.
 */
export function migrationStatus(
  q: QemuMigrationInfo,
  disk: { transferred: number; total: number; mirroring?: boolean } = { transferred: 0, total: 0 },
): MigrationStatus {
  const phase =
    disk.mirroring && migrationPhase(q.status) === 'none' ? 'mirroring' : migrationPhase(q.status);
  const ramTotal = nonNegative(q.ram?.total);
  const ramTransferred = nonNegative(q.ram?.transferred);
  const ramRemaining = nonNegative(q.ram?.remaining);
  const diskTotal = nonNegative(disk.total);
  const diskTransferred = Math.min(nonNegative(disk.transferred), diskTotal);
  // Memory done: the part of RAM no longer to send (dirtied pages are sent again, so
  // `transferred` can exceed the total and is no measure of progress).
  const ramDone = phase === 'completed' ? ramTotal : ramTotal > 0 ? Math.max(0, ramTotal - ramRemaining) : 0;
  const whole = diskTotal + ramTotal;
  let progress = whole > 0 ? (diskTransferred + (phase === 'mirroring' ? 0 : ramDone)) / whole : 0;
  if (phase === 'completed') progress = 1;
  const out: MigrationStatus = {
    phase,
    progress: Math.min(1, Math.max(0, progress)),
    ramTotal,
    ramTransferred,
    ramRemaining: phase === 'completed' ? 0 : ramRemaining,
    diskTransferred,
    diskTotal,
  };
  if (phase === 'completed') {
    if (typeof q.downtime === 'number') out.downtimeMs = q.downtime;
    if (typeof q['total-time'] === 'number') out.totalTimeMs = q['total-time'];
  }
  if (phase === 'failed' || phase === 'cancelled')
    out.error = q['error-desc'] ?? (phase === 'cancelled' ? 'migration cancelled' : 'migration failed');
  return out;
}

/** A status with nothing going on (no migration of this VM here). */
export const NO_MIGRATION: MigrationStatus = migrationStatus({});
