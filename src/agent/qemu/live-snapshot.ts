// Live disk snapshots in QEMU's block layer (pure parts, golden-tested): find each disk's active
// (top) block node from `query-block`, open each new overlay with `blockdev-add` (outside the
// critical section), then one QMP `transaction` of `blockdev-snapshot` actions puts every overlay
// on top of its disk at once. QEMU drains the disks for the transaction: guest I/O is held for
// its duration only (the vCPUs keep running) and the point in time is the same for every disk
// (crash-consistent). QemuVm.snapshotDisks (vm-process.ts) sends these commands.
//
// Changed-block tracking: per disk, `cbt` (the generations to keep and the one the snapshot
// starts): snapshotBitmapsBefore adds them to the overlay before the transaction, and
// snapshotCatchUp merges the old layer's history into them after it; the transaction itself
// is the same with or without CBT (cbt-live.ts explains why no write is missed).
import { cbtBitmapName } from '../../shared/cbt/changed-blocks.js';
import { type CatchUpStep, liveSnapshotBitmapsBefore, liveSnapshotCatchUp } from './cbt-live.js';
import { diskDeviceId } from './command-line.js';
import type { QmpCommand } from './hotplug.js';

export interface OverlaySpec {
  /** The disk's device ("xvda"). */
  device: string;
  /** The overlay image (qcow2, created by the storage driver over the frozen image). */
  path: string;
  /** CBT: generations whose bitmaps move to the overlay, and the generation the snapshot starts. */
  cbt?: LiveCbtCarry;
}

/** The CBT part of a live snapshot of one disk (src/shared/noded/disk-snapshot.ts). */
export interface LiveCbtCarry {
  keep: string[];
  generation: string;
}

/** One entry of QEMU's `query-block` answer (the fields used here). */
export interface BlockInfo {
  device?: string;
  qdev?: string;
  inserted?: {
    'node-name'?: string;
    file?: string;
    'dirty-bitmaps'?: { name: string; inconsistent?: boolean }[];
  };
}

/** Does a `query-block` entry belong to the virtio disk `device` (pure)? */
export function isDiskOf(info: BlockInfo, device: string): boolean {
  const id = diskDeviceId(device);
  if (info.device === `drive-${id}`) return true; // boot-time -drive
  // A hot-plugged disk has an anonymous BlockBackend; its device is found by qdev id/QOM path.
  const q = info.qdev ?? '';
  return q === id || q.startsWith(`/machine/peripheral/${id}/`);
}

/** The active (top) node name of each disk, from `query-block`; throws naming a missing one (pure). */
export function topNodes(blocks: BlockInfo[], devices: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const d of devices) {
    const node = blocks.find((b) => isDiskOf(b, d))?.inserted?.['node-name'];
    if (!node) throw new Error(`QEMU has no block node for disk ${d}`);
    out[d] = node;
  }
  return out;
}

/**
 * The CBT carry of a disk as its top node allows (pure): a kept generation whose bitmap is not
 * there (tracking was switched off and on while running) or is inconsistent (its QEMU crashed
 * once) cannot be merged, and a failed merge would fail the whole snapshot. It is left behind
 * instead: diffs from it answer VDI_NO_CBT_METADATA, as after any interrupted tracking.
 */
export function carryOnNode(blocks: BlockInfo[], device: string, cbt: LiveCbtCarry): LiveCbtCarry {
  const bitmaps = blocks.find((b) => isDiskOf(b, device))?.inserted?.['dirty-bitmaps'] ?? [];
  const usable = new Set(bitmaps.filter((b) => !b.inconsistent).map((b) => b.name));
  return { ...cbt, keep: cbt.keep.filter((g) => usable.has(cbtBitmapName(g))) };
}

/** Node name of a disk's overlay: unique per snapshot (QEMU node names: ≤ 31 chars) (pure). */
export function overlayNodeName(device: string, seq: number): string {
  const base = `snap${seq.toString(36)}-${device.toLowerCase().replace(/[^a-z0-9_-]/g, '_')}`;
  return base.slice(0, 31);
}

/**
 * blockdev-add of an overlay, without its backing (`backing: null`: blockdev-snapshot attaches
 * the disk's current node under it). Same caching and discard as a boot-time disk (pure).
 */
export function overlayAddCommand(node: string, path: string): QmpCommand {
  // Block devices would need host_device; only image files (qcow2 in a file SR) come here.
  return {
    execute: 'blockdev-add',
    arguments: {
      'node-name': node,
      driver: 'qcow2',
      discard: 'unmap',
      backing: null,
      file: { driver: 'file', filename: path },
    },
  };
}

/** Undo of overlayAddCommand when the transaction fails (pure). */
export function overlayDelCommand(node: string): QmpCommand {
  return { execute: 'blockdev-del', arguments: { 'node-name': node } };
}

/**
 * The one `transaction` that snapshots every disk at the same instant: blockdev-snapshot of each
 * disk's top node onto its overlay (pure). CBT adds nothing here (cbt-live.ts).
 */
export function snapshotTransaction(disks: { top: string; overlay: string }[]): QmpCommand {
  const actions: Record<string, unknown>[] = [];
  for (const d of disks)
    actions.push({ type: 'blockdev-snapshot', data: { node: d.top, overlay: d.overlay } });
  return { execute: 'transaction', arguments: { actions } };
}

interface CbtDisk {
  top: string;
  overlay: string;
  cbt?: LiveCbtCarry;
}

/** Before the transaction: the CBT bitmaps each new overlay starts with (pure). */
export function snapshotBitmapsBefore(disks: CbtDisk[]): QmpCommand[] {
  return disks.flatMap((d) =>
    d.cbt ? liveSnapshotBitmapsBefore(d.overlay, d.cbt.keep, d.cbt.generation) : [],
  );
}

/** After the transaction: the kept CBT generations' history onto each new layer (pure). */
export function snapshotCatchUp(disks: CbtDisk[]): CatchUpStep[] {
  return disks.flatMap((d) => (d.cbt ? liveSnapshotCatchUp(d.top, d.overlay, d.cbt.keep) : []));
}
