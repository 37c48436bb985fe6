// The storage procedures as the agent serves them over its RPC (the storage part of the host
// contract, src/shared/host/storage.ts). The RPC is a trust boundary: every argument's type is
// checked here before a driver sees it (INVALID_VALUE [name, value] otherwise); paths are then
// confined to this agent's own roots by the drivers.
import { join } from 'node:path';
import { XenApiError } from '../../shared/errors.js';
import type { SrConfig, StorageProcedureName } from '../../shared/host/storage.js';
import type { Procedure } from '../server.js';
import type { AttachedSrs } from './attached.js';
import * as proc from './procedures.js';
import type { DriverContext } from './types.js';

/** Where this host's storage may live; a deployment's roots are the agent's options. */
export interface StorageOptions {
  /** Roots SR paths must lie under (default: <first state root>/sr). */
  roots?: string[];
  /** Per-SR state such as intent journals (default: <first state root>/storage). */
  stateDir?: string;
  /** Roots of plain files moved into or out of volumes (default: the state roots, as suspend images). */
  fileRoots?: string[];
  /** Where network SRs (nfs) are mounted (default /run/sr-mount, as xapi's SM). */
  srMountDir?: string;
  /**
   * Allow-listed directories ExtStorage providers are looked up in (default
   * /srv/berth/extstorage and <first state root>/extstorage).
   */
  extStorageDirs?: string[];
}

/** The driver context from the options, defaults under the agent's state roots. */
export function storageContext(opts: StorageOptions, stateRoots: readonly string[]): DriverContext {
  const base = stateRoots[0] ?? '/var/lib/berth';
  return {
    allowedRoots: opts.roots?.length ? [...opts.roots] : [join(base, 'sr')],
    stateDir: opts.stateDir ?? join(base, 'storage'),
    fileRoots: opts.fileRoots?.length ? [...opts.fileRoots] : [...stateRoots],
    ...(opts.srMountDir ? { srMountDir: opts.srMountDir } : {}),
    ext: {
      dirs: opts.extStorageDirs?.length
        ? [...opts.extStorageDirs]
        : ['/srv/berth/extstorage', join(base, 'extstorage')],
      logDir: join(opts.stateDir ?? join(base, 'storage'), 'extstorage-logs'),
    },
  };
}

const bad = (name: string, v: unknown) =>
  new XenApiError('INVALID_VALUE', [name, JSON.stringify(v) ?? 'undefined']);

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

export function str(name: string, v: unknown): string {
  if (typeof v !== 'string') throw bad(name, v);
  return v;
}

/** A byte count: a non-negative safe integer. */
export function size(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw bad(name, v);
  return v;
}

export function strings(name: string, v: unknown): string[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw bad(name, v);
  return [...v];
}

/** A string → string map, copied onto a fresh object (no inherited keys reach the drivers). */
export function stringMap(name: string, v: unknown): Record<string, string> {
  if (!isPlainObject(v)) throw bad(name, v);
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) {
    if (typeof x !== 'string') throw bad(`${name}.${k}`, x);
    out[k] = x;
  }
  return out;
}

export function srConfig(name: string, v: unknown): SrConfig {
  if (!isPlainObject(v)) throw bad(name, v);
  return {
    uuid: str(`${name}.uuid`, v.uuid),
    type: str(`${name}.type`, v.type),
    deviceConfig: stringMap(`${name}.deviceConfig`, v.deviceConfig),
    ...(v.inUseElsewhere === undefined
      ? {}
      : { inUseElsewhere: bool(`${name}.inUseElsewhere`, v.inUseElsewhere) }),
  };
}

function bool(name: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw bad(name, v);
  return v;
}

/** Records `sr` as attached once `work` succeeded (statistics' registry, when there is one). */
async function noting<T>(attached: AttachedSrs | undefined, sr: SrConfig, work: Promise<T>): Promise<T> {
  const r = await work;
  attached?.add(sr);
  return r;
}

/**
 * The procedure table the agent serves, over this host's driver context (its roots); `attached`
 * learns which SRs are attached here (for statistics).
 */
export function storageProcedures(
  ctx: DriverContext,
  attached?: AttachedSrs,
): Record<StorageProcedureName, Procedure> {
  return {
    storage_drivers: () => proc.driverInfos(),
    storage_validate: async (type: unknown, dc: unknown) => {
      proc.driverFor(str('type', type)).validate(stringMap('device_config', dc), ctx);
      return null;
    },
    sr_create: (sr: unknown) => proc.sr_create(ctx, srConfig('sr', sr)),
    sr_destroy: async (sr: unknown) => {
      const cfg = srConfig('sr', sr);
      await proc.sr_destroy(ctx, cfg);
      attached?.remove(cfg.uuid);
    },
    sr_attach: (sr: unknown) => {
      const cfg = srConfig('sr', sr);
      return noting(attached, cfg, proc.sr_attach(ctx, cfg));
    },
    sr_detach: async (sr: unknown) => {
      const cfg = srConfig('sr', sr);
      await proc.sr_detach(ctx, cfg);
      attached?.remove(cfg.uuid);
    },
    sr_stats: (sr: unknown) => {
      const cfg = srConfig('sr', sr);
      return noting(attached, cfg, proc.sr_stats(ctx, cfg));
    },
    sr_scan: (sr: unknown) => {
      const cfg = srConfig('sr', sr);
      return noting(attached, cfg, proc.sr_scan(ctx, cfg));
    },
    sr_probe: (type: unknown, dc: unknown) =>
      proc.sr_probe(ctx, str('type', type), stringMap('device_config', dc)),
    sr_gc: (sr: unknown, busy: unknown) => proc.sr_gc(ctx, srConfig('sr', sr), strings('busy', busy)),
    blockdev_create: (sr: unknown, uuid: unknown, bytes: unknown) =>
      proc.blockdev_create(ctx, srConfig('sr', sr), str('uuid', uuid), size('virtual_size', bytes)),
    blockdev_remove: (sr: unknown, location: unknown) =>
      proc.blockdev_remove(ctx, srConfig('sr', sr), str('location', location)),
    blockdev_grow: (sr: unknown, location: unknown, bytes: unknown) =>
      proc.blockdev_grow(ctx, srConfig('sr', sr), str('location', location), size('virtual_size', bytes)),
    blockdev_snapshot: (sr: unknown, location: unknown, newUuid: unknown) =>
      proc.blockdev_snapshot(ctx, srConfig('sr', sr), str('location', location), str('uuid', newUuid)),
    blockdev_convert: (src: unknown, location: unknown, dst: unknown, newUuid: unknown) =>
      proc.blockdev_convert(
        ctx,
        srConfig('src', src),
        str('location', location),
        srConfig('dst', dst),
        str('uuid', newUuid),
      ),
    blockdev_find: (sr: unknown, location: unknown) =>
      proc.blockdev_find(ctx, srConfig('sr', sr), str('location', location)),
    blockdev_getdimensions: (sr: unknown, locations: unknown) =>
      proc.blockdev_getdimensions(ctx, srConfig('sr', sr), strings('locations', locations)),
    blockdev_import_file: (sr: unknown, newUuid: unknown, path: unknown) =>
      proc.blockdev_import_file(ctx, srConfig('sr', sr), str('uuid', newUuid), str('path', path)),
    blockdev_export_file: (sr: unknown, location: unknown, path: unknown, bytes: unknown) =>
      proc.blockdev_export_file(
        ctx,
        srConfig('sr', sr),
        str('location', location),
        str('path', path),
        bytes === undefined || bytes === null ? undefined : size('bytes', bytes),
      ),
  };
}
