// The `file` SR: a directory of qcow2 images. Thin: a new VDI is a small qcow2 header. A clone or
// snapshot turns the source's data into a hidden read-only base (`base-<uuid>.qcow2`) with two
// thin children: the source (same name, so its VDI keeps its location) and the new volume.
// Unreferenced bases are deleted and single-child bases coalesced into their child by gc().
//
// Crash safety: new images are written under `.tmp-*` names and renamed into place; multi-step
// operations (clone) record an intent first; attach() rolls every leftover back or forward.
import { randomUUID } from 'node:crypto';
import {
  closeSync,
  copyFileSync,
  existsSync,
  fsyncSync,
  openSync,
  readSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statfsSync,
  statSync,
} from 'node:fs';
import { join } from 'node:path';
import { XenApiError } from '../../shared/errors.js';
import { asBackendFailure, backendFailure } from './failure.js';
import { fsyncDir, Journal, writeDurably } from '../../shared/journal.js';
import { LIVE_SNAPSHOT_OP, liveSnapshotIn, recoverLiveSnapshot } from './file-live-snapshot.js';
import { confine } from './paths.js';
import { resumeBitmaps, withBitmapsPaused } from './qemu-bitmaps.js';
import { convertImage, createImage, imageInfo, measureImage, rebaseImage, resizeImage } from './qemu-img.js';
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

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MARKER = '.berth-sr';
const JOURNAL = '.berth-journal';
export const leafName = (uuid: string) => `${uuid}.qcow2`;
export const baseName = (uuid: string) => `base-${uuid}.qcow2`;
export const tmpName = () => `.tmp-${randomUUID()}.qcow2`;

/** Which files of an SR directory are what (pure, for tests). */
export function classifyEntries(names: readonly string[]): {
  leaves: string[];
  bases: string[];
  temps: string[];
} {
  const leaves: string[] = [];
  const bases: string[] = [];
  const temps: string[] = [];
  for (const n of names) {
    if (n.startsWith('.tmp-')) temps.push(n);
    else if (n.endsWith('.qcow2') && UUID.test(n.slice(0, -6))) leaves.push(n);
    else if (n.startsWith('base-') && n.endsWith('.qcow2') && UUID.test(n.slice(5, -6))) bases.push(n);
  }
  return { leaves, bases, temps };
}

/**
 * Plans one GC round from each image's backing file (pure): bases nobody uses are deleted, bases
 * with exactly one child are merged into it unless that child is busy.
 */
export function planGc(
  backing: ReadonlyMap<string, string | undefined>,
  busy: ReadonlySet<string>,
): { remove: string[]; coalesce: { base: string; child: string; newBacking?: string }[] } {
  const children = new Map<string, string[]>();
  for (const [name, b] of backing) if (b) children.set(b, [...(children.get(b) ?? []), name]);
  const remove: string[] = [];
  const coalesce: { base: string; child: string; newBacking?: string }[] = [];
  for (const name of backing.keys()) {
    if (!name.startsWith('base-')) continue;
    const kids = children.get(name) ?? [];
    if (kids.length === 0) remove.push(name);
    else if (kids.length === 1 && !busy.has(kids[0]))
      coalesce.push({ base: name, child: kids[0], newBacking: backing.get(name) });
  }
  // Merge one level at a time: a child coalesced this round must not itself be a base merged now.
  const merging = new Set(coalesce.map((c) => c.base));
  return { remove, coalesce: coalesce.filter((c) => !merging.has(c.child)) };
}

export function dirOf(sr: SrConfig, ctx: DriverContext): string {
  return confine(
    'device_config:location',
    sr.deviceConfig.location ?? sr.deviceConfig.path,
    ctx.allowedRoots,
  );
}

export const journalOf = (dir: string) => new Journal(join(dir, JOURNAL));

/**
 * Clones and GC of one SR never overlap: a clone's new base has no children until the clone
 * finishes, and GC would take it for garbage. (Destroys may overlap: GC skips vanished files.)
 */
const dirLocks = new Map<string, Promise<unknown>>();
export function serial<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const next = (dirLocks.get(dir) ?? Promise.resolve()).catch(() => undefined).then(fn);
  dirLocks.set(dir, next);
  void next
    .finally(() => {
      if (dirLocks.get(dir) === next) dirLocks.delete(dir);
    })
    .catch(() => undefined);
  return next;
}

/** A qcow2 image's virtual size from its header (big-endian u64 at offset 24, after the magic). */
export function qcow2VirtualSize(path: string): number {
  const fd = openSync(path, 'r');
  try {
    const h = Buffer.alloc(32);
    if (readSync(fd, h, 0, 32, 0) < 32 || h.readUInt32BE(0) !== 0x514649fb)
      throw backendFailure('VDIUnavailable', `${path} is not a qcow2 image`);
    return Number(h.readBigUInt64BE(24));
  } finally {
    closeSync(fd);
  }
}

