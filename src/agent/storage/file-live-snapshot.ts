// Live snapshot of a disk in a `file` SR (qcow2 files) while a QEMU writes it, in the same shape
// as an offline clone (file-sr.ts): the disk's data becomes a hidden base (`base-<uuid>.qcow2`,
// the image QEMU has open) with two thin children, the disk itself (same name, same VDI) and the
// snapshot.
//
//   prepare: the leaf's image gets the base name (rename: QEMU keeps its descriptor), two empty
//     children of it are made under temporary names; QEMU opens one of them (blockdev-add).
//   QEMU moves onto it (QMP transaction, disk-snapshot.ts): the base is frozen from then.
//   commit: the children take their names, the leaf's and the snapshot's.
//   abort (QEMU did not move): the base takes the leaf's name back; the temporaries go.
//
// Why the leaf's name is gone while QEMU moves: at the end of the transaction QEMU reopens the
// old image read-only *by its file name* (file-posix cannot turn a read-write descriptor
// read-only). Were that name already the new overlay, the frozen node would read the overlay as
// its own backing file. With no file by that name the reopen fails, QEMU ignores that and keeps
// its descriptor of the right image; the same holds at every later snapshot, as QEMU's name for
// each overlay (a temporary name) is gone by then. GC leaves the base of a live snapshot in
// progress alone (its journal intent pins it).
//
// A crash in between is repaired at the next SR attach (recoverLiveSnapshot): the leaf gets its
// name back (the base's, or the new overlay's if it was made, which shows the same data); the
// snapshot is never completed (the manager's intent then drops its record).
import { randomUUID } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  linkSync,
  renameSync,
  rmSync,
  statfsSync,
  statSync,
  unlinkSync,
} from 'node:fs';
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
      // From here to commit/abort the leaf has no name (see the top of this file).
      unlinkSync(src);
      fsyncDir(dir);
    } catch (e) {
      cleanTemps();
      if (!existsSync(src)) renameSync(join(dir, base), src);
      else rmSync(join(dir, base), { force: true });
      journal.end(intent);
      throw e;
    }
    return {
      overlay: join(dir, tmpLeaf),
      leaf: src,
      frozen: join(dir, base),
      commit: async () => {
        renameSync(join(dir, tmpLeaf), src);
        renameSync(join(dir, tmpClone), clone);
        fsyncDir(dir);
        journal.end(intent);
        return volumeAt(dir, leafName(newUuid));
      },
      abort: async () => {
        // QEMU still writes the base: it takes the leaf's name back.
        renameSync(join(dir, base), src);
        cleanTemps();
        fsyncDir(dir);
        journal.end(intent);
      },
    };
  });
}

/** Repairs an interrupted live snapshot (from its journal intent) at SR attach. */
export function recoverLiveSnapshot(dir: string, intent: Record<string, unknown>): string[] {
  const src = join(dir, String(intent.src));
  const base = join(dir, String(intent.base));
  const tmpLeaf = join(dir, String(intent.tmpLeaf));
  rmSync(join(dir, String(intent.tmpClone)), { force: true });
  if (existsSync(src)) {
    rmSync(tmpLeaf, { force: true });
    // The base is a second name of the leaf (not yet split) or the leaf's backing file (done).
    if (existsSync(base) && statSync(src).ino === statSync(base).ino) {
      rmSync(base, { force: true });
      return [`rolled back live snapshot of ${intent.src}`];
    }
    return [`completed live snapshot of ${intent.src} (its snapshot volume dropped)`];
  }
  // The leaf has no name: QEMU may write either the base or the new overlay, which shows the
  // base's data plus its own: the overlay (if made) is the leaf from now on.
  if (existsSync(tmpLeaf)) {
    renameSync(tmpLeaf, src);
    return [`completed live snapshot of ${intent.src} (its snapshot volume dropped)`];
  }
  if (existsSync(base)) renameSync(base, src);
  return [`rolled back live snapshot of ${intent.src}`];
}
