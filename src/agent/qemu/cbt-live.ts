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
 * BlockBackend (`drive`), a hot-plugged one by its node name.
 */
export function findDiskNode(
  blocks: BlockInfo[],
  names: { drive: string; node: string },
): { node: string; bitmaps: string[] } | undefined {
  const b = blocks.find((x) => x.device === names.drive || x.inserted?.['node-name'] === names.node);
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

type QmpAction = { type: string; data: Record<string, unknown> };

/**
 * The QMP `transaction` actions a live snapshot adds after its own (blockdev-snapshot or
 * blockdev-snapshot-sync making `newNode` the disk's active layer over `oldNode`): the new
 * generation (the snapshot's uuid) starts empty on the new layer at the snapshot's instant, and
 * the kept generations' bitmaps on the old layer are frozen there (no write reaches it any more;
 * QEMU stores them in its image when it reopens it read-only at the end of the transaction).
 * Only this is inside the transaction, where guest I/O is held: the kept generations come back
 * onto the new layer right after it (liveSnapshotCatchUp), without a gap.
 */
export function liveSnapshotBitmapActions(
  oldNode: string,
  newNode: string,
  keep: readonly string[],
  newGeneration: string,
): QmpAction[] {
  const out: QmpAction[] = keep.map((g) => ({
    type: 'block-dirty-bitmap-disable',
    data: { node: oldNode, name: cbtBitmapName(g) },
  }));
  out.push({
    type: 'block-dirty-bitmap-add',
    data: { node: newNode, name: cbtBitmapName(newGeneration), granularity: CBT_BLOCK, persistent: true },
  });
  return out;
}

/**
 * The QMP commands (outside the transaction, guest I/O flowing) that put each kept generation
 * back on the new layer: the bitmap is added there (enabled: it records every write from then
 * on), then filled with the old layer's frozen copy (writes up to the snapshot) and the new
 * generation's bitmap (every write since the snapshot). A write between the two commands lands
 * in both the new generation and the added bitmap; none is missed.
 */
export function liveSnapshotCatchUp(
  oldNode: string,
  newNode: string,
  keep: readonly string[],
  newGeneration: string,
): { execute: string; arguments: Record<string, unknown> }[] {
  return keep.flatMap((g) => {
    const name = cbtBitmapName(g);
    return [
      {
        execute: 'block-dirty-bitmap-add',
        arguments: { node: newNode, name, granularity: CBT_BLOCK, persistent: true },
      },
      {
        execute: 'block-dirty-bitmap-merge',
        arguments: {
          node: newNode,
          target: name,
          bitmaps: [
            { node: oldNode, name },
            { node: newNode, name: cbtBitmapName(newGeneration) },
          ],
        },
      },
    ];
  });
}
