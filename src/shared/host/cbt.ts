// The changed-block-tracking part of the host contract: QEMU persistent dirty bitmaps in a halted
// disk's qcow2 image, changed with `qemu-img bitmap` by the host agent (src/agent/storage/cbt.ts)
// and read by its bitmap reader (src/shared/cbt/qcow2-bitmaps.ts). The manager calls these
// through its client of the SR's host, with the SR as the storage procedures take it.
//
// Bitmap naming (docs/decisions.md, "cbt (issue 14)"): a disk's image holds one bitmap per CBT
// generation, `berth-cbt-<uuid>` = the blocks written since snapshot <uuid> was taken (or since
// enable_cbt, for the VDI's own uuid). The live disk's are enabled; a snapshot's are frozen
// copies; VDI.list_changed_blocks(from, to) is bitmap `berth-cbt-<from uuid>` of `to`'s image.
import type { SrConfig, Volume } from './storage.js';

export interface CbtBitmapInfo {
  name: string;
  /** The generation (snapshot or VDI uuid) of a Berth CBT bitmap; absent for other bitmaps. */
  generation?: string;
  /** Tracks writes (QEMU's "auto" flag); frozen otherwise. */
  enabled: boolean;
  /** Open read-write by a QEMU (or left so by a crash): content not readable now. */
  inUse: boolean;
  granularity: number;
}

/** What to do with the CBT bitmaps right after blockdev_snapshot of a CBT-enabled volume. */
export interface CbtCarry {
  /** Generations to keep (the others, of deleted snapshots, are dropped). */
  keep: string[];
  /** The new snapshot's location: it gets frozen copies of the kept bitmaps. */
  snapshot?: string;
  /** A new generation started on the source (the new snapshot's uuid). */
  generation?: string;
  /**
   * The source is a running disk (a live snapshot): QEMU carried its bitmaps already
   * (cbt-live.ts liveSnapshotBitmapsBefore/CatchUp); only the snapshot's image gets frozen
   * copies, from its base.
   */
  sourceLive?: boolean;
  /**
   * The source is itself a snapshot (its bitmaps are frozen copies): every CBT bitmap of the
   * base goes back into its new image frozen (and into the new snapshot's, if any), `keep`
   * aside; no generation starts. Cloning a snapshot (VM.revert does) must not lose them.
   */
  frozen?: boolean;
}

export interface CbtProcedures {
  /** Adds the enabled bitmap of `generation` to a halted disk (idempotent). */
  cbt_enable(sr: SrConfig, location: string, generation: string): Promise<void>;
  /** Removes every Berth CBT bitmap of a halted disk (idempotent). */
  cbt_disable(sr: SrConfig, location: string): Promise<void>;
  /** The bitmaps a disk's image holds. */
  cbt_bitmaps(sr: SrConfig, location: string): Promise<CbtBitmapInfo[]>;
  /**
   * After blockdev_snapshot (a new, empty image replaced the source's, its data now in a base):
   * copies the kept bitmaps from that base into the source's new image (enabled) and into the
   * snapshot's (frozen), and starts the new generation on the source.
   */
  cbt_snapshot(sr: SrConfig, location: string, carry: CbtCarry): Promise<void>;
  /**
   * xapi's list_changed_blocks bitmap (base64, one MSB-first bit per 64 KiB) of the blocks
   * written since `generation`, from the image at `location`; null when it holds no such bitmap.
   */
  cbt_changed_blocks(sr: SrConfig, location: string, generation: string): Promise<string | null>;
  /**
   * VDI.data_destroy: the volume's data is dropped (its image replaced by one holding no data
   * and no backing file, only the CBT bitmaps, frozen); same location, same virtual size.
   */
  cbt_data_destroy(sr: SrConfig, location: string): Promise<Volume>;
  /**
   * A running VM's disk (its QEMU holds the image): `enable` adds the bitmap of `generation`,
   * `disable` removes every Berth CBT bitmap, over QMP. Answers the generations tracked after.
   */
  cbt_live(
    vmUuid: string,
    device: string,
    op: 'enable' | 'disable' | 'list',
    generation?: string,
  ): Promise<string[]>;
}

export type CbtProcedureName = keyof CbtProcedures;

export const CBT_PROCEDURES: readonly CbtProcedureName[] = [
  'cbt_enable',
  'cbt_disable',
  'cbt_bitmaps',
  'cbt_snapshot',
  'cbt_changed_blocks',
  'cbt_data_destroy',
  'cbt_live',
];

/** The CBT procedures over an agent RPC `call` (the manager's client of a host's agent). */
export function cbtClient(call: (procedure: string, args: unknown[]) => Promise<unknown>): CbtProcedures {
  const out: Record<string, (...args: unknown[]) => Promise<unknown>> = {};
  for (const name of CBT_PROCEDURES) out[name] = (...args: unknown[]) => call(name, args);
  return out as unknown as CbtProcedures;
}
