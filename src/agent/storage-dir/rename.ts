// Ganeti's file_storage_dir_rename for a file SR (src/shared/host/storage-dir.ts): both paths
// confined to the agent's SR roots (storage/paths.ts resolves symlinks on the part that exists),
// the old one this SR's own real directory, the new one absent, nothing of the SR in use here;
// then one rename(2), so the directory is whole at the old path or at the new one.
import { lstatSync, readdirSync, readlinkSync, renameSync } from 'node:fs';
import { join, sep } from 'node:path';
import { XenApiError } from '../../shared/errors.js';
import type { SrConfig } from '../../shared/host/storage.js';
import { backendFailure } from '../storage/failure.js';
import { markerUuid } from '../storage/file-sr.js';
import { confine } from '../storage/paths.js';

export interface StorageDirContext {
  allowedRoots: readonly string[];
  /** Whether the SR is attached on this agent now. */
  isAttached: (uuid: string) => boolean;
  /** Paths open by any process on this host (default: every /proc/<pid>/fd link). */
  openPaths?: () => Iterable<string>;
}

/** Every file open by a process here, as /proc/<pid>/fd links name them (unreadable ones skipped). */
export function* procOpenPaths(proc = '/proc'): Generator<string> {
  let pids: string[] = [];
  try {
    pids = readdirSync(proc).filter((p) => /^\d+$/.test(p));
  } catch {
    return;
  }
  for (const pid of pids) {
    let fds: string[] = [];
    try {
      fds = readdirSync(join(proc, pid, 'fd'));
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        yield readlinkSync(join(proc, pid, 'fd', fd));
      } catch {}
    }
  }
}

/** Is `path` the directory `dir` or inside it (pure)? */
export const insideDir = (path: string, dir: string) => path === dir || path.startsWith(dir + sep);

const exists = (p: string) => {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
};

export async function fileStorageDirRename(
  ctx: StorageDirContext,
  sr: SrConfig,
  location: string,
): Promise<void> {
  if (sr.type !== 'file') throw new XenApiError('SR_OPERATION_NOT_SUPPORTED', [sr.uuid]);
  const from = confine(
    'device_config:location',
    sr.deviceConfig.location ?? sr.deviceConfig.path,
    ctx.allowedRoots,
  );
  const to = confine('location', location, ctx.allowedRoots);
  const st = (() => {
    try {
      return lstatSync(from);
    } catch {
      return undefined;
    }
  })();
  // The SR's own directory, never a symlink to one (renaming the link would move nothing).
  if (!st?.isDirectory()) throw backendFailure('SRUnavailable', `${from} is not a directory`);
  if (markerUuid(from) !== sr.uuid)
    throw backendFailure('SRUnavailable', `${from} does not hold SR ${sr.uuid}`);
  if (insideDir(to, from))
    throw new XenApiError('INVALID_VALUE', ['location', location, 'inside the SR directory']);
  if (exists(to)) throw backendFailure('FileStorageDirExists', `${to} already exists`);
  if (ctx.isAttached(sr.uuid)) throw backendFailure('SRInUse', `SR ${sr.uuid} is attached on this host`);
  for (const p of (ctx.openPaths ?? procOpenPaths)())
    if (insideDir(p, from)) throw backendFailure('SRInUse', `${p} is open`);
  try {
    renameSync(from, to);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw backendFailure(
      code === 'EXDEV' ? 'FileStorageDirCrossDevice' : 'FileStorageDirRename',
      code === 'EXDEV' ? `${from} and ${to} are on different filesystems` : String(e),
    );
  }
}
