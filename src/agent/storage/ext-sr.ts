// The `ext` SR: volumes made, grown, snapshotted and removed by an ExtStorage provider's scripts
// (ext-provider.ts; Ganeti's ganeti-extstorage-interface). device_config: `provider=<name>` plus
// the provider's parameters (every other key, each listed in its parameters.list, passed as
// EXTP_<KEY>). The interface has no "list" action, so the agent keeps the SR's volumes (name →
// size) in <stateDir>/ext/<sr uuid>.json. A volume is a raw block device only while attached:
// the provider's `attach` prints it and the agent links it at /dev/berth-ext/<sr>/<volume>, the
// path the manager puts in a VM's disk spec (volume-path.ts); QEMU opens it before dropping its
// privileges, as it opens LVM volumes.
import {
  mkdirSync,
  readFileSync,
  renameSync,
  rmdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  existsSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { XenApiError } from '../../shared/errors.js';
import { EXT_DEV_DIR, extVolumePath } from '../../shared/host/volume-path.js';
import {
  attachedDevice,
  type ExtContext,
  findProvider,
  type Provider,
  providerParams,
  runAction,
  VOLUME_RE,
} from './ext-provider.js';
import { backendFailure } from './failure.js';
import { convertImage } from './qemu-img.js';
import type { DriverContext, DriverInfo, SrConfig, SrDriver, Volume } from './types.js';

const MiB = 1024 * 1024;
/** Bytes → whole MiB, rounded up (the interface's unit), at least 1 (pure). */
export const toMiB = (bytes: number) => Math.max(1, Math.ceil(bytes / MiB));

type Registry = Record<string, { sizeMiB: number }>;

/** The ExtStorage context of a driver context (defaults for a context built without one). */
export function extOf(ctx: DriverContext): ExtContext {
  return ctx.ext ?? { dirs: ['/srv/berth/extstorage'], logDir: join(ctx.stateDir, 'extstorage-logs') };
}

const registryFile = (sr: SrConfig, ctx: DriverContext) => join(ctx.stateDir, 'ext', `${sr.uuid}.json`);

function readRegistry(sr: SrConfig, ctx: DriverContext): Registry {
  try {
    const v = JSON.parse(readFileSync(registryFile(sr, ctx), 'utf8')) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Registry) : {};
  } catch {
    return {};
  }
}

function writeRegistry(sr: SrConfig, ctx: DriverContext, reg: Registry): void {
  const file = registryFile(sr, ctx);
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, JSON.stringify(reg), { mode: 0o600 });
  renameSync(tmp, file);
}

function checkVolumeName(name: string): string {
  if (!VOLUME_RE.test(name) || name.includes('..'))
    throw new XenApiError('INVALID_VALUE', ['location', name, 'not an ExtStorage volume name']);
  return name;
}

const vol = (sr: SrConfig, location: string, sizeMiB: number): Volume => ({
  location,
  path: extVolumePath(sr.uuid, location),
  format: 'raw',
  virtualSize: sizeMiB * MiB,
  physicalUtilisation: sizeMiB * MiB,
  readOnly: false,
});

interface Bound {
  p: Provider;
  params: Record<string, string>;
  ext: ExtContext;
}

/** The SR's provider and its EXTP_ variables, checked. */
function bindDc(dc: Record<string, string>, ctx: DriverContext): Bound {
  const ext = extOf(ctx);
  const p = findProvider(dc.provider, ext);
  return { p, params: providerParams(p, dc), ext };
}

const bind = (sr: SrConfig, ctx: DriverContext) => bindDc(sr.deviceConfig, ctx);

const run = (b: Bound, action: Parameters<typeof runAction>[1], env: Record<string, string>) =>
  runAction(b.p, action, { ...b.params, ...env }, b.ext);

/** Runs `remove` for a volume that must not stay half-made; its own failure is secondary. */
async function discard(b: Bound, name: string): Promise<void> {
  await run(b, 'detach', { VOL_NAME: name }).catch(() => undefined);
  await run(b, 'remove', { VOL_NAME: name, VOL_SIZE: '0' }).catch(() => undefined);
}

/**
 * Attaches volume `location` (the provider's `attach`, idempotent) and links the block device it
 * printed at /dev/berth-ext/<sr>/<location>. Returns that link's path.
 */
