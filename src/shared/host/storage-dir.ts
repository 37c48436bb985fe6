// Ganeti's file_storage_dir_rename (../shared/reference/ganeti-noded.md §2) as Berth's agent offers
// it (issue 18, slice master-ip): a file SR's directory moved to another path under the agent's SR
// roots. The manager's SR.set_location (src/manager/api/master-ip.ts) calls it with the SR unplugged
// everywhere and then rewrites the PBDs' device_config:location.
import type { SrConfig } from './storage.js';

export interface StorageDirProcedures {
  /**
   * Renames the directory of file SR `sr` (its device_config:location) to `location`. Refused,
   * nothing moved: either path outside the agent's SR roots or not absolute and normalised, or
   * resolving outside them through a symlink (INVALID_VALUE); the old path a symlink or not this
   * SR's directory (its marker names another SR); the target existing (SR_BACKEND_FAILURE
   * FileStorageDirExists); the SR attached on this agent or a file under it open by any process
   * (SR_BACKEND_FAILURE SRInUse); a different filesystem (rename(2)'s EXDEV: no copy is made).
   */
  file_storage_dir_rename(sr: SrConfig, location: string): Promise<void>;
}

export type StorageDirProcedureName = keyof StorageDirProcedures;

export const STORAGE_DIR_PROCEDURES = [
  'file_storage_dir_rename',
] as const satisfies readonly StorageDirProcedureName[];

type Unlisted = Exclude<StorageDirProcedureName, (typeof STORAGE_DIR_PROCEDURES)[number]>;
const allListed: [Unlisted] extends [never] ? true : Unlisted = true;
void allListed;

/** The storage-dir procedures over an agent RPC `call`. */
export function storageDirClient(
  call: (procedure: string, args: unknown[]) => Promise<unknown>,
): StorageDirProcedures {
  const out: Record<string, (...args: unknown[]) => Promise<unknown>> = {};
  for (const name of STORAGE_DIR_PROCEDURES) out[name] = (...args: unknown[]) => call(name, args);
  return out as unknown as StorageDirProcedures;
}
