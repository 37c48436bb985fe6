// The record of a live migration in progress, kept in the VM's runtime dir (`migration.json`,
// root's, 0600) so that a restarted agent adopts the VM as migrating (qemu/vm-process.ts adopt)
// and can still report, abort and finish it. Written when the migration starts, removed when it
// is finished (instance_migration_finish_*), gone anyway with the runtime dir.
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { IncomingMigration, MigrationParams } from '../../shared/host/migration.js';

export interface MigrationMark {
  /** `dst`: this QEMU receives the VM; `src`: it sends it. */
  role: 'src' | 'dst';
  transport: 'tls' | 'unix';
  /** Source: the guest ran when the migration started (it runs on here if it fails). */
  wasRunning: boolean;
  /** Source: the agent stopped the guest itself (a non-live migration): `cont` on failure. */
  pausedByMigration: boolean;
  /** Destination: where QEMU listens (port 0 for a Unix socket). */
  port: number;
  /** Destination: the Unix socket (transport 'unix'). */
  socket?: string;
  /** Milliseconds since the epoch when the migration started here. */
  startedAt: number;
  /**
   * Source of a storage migration: the mirrored disks' devices, how far it is (disks being
   * mirrored, memory moving, both done, or failed with `error`), and what the memory migration
   * needs once the disks are in sync (it starts then, possibly after an agent restart).
   */
  mirror?: string[];
  stage?: 'mirroring' | 'memory' | 'completed' | 'failed';
  error?: string;
  target?: IncomingMigration;
  params?: MigrationParams;
  /** The mirrored bytes in all, recorded when the mirror jobs ended (they are gone then). */
  diskTotal?: number;
}

export const markFile = (runDir: string) => join(runDir, 'migration.json');

/** The mark in `runDir` (undefined: none, or unreadable). */
export function readMigrationMark(runDir: string): MigrationMark | undefined {
  try {
    const m = JSON.parse(readFileSync(markFile(runDir), 'utf8')) as MigrationMark;
    return m && (m.role === 'src' || m.role === 'dst') ? m : undefined;
  } catch {
    return undefined;
  }
}

export function writeMigrationMark(runDir: string, mark: MigrationMark): void {
  const file = markFile(runDir);
  writeFileSync(`${file}.tmp`, JSON.stringify(mark), { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
}

export function removeMigrationMark(runDir: string): void {
  rmSync(markFile(runDir), { force: true });
}