export async function attachVolume(sr: SrConfig, location: string, ctx: DriverContext): Promise<string> {
  checkVolumeName(location);
  const reg = readRegistry(sr, ctx);
  if (!Object.hasOwn(reg, location)) throw new XenApiError('VDI_MISSING', [sr.uuid, location]);
  const b = bind(sr, ctx);
  const env = { VOL_NAME: location, VOL_SIZE: String(reg[location].sizeMiB) };
  const out = (await run(b, 'attach', env)) ?? '';
  let dev: string;
  try {
    dev = attachedDevice(out, b.p.name);
  } catch (e) {
    // Garbage from attach: whatever it did attach is let go again.
    await run(b, 'detach', env).catch(() => undefined);
    throw e;
  }
  const link = extVolumePath(sr.uuid, location);
  mkdirSync(dirname(link), { recursive: true, mode: 0o755 });
  rmSync(link, { force: true });
  symlinkSync(dev, link);
  await run(b, 'open', { ...env, VOL_OPEN_EXCLUSIVE: 'True' });
  return link;
}

/** Detaches volume `location` (`close`, then `detach`, both idempotent) and removes its link. */
export async function detachVolume(sr: SrConfig, location: string, ctx: DriverContext): Promise<void> {
  checkVolumeName(location);
  const b = bind(sr, ctx);
  const env = { VOL_NAME: location };
  await run(b, 'close', env);
  await run(b, 'detach', env);
  unlink(sr, location);
}

/** Removes a volume's link, and its SR's directory and /dev/berth-ext once empty. */
function unlink(sr: SrConfig, location: string): void {
  const link = extVolumePath(sr.uuid, location);
  rmSync(link, { force: true });
  try {
    rmdirSync(dirname(link));
    rmdirSync(EXT_DEV_DIR);
  } catch {
    /* other volumes are still attached */
  }
}

/** (sr uuid, volume) of a disk path under /dev/berth-ext, or undefined (pure). */
export function parseExtPath(path: string): { sr: string; location: string } | undefined {
  const prefix = `${EXT_DEV_DIR}/`;
  if (!path.startsWith(prefix)) return undefined;
  const [sr, location, ...rest] = path.slice(prefix.length).split('/');
  if (rest.length || !sr || !location || !VOLUME_RE.test(sr) || !VOLUME_RE.test(location)) return undefined;
  return { sr, location };
}

export const extInfo: DriverInfo = {
  type: 'ext',
  name: 'ExtStorage',
  description: 'Volumes managed by an ExtStorage provider (ganeti-extstorage-interface scripts)',
  configuration: {
    provider: 'name of the ExtStorage provider directory (in the agent ExtStorage directories)',
    '<parameter>': "any parameter the provider's parameters.list names, passed as EXTP_<PARAMETER>",
  },
  capabilities: [
    'SR_UPDATE',
    'VDI_CREATE',
    'VDI_DELETE',
    'VDI_ATTACH',
    'VDI_DETACH',
    'VDI_CLONE',
    'VDI_SNAPSHOT',
    'VDI_RESIZE',
    'VDI_COPY',
  ],
  contentType: 'user',
  formats: ['raw'],
  thin: false,
};

async function makeVolume(
  sr: SrConfig,
  uuid: string,
  sizeMiB: number,
  ctx: DriverContext,
  make: (b: Bound) => Promise<unknown>,
): Promise<Volume> {
  checkVolumeName(uuid);
  const reg = readRegistry(sr, ctx);
  if (Object.hasOwn(reg, uuid)) throw new XenApiError('LOCATION_NOT_UNIQUE', [sr.uuid, uuid]);
  const b = bind(sr, ctx);
  try {
    await make(b);
    await run(b, 'setinfo', { VOL_NAME: uuid, VOL_METADATA: `berth-sr+${sr.uuid}` });
  } catch (e) {
    await discard(b, uuid);
    throw e;
  }
  writeRegistry(sr, ctx, { ...readRegistry(sr, ctx), [uuid]: { sizeMiB } });
  return vol(sr, uuid, sizeMiB);
}

