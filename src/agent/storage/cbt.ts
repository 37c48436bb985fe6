// The CBT procedures of the host contract (src/shared/host/cbt.ts) on halted qcow2 disks:
// persistent dirty bitmaps changed with `qemu-img bitmap` (argument arrays only), read with the
// pure reader (src/shared/cbt/qcow2-bitmaps.ts). Arguments are type-checked here (the agent RPC
// is a trust boundary); volumes are found through their SR's driver, so paths stay within roots.
import { randomUUID } from 'node:crypto';
import { renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { XenApiError } from '../../shared/errors.js';
import { fsyncDir } from '../../shared/journal.js';
import { CBT_BLOCK, cbtBitmapName, toXapiBitmap } from '../../shared/cbt/changed-blocks.js';
import { listQcow2Bitmaps, Qcow2BitmapError, readQcow2Bitmap } from '../../shared/cbt/qcow2-bitmaps.js';
import type { CbtBitmapInfo, CbtCarry, CbtProcedureName } from '../../shared/host/cbt.js';
import type { LiveCbtOp } from '../qemu/cbt-live.js';
import type { Procedure } from '../server.js';
import { asBackendFailure, backendFailure } from './failure.js';
import { driverFor } from './procedures.js';
import { copyBitmap, imageBitmaps, qemuBitmap, withReader } from './qemu-bitmaps.js';
import { createImage, imageInfo } from './qemu-img.js';
import { srConfig, str, strings } from './rpc.js';
import type { DriverContext, SrConfig, Volume } from './types.js';

/** The SM feature xapi names for enable/disable_cbt, list_changed_blocks and data_destroy. */
export const CBT_CAPABILITY = 'VDI_CONFIG_CBT';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function generation(name: string, v: unknown): string {
  const s = str(name, v);
  if (!UUID.test(s)) throw new XenApiError('INVALID_VALUE', [name, s]);
  return s;
}

/** A CBT-capable SR's volume (qcow2), or SR_OPERATION_NOT_SUPPORTED / VDI_MISSING. */
async function cbtVolume(ctx: DriverContext, sr: SrConfig, location: string): Promise<Volume> {
  const d = driverFor(sr.type);
  if (!d.info.capabilities.includes(CBT_CAPABILITY))
    throw new XenApiError('SR_OPERATION_NOT_SUPPORTED', [sr.uuid]);
  const v = await d.volume(sr, location, ctx);
  if (!v) throw new XenApiError('VDI_MISSING', [sr.uuid, location]);
  if (v.format !== 'qcow2') throw new XenApiError('SR_OPERATION_NOT_SUPPORTED', [sr.uuid]);
  return v;
}

/** Berth's CBT bitmaps of an image; SR_BACKEND_FAILURE when a QEMU holds one (disk running). */
async function cbtBitmaps(path: string): Promise<CbtBitmapInfo[]> {
  const all = (await imageBitmaps(path)).filter((b) => b.generation !== undefined);
  const busy = all.find((b) => b.inUse);
  if (busy) throw backendFailure('VDIInUse', `${basename(path)}: bitmap ${busy.name} is held open by a QEMU`);
  return all;
}

export async function cbt_enable(ctx: DriverContext, sr: SrConfig, location: string, gen: string) {
  const v = await cbtVolume(ctx, sr, location);
  const name = cbtBitmapName(gen);
  if ((await cbtBitmaps(v.path)).some((b) => b.name === name)) return;
  await qemuBitmap(v.path, name, ['--add', '-g', String(CBT_BLOCK)]);
}

export async function cbt_disable(ctx: DriverContext, sr: SrConfig, location: string) {
  const v = await cbtVolume(ctx, sr, location);
  // Inconsistent ones too (left by a QEMU that crashed): disable + enable is the way back.
  for (const b of await imageBitmaps(v.path))
    if (b.generation !== undefined) await qemuBitmap(v.path, b.name, ['--remove']);
}

export async function cbt_bitmaps(ctx: DriverContext, sr: SrConfig, location: string) {
  return imageBitmaps((await cbtVolume(ctx, sr, location)).path);
}

/**
 * After blockdev_snapshot: the source's new image and the snapshot's are empty children of the
 * base that holds the source's former image, bitmaps included. Kept generations are copied from
 * the base (enabled into the source, frozen into the snapshot); the new generation starts empty.
 */
export async function cbt_snapshot(ctx: DriverContext, sr: SrConfig, location: string, carry: CbtCarry) {
  const v = await cbtVolume(ctx, sr, location);
  const snap = carry.snapshot === undefined ? undefined : await cbtVolume(ctx, sr, carry.snapshot);
  // The base both images now stand on; a running source's image is QEMU's, so ask the snapshot's.
  const backing = (await imageInfo(carry.sourceLive && snap ? snap.path : v.path)).backingFile;
  if (!backing || backing.includes('/'))
    throw backendFailure('VDIUnavailable', `${location} has no base image to carry bitmaps from`);
  const base = join(dirname(v.path), backing);
  if (snap && !carry.sourceLive && (await imageInfo(snap.path)).backingFile !== backing)
    throw backendFailure('VDIUnavailable', `${carry.snapshot} is not a snapshot of ${location}`);
  const keep = new Set(carry.keep);
  // An inconsistent bitmap (its QEMU crashed) is not carried: diffs from its generation then
  // answer VDI_NO_CBT_METADATA (the backup tool copies everything once), the new one is sound.
  const inBase = (await imageBitmaps(base)).filter(
    (b) => b.generation && (carry.frozen || keep.has(b.generation)) && !b.inUse,
  );
  for (const b of inBase) if (snap) await copyBitmap(base, snap.path, b.name, false, carry.sourceLive);
  if (carry.sourceLive) return;
  const present = new Set((await cbtBitmaps(v.path)).map((b) => b.name));
  for (const b of inBase) if (!present.has(b.name)) await copyBitmap(base, v.path, b.name, !carry.frozen);
  if (carry.frozen) return;
  if (carry.generation !== undefined && !present.has(cbtBitmapName(carry.generation)))
    await qemuBitmap(v.path, cbtBitmapName(carry.generation), ['--add', '-g', String(CBT_BLOCK)]);
}

export async function cbt_changed_blocks(
  ctx: DriverContext,
  sr: SrConfig,
  location: string,
  gen: string,
): Promise<string | null> {
  const v = await cbtVolume(ctx, sr, location);
  const name = cbtBitmapName(gen);
  try {
    return await withReader(v.path, async (read) => {
      const meta = await listQcow2Bitmaps(read);
      const b = meta.bitmaps.find((x) => x.name === name);
      if (!meta.valid || !b) return null;
      const bits = await readQcow2Bitmap(read, meta, name);
      return toXapiBitmap(bits, b.granularity, meta.virtualSize).toString('base64');
    });
  } catch (e) {
    if (e instanceof Qcow2BitmapError) throw backendFailure('VDIUnavailable', e.message);
    throw e;
  }
}

/**
 * Replaces a (snapshot) volume's image by one with no data and no backing file that keeps its
 * CBT bitmaps, frozen: written under a temporary name (removed by attach if we crash) and renamed
 * over the old image in one step. The base the old image stood on is left to the SR's GC.
 */
export async function cbt_data_destroy(ctx: DriverContext, sr: SrConfig, location: string): Promise<Volume> {
  const v = await cbtVolume(ctx, sr, location);
  const bitmaps = await cbtBitmaps(v.path);
  const dir = dirname(v.path);
  const tmp = join(dir, `.tmp-${randomUUID()}.qcow2`);
  try {
    await asBackendFailure('qemu-img', () => createImage(tmp, 'qcow2', v.virtualSize));
    for (const b of bitmaps) await copyBitmap(v.path, tmp, b.name, false);
    renameSync(tmp, v.path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  fsyncDir(dir);
  const after = await driverFor(sr.type).volume(sr, location, ctx);
  if (!after) throw new XenApiError('VDI_MISSING', [sr.uuid, location]);
  return after;
}

function carryArg(v: unknown): CbtCarry {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new XenApiError('INVALID_VALUE', ['carry', JSON.stringify(v) ?? 'undefined']);
  const o = v as Record<string, unknown>;
  return {
    keep: strings('carry.keep', o.keep).map((g) => generation('carry.keep', g)),
    ...(o.snapshot === undefined ? {} : { snapshot: str('carry.snapshot', o.snapshot) }),
    ...(o.generation === undefined ? {} : { generation: generation('carry.generation', o.generation) }),
    ...(o.sourceLive === undefined ? {} : { sourceLive: o.sourceLive === true }),
    ...(o.frozen === undefined ? {} : { frozen: o.frozen === true }),
  };
}

/** How the agent reaches a running VM's disk (its instance manager). */
export type LiveCbt = (
  vmUuid: string,
  device: string,
  op: LiveCbtOp,
  generation?: string,
) => Promise<string[]>;

const LIVE_OPS: readonly LiveCbtOp[] = ['enable', 'disable', 'list'];

/** The CBT procedure table the agent serves, over this host's driver context and its VMs. */
export function cbtProcedures(ctx: DriverContext, live?: LiveCbt): Record<CbtProcedureName, Procedure> {
  return {
    cbt_live: (vm: unknown, device: unknown, op: unknown, gen: unknown) => {
      const o = str('op', op) as LiveCbtOp;
      if (!LIVE_OPS.includes(o)) throw new XenApiError('INVALID_VALUE', ['op', o]);
      const g = gen === undefined || gen === null ? undefined : generation('generation', gen);
      const args = [str('vm', vm), str('device', device)] as const;
      if (!live) throw new XenApiError('SR_OPERATION_NOT_SUPPORTED', ['live CBT']);
      return live(args[0], args[1], o, g);
    },
    cbt_enable: (sr: unknown, location: unknown, gen: unknown) =>
      cbt_enable(ctx, srConfig('sr', sr), str('location', location), generation('generation', gen)),
    cbt_disable: (sr: unknown, location: unknown) =>
      cbt_disable(ctx, srConfig('sr', sr), str('location', location)),
    cbt_bitmaps: (sr: unknown, location: unknown) =>
      cbt_bitmaps(ctx, srConfig('sr', sr), str('location', location)),
    cbt_snapshot: (sr: unknown, location: unknown, carry: unknown) =>
      cbt_snapshot(ctx, srConfig('sr', sr), str('location', location), carryArg(carry)),
    cbt_changed_blocks: (sr: unknown, location: unknown, gen: unknown) =>
      cbt_changed_blocks(ctx, srConfig('sr', sr), str('location', location), generation('generation', gen)),
    cbt_data_destroy: (sr: unknown, location: unknown) =>
      cbt_data_destroy(ctx, srConfig('sr', sr), str('location', location)),
  };
}
