// Which byte ranges an /export_raw_vdi carries. A full export: the allocated extents (NBD
// base:allocation, zeros and holes left out). A differential export (`base=`): the ranges whose
// bytes differ from the base snapshot, found in this order:
//   1. both disks track changed blocks (CBT) and the base is an earlier generation of the VDI:
//      the agent's changed-block bitmap (what VDI.list_changed_blocks answers), nothing read;
//   2. otherwise from the images' allocation (qemu:allocation-depth, depth 1 = the volume's own
//      top layer): on a thin SR (qcow2 chains) a range either disk allocates in its own top layer
//      was written after they split and is sent as is; ranges they hold in deeper layers may be
//      shared or not (the chain is the agent's business), so both are read and only the 64 KiB
//      blocks whose bytes differ are sent. On a thick SR every allocated range is compared.
import { CBT_BLOCK } from '../../shared/cbt/changed-blocks.js';
import {
  type Extent,
  extentsFromBitmap,
  normalizeExtents,
  subtractExtents,
  unionExtents,
} from '../../shared/disk-formats/index.js';
import { BASE_ALLOCATION, extents, type NbdClient } from '../../shared/nbd/index.js';
import type { Services } from '../api/context.js';
import { attachedSr, attachedVbds, driverInfoOf } from '../storage/records.js';
import { hostForSr } from '../storage/sr-host.js';
import { ALLOCATION_DEPTH } from './vdi-nbd.js';

/** Ranges that read as data (not holes or zeros) by base:allocation. */
export async function dataExtents(c: NbdClient): Promise<Extent[]> {
  const out: Extent[] = [];
  for await (const e of extents(c, BASE_ALLOCATION))
    if (!e.zero) out.push({ offset: e.offset, length: e.length });
  return normalizeExtents(out, c.size);
}

export interface DepthExtent extends Extent {
  /** 0: unallocated anywhere in the chain; 1: the top layer; n: the n-th layer down. */
  depth: number;
}

/** The allocation depth of every range (all 1 where the server has no depth context). */
export async function depthExtents(c: NbdClient): Promise<DepthExtent[]> {
  const out: DepthExtent[] = [];
  if (!c.contexts.has(ALLOCATION_DEPTH)) {
    for (const e of await dataExtents(c)) out.push({ ...e, depth: 1 });
    return out;
  }
  for await (const e of extents(c, ALLOCATION_DEPTH))
    out.push({ offset: e.offset, length: e.length, depth: e.flags });
  return out;
}

/**
 * Pure: from both disks' allocation depths, the ranges sent without reading (`direct`: either
 * disk's top layer on a thin SR) and the ranges whose bytes must be compared (`compare`).
 */
export function planDelta(
  vdi: readonly DepthExtent[],
  base: readonly DepthExtent[],
  thin: boolean,
): { direct: Extent[]; compare: Extent[] } {
  const pick = (xs: readonly DepthExtent[], f: (d: number) => boolean) => xs.filter((e) => f(e.depth));
  const direct = thin
    ? unionExtents(
        pick(vdi, (d) => d === 1),
        pick(base, (d) => d === 1),
      )
    : [];
  const allocated = unionExtents(
    pick(vdi, (d) => d >= 1),
    pick(base, (d) => d >= 1),
  );
  return { direct, compare: subtractExtents(allocated, direct) };
}

const COMPARE_READ = 1024 * 1024;

/** Reads `range` of a disk, zeros past its end (a base smaller than the VDI). */
async function readPadded(c: NbdClient, offset: number, length: number): Promise<Buffer> {
  if (offset >= c.size) return Buffer.alloc(length);
  const n = Math.min(length, c.size - offset);
  const b = await c.read(offset, n);
  return n === length ? b : Buffer.concat([b, Buffer.alloc(length - n)]);
}

/** The 64 KiB-aligned blocks inside `ranges` whose bytes differ between the two disks. */
export async function differingBlocks(
  vdi: NbdClient,
  base: NbdClient,
  ranges: readonly Extent[],
  signal?: AbortSignal,
): Promise<Extent[]> {
  const out: Extent[] = [];
  // Whole blocks: a block partly in a range is compared whole.
  const blocks = normalizeExtents(
    ranges.map((r) => {
      const start = Math.floor(r.offset / CBT_BLOCK) * CBT_BLOCK;
      return { offset: start, length: Math.ceil((r.offset + r.length) / CBT_BLOCK) * CBT_BLOCK - start };
    }),
    vdi.size,
  );
  for (const r of blocks) {
    for (let o = r.offset; o < r.offset + r.length; o += COMPARE_READ) {
      signal?.throwIfAborted();
      const n = Math.min(COMPARE_READ, r.offset + r.length - o);
      const [a, b] = await Promise.all([vdi.read(o, n), readPadded(base, o, n)]);
      for (let i = 0; i < n; i += CBT_BLOCK) {
        const k = Math.min(CBT_BLOCK, n - i);
        if (!a.subarray(i, i + k).equals(b.subarray(i, i + k))) out.push({ offset: o + i, length: k });
      }
    }
  }
  return normalizeExtents(out);
}

/** CBT's changed ranges from `base` to `vdi`, or undefined when CBT cannot answer. */
async function cbtExtents(
  svc: Services,
  vdi: string,
  base: string,
  size: number,
): Promise<Extent[] | undefined> {
  const { db } = svc;
  const v = db.mustGet('VDI', vdi);
  const b = db.mustGet('VDI', base);
  // A disk a running VM writes: its bitmap is still moving (list_changed_blocks refuses it too).
  if (!v.cbt_enabled || !b.cbt_enabled || attachedVbds(db, vdi).length) return undefined;
  const sr = String(v.SR);
  const info = driverInfoOf(svc, String(db.mustGet('SR', sr).type));
  if (!info?.capabilities.includes('VDI_CONFIG_CBT')) return undefined;
  const bits = await svc.hosts
    .get(hostForSr(svc, sr))
    .cbt.cbt_changed_blocks(attachedSr(svc, sr), String(v.location), String(b.uuid))
    .catch(() => null);
  if (bits === null) return undefined;
  return extentsFromBitmap(Buffer.from(bits, 'base64'), CBT_BLOCK, size, 'msb');
}

export interface DeltaResult {
  extents: Extent[];
  /** How they were found (reported in the log and tests). */
  method: 'cbt' | 'allocation';
}

/** The ranges of `vdi` that differ from `base` (see the top of this file). */
export async function deltaExtents(
  svc: Services,
  vdi: string,
  base: string,
  vdiConn: NbdClient,
  baseConn: NbdClient,
  signal?: AbortSignal,
): Promise<DeltaResult> {
  const cbt = await cbtExtents(svc, vdi, base, vdiConn.size);
  if (cbt) return { extents: cbt, method: 'cbt' };
  const sr = String(svc.db.mustGet('VDI', vdi).SR);
  const thin = driverInfoOf(svc, String(svc.db.mustGet('SR', sr).type))?.thin ?? false;
  const plan = planDelta(await depthExtents(vdiConn), await depthExtents(baseConn), thin);
  const differing = await differingBlocks(vdiConn, baseConn, plan.compare, signal);
  return {
    extents: normalizeExtents(unionExtents(plan.direct, differing), vdiConn.size),
    method: 'allocation',
  };
}
