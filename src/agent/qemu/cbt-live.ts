// CBT on a running disk: the image is QEMU's, so its persistent dirty bitmaps are changed over
// QMP (block-dirty-bitmap-add/-remove on the disk's format node); QEMU writes them into the qcow2
// when it closes the image. Same bitmap names as on halted disks (src/shared/host/cbt.ts).
// Depends only on a QMP `command` function, so it is tested against a bare QEMU.
import { CBT_BLOCK, cbtBitmapName, cbtGeneration } from '../../shared/cbt/changed-blocks.js';
import { XenApiError } from '../../shared/errors.js';

export type QmpCommand = (execute: string, args?: Record<string, unknown>) => Promise<unknown>;

/** enable: add the bitmap of a generation; disable: remove every Berth CBT bitmap; list. */
export type LiveCbtOp = 'enable' | 'disable' | 'list';

interface BlockInfo {
  device?: string;
  qdev?: string;
  inserted?: { 'node-name'?: string; 'dirty-bitmaps'?: { name: string; persistent?: boolean }[] };
}

/**
 * The format node of a disk and its bitmaps, from query-block: a boot-time disk is found by its
 * BlockBackend (`drive`), a hot-plugged one by its node name or, once a live snapshot put an
 * overlay of another name on top, by its device's qdev id (`qdev`).
 */
export function findDiskNode(
  blocks: BlockInfo[],
  names: { drive: string; node: string; qdev?: string },
): { node: string; bitmaps: string[] } | undefined {
  const ofDevice = (q: string | undefined) =>
    names.qdev !== undefined &&
    (q === names.qdev || Boolean(q?.startsWith(`/machine/peripheral/${names.qdev}/`)));
  const b = blocks.find(
    (x) => x.device === names.drive || x.inserted?.['node-name'] === names.node || ofDevice(x.qdev),
  );
  const node = b?.inserted?.['node-name'];
  if (!node) return undefined;
  return { node, bitmaps: (b.inserted?.['dirty-bitmaps'] ?? []).map((d) => d.name) };
}

/** Runs `op` on the disk's bitmaps; answers the CBT generations the disk tracks afterwards. */
export async function liveCbt(
  qmp: QmpCommand,
  names: { drive: string; node: string },
  op: LiveCbtOp,
  generation?: string,
): Promise<string[]> {
  const disk = findDiskNode((await qmp('query-block')) as BlockInfo[], names);
  if (!disk) throw new XenApiError('DEVICE_ALREADY_DETACHED', [names.drive]);
  let present = disk.bitmaps;
  if (op === 'enable') {
    if (!generation) throw new XenApiError('INVALID_VALUE', ['generation', '']);
    const name = cbtBitmapName(generation);
    if (!present.includes(name)) {
      await qmp('block-dirty-bitmap-add', {
        node: disk.node,
        name,
        granularity: CBT_BLOCK,
        persistent: true,
      });
      present = [...present, name];
    }
  } else if (op === 'disable') {
    for (const name of present.filter((n) => cbtGeneration(n) !== undefined))
      await qmp('block-dirty-bitmap-remove', { node: disk.node, name });
    present = present.filter((n) => cbtGeneration(n) === undefined);
  }
  return present.map(cbtGeneration).filter((g): g is string => g !== undefined);
}

type QmpCall = { execute: string; arguments: Record<string, unknown> };

/**
 * CBT across a live snapshot that makes `newNode` (a fresh overlay opened with blockdev-add) the
 * disk's active layer over `oldNode`, in three steps so that nothing but the snapshot itself
 * happens while guest I/O is held:
 *
 * 1. before the transaction: every kept generation's bitmap and the new one (the snapshot's
 *    uuid) are added, enabled and empty, to the new layer. Nothing writes that node until the
 *    transaction puts it on top, so from then on they record exactly the writes since the
 *    snapshot's instant.
 * 2. the transaction: the snapshot only. The old layer's bitmaps stop changing at that instant
 *    (no write reaches it any more); QEMU stores them in its image when it tries to reopen it
 *    read-only at the end of the transaction (the snapshot's frozen copies come from there).
 * 3. after it (liveSnapshotCatchUp): each kept generation's old bitmap is merged into the new
 *    layer's (writes before the snapshot), then disabled on the old layer (frozen, also in name).
 *    A kept bitmap whose merge fails must not stay on the new layer: it would under-report
 *    (`undo` removes it; then diffs from it answer VDI_NO_CBT_METADATA).
 */
export function liveSnapshotBitmapsBefore(
  newNode: string,
  keep: readonly string[],
  newGeneration: string,
): QmpCall[] {
  return [...keep, newGeneration].map((g) => ({
    execute: 'block-dirty-bitmap-add',
    arguments: { node: newNode, name: cbtBitmapName(g), granularity: CBT_BLOCK, persistent: true },
  }));
}

/** Step 3 of liveSnapshotBitmapsBefore's comment, per kept generation: commands and their undo. */
export function liveSnapshotCatchUp(
  oldNode: string,
  newNode: string,
  keep: readonly string[],
): CatchUpStep[] {
  return keep.map((g) => {
    const name = cbtBitmapName(g);
    return {
      merge: {
        execute: 'block-dirty-bitmap-merge',
        arguments: { node: newNode, target: name, bitmaps: [{ node: oldNode, name }] },
      },
      undo: { execute: 'block-dirty-bitmap-remove', arguments: { node: newNode, name } },
      freeze: { execute: 'block-dirty-bitmap-disable', arguments: { node: oldNode, name } },
    };
  });
}

/** One kept generation after a live snapshot: `merge`; if it fails, `undo`; then `freeze`. */
export interface CatchUpStep {
  merge: QmpCall;
  /** Removes the new layer's bitmap of a generation whose history could not be merged. */
  undo: QmpCall;
  /** Disables the old layer's copy (no write reaches it; this makes it frozen in name too). */
  freeze: QmpCall;
}