export function fsyncFile(path: string) {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Bytes allocated for a file on the host. */
const allocated = (path: string) => statSync(path).blocks * 512;

export async function volumeAt(dir: string, name: string): Promise<Volume> {
  const path = join(dir, name);
  return {
    location: name.slice(0, -6),
    path,
    format: 'qcow2',
    virtualSize: qcow2VirtualSize(path),
    physicalUtilisation: allocated(path),
    readOnly: false,
  };
}

export const fileInfo: DriverInfo = {
  type: 'file',
  name: 'Local file SR',
  description:
    'VDIs as qcow2 files in a local directory; thin provisioning, clones and snapshots as backing chains',
  configuration: { location: 'absolute path of the directory holding the SR (created by SR.create)' },
  capabilities: [
    'SR_PROBE',
    'SR_UPDATE',
    'VDI_CREATE',
    'VDI_DELETE',
    'VDI_ATTACH',
    'VDI_DETACH',
    'VDI_CLONE',
    'VDI_SNAPSHOT',
    'VDI_RESIZE',
    'VDI_RESIZE_ONLINE',
    'VDI_INTRODUCE',
    'VDI_UPDATE',
    'VDI_COPY',
    'THIN_PROVISIONING',
    // Changed-block tracking on qcow2 persistent bitmaps (storage/cbt.ts).
    'VDI_CONFIG_CBT',
  ],
  contentType: 'user',
  formats: ['qcow2'],
  thin: true,
  shareable: true,
  liveSnapshot: true,
};

/** The uuid a SR directory's marker names, if it has one. */
export function markerUuid(dir: string): string | undefined {
  const marker = join(dir, MARKER);
  if (!existsSync(marker)) return undefined;
  return String(JSON.parse(readFileSync(marker, 'utf8')).uuid);
}

/**
 * Every host attaching a (shared) SR directory checks it holds this SR: a marker naming another
 * SR is refused; a directory without one (introduced by hand) is claimed.
 */
function claimMarker(dir: string, uuid: string) {
  const owner = markerUuid(dir);
  if (owner === undefined) writeDurably(join(dir, MARKER), JSON.stringify({ uuid, type: 'file' }));
  else if (owner !== uuid) throw backendFailure('SRUnavailable', `${dir} holds SR ${owner}, not ${uuid}`);
}

/** Removes a SR directory's own files (bases, leftovers, marker, journal); SR_NOT_EMPTY if VDIs remain. */
export function emptySrDir(dir: string) {
  const { leaves, bases, temps } = classifyEntries(readdirSync(dir));
  if (leaves.length) throw new XenApiError('SR_NOT_EMPTY', []);
  for (const n of [...bases, ...temps, MARKER]) rmSync(join(dir, n), { force: true });
  rmSync(join(dir, JOURNAL), { recursive: true, force: true });
}

export const fileDriver: SrDriver = {
  info: fileInfo,

  validate(dc, ctx) {
    confine('device_config:location', dc.location ?? dc.path, ctx.allowedRoots);
  },

  async create(sr, ctx) {
    const dir = dirOf(sr, ctx);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const owner = markerUuid(dir);
    if (owner !== undefined && owner !== sr.uuid)
      throw backendFailure('SRInUse', `${dir} already holds SR ${owner}`);
    writeDurably(join(dir, MARKER), JSON.stringify({ uuid: sr.uuid, type: 'file' }));
  },

  async destroy(sr, ctx) {
    const dir = dirOf(sr, ctx);
    if (!existsSync(dir)) return;
    emptySrDir(dir);
    if (readdirSync(dir).length === 0) rmSync(dir, { recursive: true });
  },

  async attach(sr, ctx) {
    const dir = dirOf(sr, ctx);
    if (!existsSync(dir)) throw backendFailure('SRUnavailable', `directory ${dir} does not exist`);
    claimMarker(dir, sr.uuid);
    // Another host using a shared SR may be mid-clone: its journal and .tmp files are live work.
    if (sr.inUseElsewhere) return { fixed: [] } satisfies Repairs;
    const fixed: string[] = [];
    const journal = journalOf(dir);
    for (const intent of journal.pending()) {
      if (intent.op === 'clone') fixed.push(...(await recoverClone(dir, intent)));
      else if (intent.op === 'bitmaps-paused') fixed.push(...(await resumeBitmaps(intent)));
      else if (intent.op === LIVE_SNAPSHOT_OP) fixed.push(...recoverLiveSnapshot(dir, intent));
      journal.end(intent);
    }
    for (const t of classifyEntries(readdirSync(dir)).temps) {
      rmSync(join(dir, t), { force: true });
      fixed.push(`removed partial image ${t}`);
    }
    if (fixed.length) fsyncDir(dir);
    return { fixed } satisfies Repairs;
  },

  async detach() {},

  async stats(sr, ctx): Promise<SrStats> {
    const dir = dirOf(sr, ctx);
    const fs = statfsSync(dir);
    let used = 0;
    for (const n of readdirSync(dir)) if (n.endsWith('.qcow2')) used += allocated(join(dir, n));
    return { physicalSize: fs.blocks * fs.bsize, physicalUtilisation: used, free: fs.bavail * fs.bsize };
  },

  async scan(sr, ctx) {
    const dir = dirOf(sr, ctx);
    const { leaves } = classifyEntries(readdirSync(dir));
    return Promise.all(leaves.map((n) => volumeAt(dir, n)));
  },

  async probe(dc, ctx): Promise<ProbeEntry[]> {
    const dir = confine('device_config:location', dc.location ?? dc.path, ctx.allowedRoots);
    const uuid = markerUuid(dir);
    return uuid === undefined ? [] : [{ uuid, where: dir }];
  },

  async volume(sr, location, ctx) {
    const dir = dirOf(sr, ctx);
    if (!UUID.test(location) || !existsSync(join(dir, leafName(location)))) return undefined;
    return volumeAt(dir, leafName(location));
  },

  async vdiCreate(sr, uuid, size, ctx) {
    const dir = dirOf(sr, ctx);
    const tmp = join(dir, tmpName());
    await asBackendFailure('qemu-img', () => createImage(tmp, 'qcow2', size));
    renameSync(tmp, join(dir, leafName(uuid)));
    fsyncDir(dir);
    return volumeAt(dir, leafName(uuid));
  },

  async vdiDestroy(sr, location, ctx) {
    const dir = dirOf(sr, ctx);
    if (!UUID.test(location)) throw backendFailure('VDIUnavailable', `bad location ${location}`);
    rmSync(join(dir, leafName(location)), { force: true });
    fsyncDir(dir);
  },

  async vdiResize(sr, location, size, ctx) {
    const dir = dirOf(sr, ctx);
    const path = join(dir, leafName(location));
    await asBackendFailure('qemu-img', () => resizeImage(path, 'qcow2', size));
    return volumeAt(dir, leafName(location));
  },

  async vdiClone(sr, location, newUuid, ctx) {
    const dir = dirOf(sr, ctx);
    return serial(dir, () => cloneIn(dir, location, newUuid));
  },

  // A running VM's disk: QEMU moves onto a new overlay (file-live-snapshot.ts).
  liveSnapshot: (sr, location, newUuid, ctx) => liveSnapshotIn(dirOf(sr, ctx), location, newUuid),

  async vdiImport(sr, newUuid, src, ctx) {
    const dir = dirOf(sr, ctx);
    const tmp = join(dir, tmpName());
    await asBackendFailure('qemu-img', () => convertImage(src.path, src.format, tmp, 'qcow2'));
    renameSync(tmp, join(dir, leafName(newUuid)));
    fsyncDir(dir);
    return volumeAt(dir, leafName(newUuid));
  },

  newVolumeSize: async (size) => emptyQcow2Size(size),
  growSize: async (from, to) => qcow2GrowSize(from, to),
  importSize: (src) => asBackendFailure('qemu-img', () => measureImage(src.path, src.format, 'qcow2')),

  async gc(sr, busy, ctx) {
    const dir = dirOf(sr, ctx);
    return serial(dir, () => gcIn(dir, busy));
  },
};

const CLUSTER = 65536;

/**
 * Bytes of an empty qcow2 as createImage makes it (64 KiB clusters): header, refcount table,
 * one refcount block and the L1 table (8 bytes per 512 MiB of virtual size). An upper bound:
 * `qemu-img measure` counts tables a new image does not allocate (16 MiB for 100 GiB, not 200 KiB).
 */
export function emptyQcow2Size(size: number): number {
  return (3 + l1Clusters(size)) * CLUSTER;
}

const l1Entries = (size: number) => Math.ceil(size / (CLUSTER * (CLUSTER / 8)));
const l1Clusters = (size: number) => Math.max(1, Math.ceil((l1Entries(size) * 8) / CLUSTER));

/** Growing a qcow2 whose L1 table gains entries writes a new L1 table (and a refcount block). */
export function qcow2GrowSize(from: number, to: number): number {
  return l1Entries(to) > l1Entries(from) ? (l1Clusters(to) + 1) * CLUSTER : 0;
}

async function gcIn(dir: string, busy: readonly string[]): Promise<string[]> {
  const done: string[] = [];
  const busyNames = new Set(busy.map(leafName));
  for (let round = 0; round < 64; round++) {
    const names = readdirSync(dir).filter(
      (n) => classifyEntries([n]).leaves.length || classifyEntries([n]).bases.length,
    );
    const backing = new Map<string, string | undefined>();
    for (const n of names) {
      const path = join(dir, n);
      try {
        backing.set(n, (await imageInfo(path)).backingFile);
      } catch (e) {
        // Deleted meanwhile (a VDI destroy): not part of any chain any more. Anything else
        // (an unreadable image) stops the GC: its base must not look unused.
        if (existsSync(path)) throw e;
      }
    }
    // A live snapshot in progress has a base whose children are still temporaries: not garbage.
    const pinned = new Set(
      journalOf(dir)
        .pending()
        .filter((i) => i.op === LIVE_SNAPSHOT_OP)
        .map((i) => String(i.base)),
    );
    const planned = planGc(backing, busyNames);
    const plan = {
      remove: planned.remove.filter((b) => !pinned.has(b)),
      coalesce: planned.coalesce.filter((c) => !pinned.has(c.base) && !pinned.has(c.child)),
    };
    if (!plan.remove.length && !plan.coalesce.length) break;
    for (const b of plan.remove) {
      rmSync(join(dir, b), { force: true });
      done.push(`removed unused base ${b}`);
    }
    for (const c of plan.coalesce) {
      // The clusters copied in are not guest writes: CBT bitmaps must not see them.
      await withBitmapsPaused(journalOf(dir), join(dir, c.child), () =>
        rebaseImage(join(dir, c.child), c.newBacking ? { file: c.newBacking, format: 'qcow2' } : undefined),
      );
      rmSync(join(dir, c.base), { force: true });
      done.push(`coalesced ${c.base} into ${c.child}`);
    }
    fsyncDir(dir);
  }
  return done;
}

async function cloneIn(dir: string, location: string, newUuid: string): Promise<Volume> {
  const src = join(dir, leafName(location));
  if (!existsSync(src)) throw backendFailure('VDIUnavailable', `no image for ${location}`);
  const virtualSize = qcow2VirtualSize(src);
  const base = baseName(randomUUID());
  const tmpLeaf = tmpName();
  const tmpClone = tmpName();
  const journal = journalOf(dir);
  const intent = journal.begin('clone', {
    src: leafName(location),
    base,
    clone: leafName(newUuid),
    tmpLeaf,
    tmpClone,
  });
  // The source's data gets a second name (the base); the source name is then atomically
  // replaced by a thin child of it. Until that rename, the source is untouched.
  linkSync(src, join(dir, base));
  const backing = { file: base, format: 'qcow2' as const };
  // Both children are the same empty qcow2 over the base: make one, copy its few header bytes.
  await asBackendFailure('qemu-img', () => createImage(join(dir, tmpLeaf), 'qcow2', virtualSize, backing));
  copyFileSync(join(dir, tmpLeaf), join(dir, tmpClone));
  for (const t of [tmpLeaf, tmpClone]) fsyncFile(join(dir, t));
  renameSync(join(dir, tmpLeaf), src);
  const path = join(dir, leafName(newUuid));
  renameSync(join(dir, tmpClone), path);
  fsyncDir(dir);
  journal.end(intent);
  return {
    location: newUuid,
    path,
    format: 'qcow2',
    virtualSize,
    physicalUtilisation: allocated(path),
    readOnly: false,
  };
}

/** Rolls an interrupted clone back (source not yet replaced) or forward (it was). */
async function recoverClone(dir: string, intent: Record<string, unknown>): Promise<string[]> {
  const src = join(dir, String(intent.src));
  const base = join(dir, String(intent.base));
  const clone = join(dir, String(intent.clone));
  for (const t of [intent.tmpLeaf, intent.tmpClone]) rmSync(join(dir, String(t)), { force: true });
  if (!existsSync(base)) return [`rolled back clone of ${intent.src} (nothing done)`];
  if (existsSync(src) && statSync(src).ino === statSync(base).ino) {
    rmSync(clone, { force: true });
    rmSync(base, { force: true });
    return [`rolled back clone of ${intent.src}`];
  }
  if (!existsSync(clone)) {
    const { virtualSize } = await imageInfo(base);
    const tmp = join(dir, tmpName());
    await createImage(tmp, 'qcow2', virtualSize, { file: String(intent.base), format: 'qcow2' });
    renameSync(tmp, clone);
  }
  return [`completed clone of ${intent.src} into ${intent.clone}`];
}
