// The storage-dir procedure (src/shared/host/storage-dir.ts) as the agent serves it: arguments
// checked before any path is touched.
import type { StorageDirProcedureName, StorageDirProcedures } from '../../shared/host/storage-dir.js';
import { srConfig, str } from '../storage/rpc.js';
import { fileStorageDirRename, type StorageDirContext } from './rename.js';

export type ServedStorageDirProcedures = {
  [K in StorageDirProcedureName]: (...args: unknown[]) => ReturnType<StorageDirProcedures[K]>;
};

export function storageDirProcedures(ctx: StorageDirContext): ServedStorageDirProcedures {
  return {
    file_storage_dir_rename: async (sr: unknown, location: unknown) =>
      fileStorageDirRename(ctx, srConfig('sr', sr), str('location', location)),
  };
}