export const extDriver: SrDriver = {
  info: extInfo,
  validate(dc, ctx) {
    bindDc(dc, ctx);
  },
  async create(sr, ctx) {
    await run(bind(sr, ctx), 'verify', {});
    if (!existsSync(registryFile(sr, ctx))) writeRegistry(sr, ctx, {});
  },
  async destroy(sr, ctx) {
    const left = Object.keys(readRegistry(sr, ctx));
    if (left.length)
      throw backendFailure('SRNotEmpty', `ExtStorage SR ${sr.uuid} still has volumes: ${left.join(', ')}`);
    rmSync(registryFile(sr, ctx), { force: true });
  },
  async attach(sr, ctx) {
    await run(bind(sr, ctx), 'verify', {});
    return { fixed: [] };
  },
  async detach() {},
  async stats(sr, ctx) {
    const used = Object.values(readRegistry(sr, ctx)).reduce((n, v) => n + v.sizeMiB * MiB, 0);
    // The interface reports no capacity: the provider is the judge of room (its failure is the error).
    return { physicalSize: used, physicalUtilisation: used, free: Number.MAX_SAFE_INTEGER };
  },
  async scan(sr, ctx) {
    return Object.entries(readRegistry(sr, ctx)).map(([loc, v]) => vol(sr, loc, v.sizeMiB));
  },
  async probe(dc, ctx) {
    bindDc(dc, ctx);
    return [];
  },
  async volume(sr, location, ctx) {
    const reg = readRegistry(sr, ctx);
    return Object.hasOwn(reg, location) ? vol(sr, location, reg[location].sizeMiB) : undefined;
  },
  vdiCreate(sr, uuid, size, ctx) {
    const mib = toMiB(size);
    return makeVolume(sr, uuid, mib, ctx, (b) => run(b, 'create', { VOL_NAME: uuid, VOL_SIZE: String(mib) }));
  },
  async vdiDestroy(sr, location, ctx) {
    const reg = readRegistry(sr, ctx);
    if (!Object.hasOwn(reg, location)) return;
    const b = bind(sr, ctx);
    const env = { VOL_NAME: location, VOL_SIZE: String(reg[location].sizeMiB) };
    await run(b, 'detach', env);
    unlink(sr, location);
    await run(b, 'remove', env);
    const { [location]: _gone, ...rest } = readRegistry(sr, ctx);
    writeRegistry(sr, ctx, rest);
  },
  async vdiResize(sr, location, size, ctx) {
    const reg = readRegistry(sr, ctx);
    if (!Object.hasOwn(reg, location)) throw new XenApiError('VDI_MISSING', [sr.uuid, location]);
    const from = reg[location].sizeMiB;
    const to = toMiB(size);
    if (to > from)
      await run(bind(sr, ctx), 'grow', {
        VOL_NAME: location,
        VOL_SIZE: String(from),
        VOL_NEW_SIZE: String(to),
      });
    const next = Math.max(from, to);
    writeRegistry(sr, ctx, { ...readRegistry(sr, ctx), [location]: { sizeMiB: next } });
    return vol(sr, location, next);
  },
  async vdiClone(sr, location, newUuid, ctx) {
    const reg = readRegistry(sr, ctx);
    if (!Object.hasOwn(reg, location)) throw new XenApiError('VDI_MISSING', [sr.uuid, location]);
    // Snapshot is optional in the interface: without it the SR cannot clone (xapi's error).
    if (!bind(sr, ctx).p.optional.has('snapshot'))
      throw new XenApiError('SR_OPERATION_NOT_SUPPORTED', [sr.uuid]);
    const size = String(reg[location].sizeMiB);
    return makeVolume(sr, newUuid, reg[location].sizeMiB, ctx, (b) =>
      run(b, 'snapshot', {
        VOL_NAME: location,
        VOL_SIZE: size,
        VOL_SNAPSHOT_NAME: newUuid,
        VOL_SNAPSHOT_SIZE: size,
      }),
    );
  },
  async whileOpen(sr, location, ctx, work) {
    // A running VM's volume is attached already (and stays so); otherwise attached for the work.
    if (existsSync(extVolumePath(sr.uuid, location))) return work();
    await attachVolume(sr, location, ctx);
    try {
      return await work();
    } finally {
      await detachVolume(sr, location, ctx).catch(() => undefined);
    }
  },
  async vdiImport(sr, newUuid, src, ctx) {
    const mib = toMiB(src.virtualSize);
    const v = await makeVolume(sr, newUuid, mib, ctx, (b) =>
      run(b, 'create', { VOL_NAME: newUuid, VOL_SIZE: String(mib) }),
    );
    try {
      const dev = await attachVolume(sr, newUuid, ctx);
      try {
        await convertImage(src.path, src.format, dev, 'raw', { existing: true });
      } finally {
        await detachVolume(sr, newUuid, ctx).catch(() => undefined);
      }
    } catch (e) {
      await extDriver.vdiDestroy(sr, newUuid, ctx).catch(() => undefined);
      throw e instanceof XenApiError
        ? e
        : backendFailure('qemu-img', e instanceof Error ? e.message : String(e));
    }
    return v;
  },
  newVolumeSize: async (size) => size,
  growSize: async (from, to) => Math.max(0, to - from),
  importSize: async (src) => src.virtualSize,
  gc: async () => [],
};
