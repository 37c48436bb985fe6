// The `iso` SR: a read-only library of ISO images in a directory. Each `*.iso` file is a VDI
// (location = file name); Berth never writes into the directory.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { XenApiError } from '../../shared/errors.js';
import { backendFailure } from './failure.js';
import { confine } from './paths.js';
import type { DriverContext, DriverInfo, SrConfig, SrDriver, Volume } from './types.js';

/** File names that are ISO images (pure). */
export const isIsoName = (n: string) => /\.iso$/i.test(n) && !n.startsWith('.') && !n.includes('/');

const dirOf = (sr: SrConfig, ctx: DriverContext) =>
  confine('device_config:location', sr.deviceConfig.location, ctx.allowedRoots);

function volumeAt(dir: string, name: string): Volume {
  const path = join(dir, name);
  const st = statSync(path);
  return {
    location: name,
    path,
    format: 'raw',
    virtualSize: st.size,
    physicalUtilisation: st.size,
    readOnly: true,
  };
}

const unsupported = (sr: SrConfig): never => {
  throw new XenApiError('SR_OPERATION_NOT_SUPPORTED', [sr.uuid]);
};

export const isoInfo: DriverInfo = {
  type: 'iso',
  name: 'ISO library',
  description: 'Read-only ISO images in a local directory, shown as CD VDIs',
  configuration: { location: 'absolute path of a directory of .iso files' },
  capabilities: ['SR_PROBE', 'SR_UPDATE', 'VDI_ATTACH', 'VDI_DETACH', 'VDI_INTRODUCE'],
  contentType: 'iso',
  formats: ['raw'],
  thin: false,
};

export const isoDriver: SrDriver = {
  info: isoInfo,
  validate(dc, ctx) {
    confine('device_config:location', dc.location, ctx.allowedRoots);
  },
  async create(sr, ctx) {
    const dir = dirOf(sr, ctx);
    if (!existsSync(dir) || !statSync(dir).isDirectory())
      throw backendFailure('SRUnavailable', `directory ${dir} does not exist`);
  },
  async destroy() {
    // The images belong to whoever put them there: destroying the SR only forgets them.
  },
  async attach(sr, ctx) {
    await isoDriver.create(sr, ctx);
    return { fixed: [] };
  },
  async detach() {},
  async stats(sr, ctx) {
    const vols = await isoDriver.scan(sr, ctx);
    const used = vols.reduce((s, v) => s + v.physicalUtilisation, 0);
    return { physicalSize: used, physicalUtilisation: used, free: 0 };
  },
  async scan(sr, ctx) {
    const dir = dirOf(sr, ctx);
    return readdirSync(dir)
      .filter(isIsoName)
      .filter((n) => statSync(join(dir, n)).isFile())
      .map((n) => volumeAt(dir, n));
  },
  async probe(dc, ctx) {
    const dir = confine('device_config:location', dc.location, ctx.allowedRoots);
    return existsSync(dir) ? [{ uuid: '', where: dir, size: readdirSync(dir).filter(isIsoName).length }] : [];
  },
  async volume(sr, location, ctx) {
    const dir = dirOf(sr, ctx);
    if (!isIsoName(location) || !existsSync(join(dir, location))) return undefined;
    return volumeAt(dir, location);
  },
  vdiCreate: async (sr) => unsupported(sr),
  vdiDestroy: async (sr) => unsupported(sr),
  vdiResize: async (sr) => unsupported(sr),
  vdiClone: async (sr) => unsupported(sr),
  vdiImport: async (sr) => unsupported(sr),
  newVolumeSize: async (size) => size,
  growSize: async (from, to) => Math.max(0, to - from),
  importSize: async () => 0,
  gc: async () => [],
};
