// Block-device procedures of Ganeti's node daemon on Berth's volumes (reference ganeti-noded.md
// §4): bdev_sizes, blockdev_wipe, blockdev_setinfo (+ getinfo), blockdev_rename, blockdev_close.
// A volume is only ever reached through its SR's driver (driver.volume), which confines the SR's
// paths to this agent's roots and accepts only uuid-shaped locations; raw devices (bdev_sizes)
// only as /dev block devices. Programs run from argument arrays with time limits.
import {
  linkSync,
  mkdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { XenApiError } from '../../shared/errors.js';
import { run } from '../../shared/exec.js';
import type { NbdExports } from '../data-plane/exports.js';
import { lvrename } from '../storage/lvm.js';
import { driverFor } from '../storage/procedures.js';
import type { DriverContext, SrConfig, Volume } from '../storage/types.js';
import { lvChangeTags, lvTags, sanitizeTag } from './lvm-report.js';

const MiB = 1024 * 1024;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** A wipe writes at most the volume; an hour is Ganeti's SLOW class. */
const WIPE_TIMEOUT_MS = 3_600_000;
const PROBE_TIMEOUT_MS = 30_000;
/** Longest text blockdev_setinfo keeps (Ganeti's tag keeps 128 of it). */
const INFO_MAX = 1024;

const invalid = (...params: string[]) => new XenApiError('INVALID_VALUE', params);

/** The /dev path's size in MiB, or undefined when it is no block device under /dev (left out). */
async function deviceMiB(dev: unknown): Promise<number | undefined> {
  if (typeof dev !== 'string' || !/^\/dev\/[A-Za-z0-9._/+-]+$/.test(dev) || dev.split('/').includes('..'))
    return undefined;
  let real: string;
  try {
    real = realpathSync(dev);
    if (!real.startsWith('/dev/') || !statSync(real).isBlockDevice()) return undefined;
  } catch {
    return undefined;
  }
  const r = await run('blockdev', ['--getsize64', real], { timeoutMs: PROBE_TIMEOUT_MS });
  const bytes = Number(r.stdout.trim());
  return r.code === 0 && Number.isSafeInteger(bytes) ? Math.floor(bytes / MiB) : undefined;
}

/** Ganeti's GetBlockDevSizes: `{device: MiB}` for the /dev block devices among `devices`. */
export async function bdevSizes(devices: unknown[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const d of devices) {
    const mib = await deviceMiB(d);
    if (mib !== undefined) out[d as string] = mib;
  }
  return out;
}

async function volumeOf(ctx: DriverContext, sr: SrConfig, location: string): Promise<Volume> {
  const v = await driverFor(sr.type).volume(sr, location, ctx);
  if (!v) throw new XenApiError('VDI_MISSING', [sr.uuid, location]);
  return v;
}

const lockFailure = (stderr: string) => /Failed to get .*lock|another process using the image/i.test(stderr);

/** The checks of Ganeti's BlockdevWipe, in MiB (pure). */
export function checkWipeBounds(offset: number, size: number, volumeMiB: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0)
    throw invalid('offset', String(offset), 'a non-negative number of MiB');
  if (!Number.isSafeInteger(size) || size < 0)
    throw invalid('size', String(size), 'a non-negative number of MiB');
  if (offset > volumeMiB) throw invalid('offset', String(offset), `beyond the volume's ${volumeMiB} MiB`);
  if (offset + size > volumeMiB)
    throw invalid('size', String(size), `offset + size beyond the volume's ${volumeMiB} MiB`);
}

/** qemu-io's command (one string qemu-io parses; only the two integers vary). */
export const wipeArgs = (v: Pick<Volume, 'format' | 'path'>, offset: number, size: number) => [
  '-f',
  v.format,
  '-c',
  `write -z ${offset * MiB} ${size * MiB}`,
  '--',
  v.path,
];

export async function blockdevWipe(
  ctx: DriverContext,
  sr: SrConfig,
  location: string,
  offset: number,
  size: number,
): Promise<void> {
  const v = await volumeOf(ctx, sr, location);
  checkWipeBounds(offset, size, Math.floor(v.virtualSize / MiB));
  if (v.readOnly) throw new XenApiError('VDI_READ_ONLY', [location]);
  if (size === 0) return;
  const r = await run('qemu-io', wipeArgs(v, offset, size), { timeoutMs: WIPE_TIMEOUT_MS });
  if (r.code !== 0 && lockFailure(r.stderr)) throw new XenApiError('VDI_IN_USE', [location, 'wipe']);
  if (r.code !== 0 || /failed/i.test(r.stdout) || r.timedOut)
    throw new XenApiError('SR_BACKEND_FAILURE', [
      'qemu-io',
      '',
      r.timedOut ? 'timed out' : r.stderr.trim() || r.stdout.trim(),
    ]);
}

/** Is a volume open for writing by someone else (a VM's QEMU, an NBD export)? QEMU's lock says. */
async function inUse(v: Volume): Promise<boolean> {
  const r = await run('qemu-io', ['-f', v.format, '-c', 'info', '--', v.path], {
    timeoutMs: PROBE_TIMEOUT_MS,
  });
  return r.code !== 0 && lockFailure(r.stderr);
}

