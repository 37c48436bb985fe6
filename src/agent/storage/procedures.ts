// The host's storage procedures, named after Ganeti's node-daemon block-device calls where they
// overlap (blockdev_create, blockdev_remove, blockdev_grow, blockdev_snapshot, blockdev_convert,
// blockdev_find, blockdev_getdimensions) plus the SR-level calls xapi's SM backends offer
// (sr_create/attach/detach/destroy/scan/probe/stats/gc). Arguments and results are plain JSON so
// the agent RPC can register these functions as they are.
import { rmSync, statSync, truncateSync } from 'node:fs';
import { XenApiError } from '../../shared/errors.js';
import { noSpaceIsFull } from './failure.js';
import { extDriver } from './ext-sr.js';
import { fileDriver } from './file-sr.js';
import { isoDriver } from './iso-sr.js';
import { lvmDriver } from './lvm-sr.js';
import { nfsDriver } from './nfs-sr.js';
import { confine } from './paths.js';
import { convertImage } from './qemu-img.js';
import type {
  DriverContext,
  DriverInfo,
  ProbeEntry,
  Repairs,
  SrConfig,
  SrDriver,
  SrStats,
  Volume,
} from './types.js';

export const DRIVERS: Readonly<Record<string, SrDriver>> = {
  file: fileDriver,
  iso: isoDriver,
  lvm: lvmDriver,
  nfs: nfsDriver,
  ext: extDriver,
};

export function driverFor(type: string): SrDriver {
  const d = Object.hasOwn(DRIVERS, type) ? DRIVERS[type] : undefined;
  if (!d) throw new XenApiError('SR_UNKNOWN_DRIVER', [type]);
  return d;
}

export const driverInfos = (): DriverInfo[] => Object.values(DRIVERS).map((d) => d.info);

export async function sr_create(ctx: DriverContext, sr: SrConfig): Promise<SrStats> {
  const d = driverFor(sr.type);
  d.validate(sr.deviceConfig, ctx);
  await d.create(sr, ctx);
  return d.stats(sr, ctx);
}

export async function sr_destroy(ctx: DriverContext, sr: SrConfig): Promise<void> {
  await driverFor(sr.type).destroy(sr, ctx);
}

export async function sr_attach(ctx: DriverContext, sr: SrConfig): Promise<Repairs> {
  const d = driverFor(sr.type);
  d.validate(sr.deviceConfig, ctx);
  return d.attach(sr, ctx);
}

export async function sr_detach(ctx: DriverContext, sr: SrConfig): Promise<void> {
  await driverFor(sr.type).detach(sr, ctx);
}

export async function sr_stats(ctx: DriverContext, sr: SrConfig): Promise<SrStats> {
  return driverFor(sr.type).stats(sr, ctx);
}

export async function sr_scan(
  ctx: DriverContext,
  sr: SrConfig,
): Promise<{ stats: SrStats; volumes: Volume[] }> {
  const d = driverFor(sr.type);
  const volumes = await d.scan(sr, ctx);
  return { stats: await d.stats(sr, ctx), volumes };
}

export async function sr_probe(
  ctx: DriverContext,
  type: string,
  dc: Record<string, string>,
): Promise<ProbeEntry[]> {
  const d = driverFor(type);
  d.validate(dc, ctx);
  return d.probe(dc, ctx);
}

export async function sr_gc(ctx: DriverContext, sr: SrConfig, busy: string[]): Promise<string[]> {
  return driverFor(sr.type).gc(sr, busy, ctx);
}

function assertCapable(d: SrDriver, sr: SrConfig, cap: string) {
  if (!d.info.capabilities.includes(cap)) throw new XenApiError('SR_OPERATION_NOT_SUPPORTED', [sr.uuid]);
}

async function freeBytes(d: SrDriver, sr: SrConfig, ctx: DriverContext): Promise<number> {
  return (await d.stats(sr, ctx)).free;
}

/** SR_FULL [requested, available] before any work starts, when the bytes needed are known. */
async function assertRoom(d: SrDriver, sr: SrConfig, ctx: DriverContext, needed: number) {
  const free = await freeBytes(d, sr, ctx);
  if (needed > free) throw new XenApiError('SR_FULL', [String(needed), String(free)]);
}

/** Checks room for `needed` bytes, then runs the work with ENOSPC meaning SR_FULL too. */
async function withRoom<T>(
  d: SrDriver,
  sr: SrConfig,
  ctx: DriverContext,
  needed: number,
  work: () => Promise<T>,
): Promise<T> {
  await assertRoom(d, sr, ctx, needed);
  return noSpaceIsFull(needed, () => freeBytes(d, sr, ctx), work);
}

export async function blockdev_create(
  ctx: DriverContext,
  sr: SrConfig,
  uuid: string,
  size: number,
): Promise<Volume> {
  const d = driverFor(sr.type);
  assertCapable(d, sr, 'VDI_CREATE');
  if (!Number.isSafeInteger(size) || size < 0)
    throw new XenApiError('INVALID_VALUE', ['virtual_size', String(size)]);
  // A thin SR needs the new image's metadata; a thick one the whole size.
  return withRoom(d, sr, ctx, await d.newVolumeSize(size), () => d.vdiCreate(sr, uuid, size, ctx));
}

