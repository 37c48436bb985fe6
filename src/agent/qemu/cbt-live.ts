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

/**
 * The QMP `transaction` actions a live snapshot adds after its own (blockdev-snapshot or
 * blockdev-snapshot-sync making `newNode` the disk's active layer over `oldNode`), so that
 * tracking continues without a gap: each kept generation's bitmap is created on the new layer
 * and filled from the old one; the new generation (the snapshot's uuid) starts empty there; the
 * old layer's bitmaps are frozen (no writes reach it any more). The snapshot VDI's own image then
 * gets frozen copies from the old layer's file with cbt_snapshot({…, sourceLive: true}).
 */
export function liveSnapshotBitmapActions(
  oldNode: string,
  newNode: string,
  keep: readonly string[],
  newGeneration: string,
): { type: string; data: Record<string, unknown> }[] {
  const add = (name: string) => ({
    type: 'block-dirty-bitmap-add',
    data: { node: newNode, name, granularity: CBT_BLOCK, persistent: true },
  });
  const out: { type: string; data: Record<string, unknown> }[] = [];
  for (const g of keep) {
    const name = cbtBitmapName(g);
    out.push(add(name));
    out.push({
      type: 'block-dirty-bitmap-merge',
      data: { node: newNode, target: name, bitmaps: [{ node: oldNode, name }] },
    });
    out.push({ type: 'block-dirty-bitmap-disable', data: { node: oldNode, name } });
  }
  out.push(add(cbtBitmapName(newGeneration)));
  return out;
}
