// Live snapshot of a disk in a `file` SR (qcow2 files) while a QEMU writes it, in the same shape
// as an offline clone (file-sr.ts): the disk's data becomes a hidden base (`base-<uuid>.qcow2`, a
// second name of the image QEMU has open) with two thin children, the disk itself (same name,
// same VDI) and the snapshot.
//
//   prepare (under the SR's lock, so GC never sees the new base childless):
//     link the leaf as the base; make two empty children of it; rename one over the leaf.
//     The leaf's name now shows base + nothing, i.e. what QEMU sees; QEMU still writes the base.
//   QEMU moves onto the leaf (QMP transaction, disk-snapshot.ts): the base is frozen from then.
//   commit: rename the second child into place as the snapshot volume.
//   abort (QEMU did not move): rename the base back over the leaf; nothing else changed.
//
// A crash in between is repaired at the next SR attach (recoverLiveSnapshot): temporaries go,
// and the base goes too unless the leaf already stands on it; the snapshot is never completed
// (the manager's intent then drops its record).
import { randomUUID } from 'node:crypto';
import { copyFileSync, existsSync, linkSync, renameSync, rmSync, statfsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { XenApiError } from '../../shared/errors.js';
import { fsyncDir } from '../../shared/journal.js';
import { asBackendFailure, backendFailure } from './failure.js';
import {
  baseName,
  emptyQcow2Size,
  fsyncFile,
  journalOf,
  leafName,
  qcow2VirtualSize,
  serial,
  tmpName,
  volumeAt,
} from './file-sr.js';
import { createImage } from './qemu-img.js';
import type { PreparedSnapshot } from './types.js';

export const LIVE_SNAPSHOT_OP = 'live-snapshot';

/** Prepares a live snapshot of `location` in SR directory `dir` (see the top of this file). */
export function liveSnapshotIn(dir: string, location: string, newUuid: string): Promise<PreparedSnapshot> {
  return serial(dir, async () => {
    const src = join(dir, leafName(location));
    if (!existsSync(src)) throw backendFailure('VDIUnavailable', `no image for ${location}`);
    const clone = join(dir, leafName(newUuid));
    if (existsSync(clone)) throw new XenApiError('LOCATION_NOT_UNIQUE', [dir, newUuid]);
    const virtualSize = qcow2VirtualSize(src);
    const needed = 2 * emptyQcow2Size(virtualSize);
    const fs = statfsSync(dir);
    if (needed > fs.bavail * fs.bsize)
      throw new XenApiError('SR_FULL', [String(needed), String(fs.bavail * fs.bsize)]);
    const base = baseName(randomUUID());
    const tmpLeaf = tmpName();
    const tmpClone = tmpName();
    const journal = journalOf(dir);
    const intent = journal.begin(LIVE_SNAPSHOT_OP, {
      src: leafName(location),
      base,
      clone: leafName(newUuid),
      tmpLeaf,
      tmpClone,
    });
    const cleanTemps = () => {
      for (const t of [tmpLeaf, tmpClone]) rmSync(join(dir, t), { force: true });
    };
    try {
      linkSync(src, join(dir, base));
      const backing = { file: base, format: 'qcow2' as const };
      await asBackendFailure('qemu-img', () =>
        createImage(join(dir, tmpLeaf), 'qcow2', virtualSize, backing),
      );
      copyFileSync(join(dir, tmpLeaf), join(dir, tmpClone));
      for (const t of [tmpLeaf, tmpClone]) fsyncFile(join(dir, t));
      renameSync(join(dir, tmpLeaf), src);
      fsyncDir(dir);
    } catch (e) {
      // Before the rename the leaf is untouched: only the new names go.
      cleanTemps();
      if (existsSync(join(dir, base)) && statSync(join(dir, base)).ino === statSync(src).ino)
        rmSync(join(dir, base), { force: true });
      journal.end(intent);
      throw e;
    }
    return {
      overlay: src,
      frozen: join(dir, base),
      commit: () =>
        serial(dir, async () => {
          renameSync(join(dir, tmpClone), clone);
          fsyncDir(dir);
          journal.end(intent);
          return volumeAt(dir, leafName(newUuid));
        }),
      abort: () =>
        serial(dir, async () => {
          // The base is still the image QEMU writes: it takes the leaf's name back.
          renameSync(join(dir, base), src);
          cleanTemps();
          fsyncDir(dir);
          journal.end(intent);
        }),
    };
  });
}

/** Repairs an interrupted live snapshot (from its journal intent) at SR attach. */
export function recoverLiveSnapshot(dir: string, intent: Record<string, unknown>): string[] {
  const src = join(dir, String(intent.src));
  const base = join(dir, String(intent.base));
  for (const t of [intent.tmpLeaf, intent.tmpClone]) rmSync(join(dir, String(t)), { force: true });
  if (!existsSync(base)) return [`rolled back live snapshot of ${intent.src} (nothing done)`];
  if (existsSync(src) && statSync(src).ino === statSync(base).ino) {
    rmSync(base, { force: true });
    return [`rolled back live snapshot of ${intent.src}`];
  }
  // The leaf stands on the base now (QEMU may already write the leaf): both stay.
  return [`kept the new overlay of ${intent.src} from an interrupted live snapshot`];
}