export async function blockdev_remove(ctx: DriverContext, sr: SrConfig, location: string): Promise<void> {
  await driverFor(sr.type).vdiDestroy(sr, location, ctx);
}

export async function blockdev_grow(
  ctx: DriverContext,
  sr: SrConfig,
  location: string,
  size: number,
): Promise<Volume> {
  const d = driverFor(sr.type);
  assertCapable(d, sr, 'VDI_RESIZE');
  const v = await d.volume(sr, location, ctx);
  if (!v) throw new XenApiError('VDI_MISSING', [sr.uuid, location]);
  if (size < v.virtualSize) throw new XenApiError('VDI_TOO_SMALL', [location, String(size)]);
  if (size === v.virtualSize) return v;
  return withRoom(d, sr, ctx, await d.growSize(v.virtualSize, size), () =>
    d.vdiResize(sr, location, size, ctx),
  );
}

/** Clone and snapshot alike: a new volume with the source's current content. */
export async function blockdev_snapshot(
  ctx: DriverContext,
  sr: SrConfig,
  location: string,
  newUuid: string,
): Promise<Volume> {
  const d = driverFor(sr.type);
  assertCapable(d, sr, 'VDI_CLONE');
  const v = await d.volume(sr, location, ctx);
  if (!v) throw new XenApiError('VDI_MISSING', [sr.uuid, location]);
  // Thin: two empty children over a shared base; thick: a full copy.
  const needed = d.info.thin ? 2 * (await d.newVolumeSize(v.virtualSize)) : v.virtualSize;
  return withRoom(d, sr, ctx, needed, () => d.vdiClone(sr, location, newUuid, ctx));
}

/** A full, independent copy of a volume into an SR (the same or another one on this host). */
export async function blockdev_convert(
  ctx: DriverContext,
  src: SrConfig,
  location: string,
  dst: SrConfig,
  newUuid: string,
): Promise<Volume> {
  const v = await driverFor(src.type).volume(src, location, ctx);
  if (!v) throw new XenApiError('VDI_MISSING', [src.uuid, location]);
  const d = driverFor(dst.type);
  assertCapable(d, dst, 'VDI_CREATE');
  // Measuring a chain reads its allocation maps: only worth it when the full size might not fit.
  const free = await freeBytes(d, dst, ctx);
  const bound = v.virtualSize + (v.virtualSize >> 6) + 64 * 1024 * 1024;
  const needed = bound > free ? await d.importSize(v) : bound;
  if (needed > free) throw new XenApiError('SR_FULL', [String(needed), String(free)]);
  return whileOpen(ctx, src, location, () =>
    noSpaceIsFull(
      needed,
      () => freeBytes(d, dst, ctx),
      () => d.vdiImport(dst, newUuid, v, ctx),
    ),
  );
}

/** Runs `work` while the volume's path can be opened (driver.whileOpen). */
function whileOpen<T>(
  ctx: DriverContext,
  sr: SrConfig,
  location: string,
  work: () => Promise<T>,
): Promise<T> {
  const d = driverFor(sr.type);
  return d.whileOpen ? d.whileOpen(sr, location, ctx, work) : work();
}

export async function blockdev_find(
  ctx: DriverContext,
  sr: SrConfig,
  location: string,
): Promise<Volume | null> {
  return (await driverFor(sr.type).volume(sr, location, ctx)) ?? null;
}

export async function blockdev_getdimensions(
  ctx: DriverContext,
  sr: SrConfig,
  locations: string[],
): Promise<(number | null)[]> {
  const d = driverFor(sr.type);
  return Promise.all(locations.map(async (l) => (await d.volume(sr, l, ctx))?.virtualSize ?? null));
}

/**
 * A new volume holding the bytes of a plain host file (a suspend image), raw content; the file
 * must lie under ctx.fileRoots.
 */
export async function blockdev_import_file(
  ctx: DriverContext,
  sr: SrConfig,
  newUuid: string,
  path: string,
): Promise<Volume> {
  const file = confine('path', path, ctx.fileRoots ?? []);
  const d = driverFor(sr.type);
  assertCapable(d, sr, 'VDI_CREATE');
  const size = statSync(file).size;
  // qcow2 and LVM sizes are whole sectors: the tail is zero-padded (the exact size is the caller's).
  const src = { path: file, format: 'raw' as const, virtualSize: Math.ceil(size / 512) * 512 };
  const needed = d.info.thin ? await d.importSize(src) : src.virtualSize;
  return withRoom(d, sr, ctx, needed, () => d.vdiImport(sr, newUuid, src, ctx));
}

/** Writes a volume's content as a raw host file under ctx.fileRoots (`bytes` cuts the padding). */
export async function blockdev_export_file(
  ctx: DriverContext,
  sr: SrConfig,
  location: string,
  path: string,
  bytes?: number,
): Promise<void> {
  const file = confine('path', path, ctx.fileRoots ?? []);
  const v = await driverFor(sr.type).volume(sr, location, ctx);
  if (!v) throw new XenApiError('VDI_MISSING', [sr.uuid, location]);
  rmSync(file, { force: true });
  await whileOpen(ctx, sr, location, () => convertImage(v.path, v.format, file, 'raw'));
  if (bytes !== undefined && Number.isSafeInteger(bytes) && bytes >= 0 && bytes < statSync(file).size)
    truncateSync(file, bytes);
}