/** Volume labels (blockdev_setinfo) of one SR: `<storage state>/bdev-info/<sr uuid>.json`. */
class InfoStore {
  constructor(
    private readonly stateDir: string,
    private readonly srUuid: string,
  ) {
    if (!UUID.test(srUuid)) throw invalid('sr.uuid', srUuid);
  }
  private get file() {
    return join(this.stateDir, 'bdev-info', `${this.srUuid}.json`);
  }
  read(): Record<string, string> {
    try {
      const o = JSON.parse(readFileSync(this.file, 'utf8')) as unknown;
      return o && typeof o === 'object' && !Array.isArray(o) ? (o as Record<string, string>) : {};
    } catch {
      return {};
    }
  }
  write(all: Record<string, string>): void {
    mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, JSON.stringify(all), { mode: 0o600 });
    renameSync(tmp, this.file);
  }
}

/** `/dev/<vg>/<lv>` of an lvm SR volume, or undefined for file-kind volumes. */
function lvOf(v: Volume): { vg: string; lv: string } | undefined {
  const m = /^\/dev\/([^/]+)\/([^/]+)$/.exec(v.path);
  return m ? { vg: m[1], lv: m[2] } : undefined;
}

export async function blockdevSetinfo(
  ctx: DriverContext,
  sr: SrConfig,
  location: string,
  info: string,
): Promise<void> {
  if (info.length > INFO_MAX || info.includes('\0'))
    throw invalid('info', info.slice(0, 64), `at most ${INFO_MAX} characters, no NUL`);
  const v = await volumeOf(ctx, sr, location);
  const store = new InfoStore(ctx.stateDir, sr.uuid);
  const lv = lvOf(v);
  if (lv) {
    const old = await lvTags(lv.vg, lv.lv).catch((e: Error) => {
      throw new XenApiError('SR_BACKEND_FAILURE', ['LVMTags', '', e.message]);
    });
    await lvChangeTags(lv.vg, lv.lv, old, info ? [sanitizeTag(info)] : []).catch((e: Error) => {
      throw new XenApiError('SR_BACKEND_FAILURE', ['LVMTags', '', e.message]);
    });
  }
  const all = store.read();
  if (info) all[location] = info;
  else delete all[location];
  store.write(all);
}

export async function blockdevGetinfo(ctx: DriverContext, sr: SrConfig, location: string): Promise<string> {
  await volumeOf(ctx, sr, location);
  return new InfoStore(ctx.stateDir, sr.uuid).read()[location] ?? '';
}

/** One rename; throws a plain message for Ganeti's collected error list. */
async function renameOne(ctx: DriverContext, sr: SrConfig, from: string, to: string): Promise<Volume> {
  if (!UUID.test(to)) throw new Error(`invalid new location '${to}'`);
  const d = driverFor(sr.type);
  const v = await d.volume(sr, from, ctx);
  if (!v) throw new Error(`Can't find device ${from} in rename`);
  if (v.readOnly) throw new Error(`${from} is read-only`);
  if (await d.volume(sr, to, ctx)) throw new Error(`${to} exists already`);
  if (await inUse(v)) throw new Error(`${from} is in use`);
  const lv = lvOf(v);
  if (lv) {
    if (lv.lv !== `LV-${from}`) throw new Error(`${from}: not a Berth volume`);
    await lvrename(lv.vg, lv.lv, `LV-${to}`);
  } else {
    if (basename(v.path) !== `${from}.qcow2`)
      throw new Error(`${from}: volumes of this SR cannot be renamed`);
    const target = join(dirname(v.path), `${to}.qcow2`);
    linkSync(v.path, target); // EEXIST: never replaces a file
    unlinkSync(v.path);
  }
  const store = new InfoStore(ctx.stateDir, sr.uuid);
  const all = store.read();
  if (from in all) {
    all[to] = all[from];
    delete all[from];
    store.write(all);
  }
  const nv = await d.volume(sr, to, ctx);
  if (!nv) throw new Error(`${to} not found after rename`);
  return nv;
}

export async function blockdevRename(
  ctx: DriverContext,
  sr: SrConfig,
  devlist: [string, string][],
): Promise<Volume[]> {
  const done: Volume[] = [];
  const errors: string[] = [];
  for (const [from, to] of devlist) {
    try {
      done.push(await renameOne(ctx, sr, from, to));
    } catch (e) {
      errors.push(
        e instanceof XenApiError ? `${from}: ${e.code} ${e.params.join(' ')}` : (e as Error).message,
      );
    }
  }
  if (errors.length) throw new XenApiError('SR_BACKEND_FAILURE', ['blockdev_rename', '', errors.join('; ')]);
  return done;
}

/** Closes every NBD export of these volumes (the only agent-held opening outside QEMU). */
export async function blockdevClose(exports: NbdExports, locations: string[]): Promise<number> {
  const wanted = new Set(locations);
  const mine = exports.list().filter((e) => wanted.has(e.exportName));
  for (const e of mine) await exports.close(e.id);
  return mine.length;
}
