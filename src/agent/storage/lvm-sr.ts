// The `lvm` SR: a volume group on local block devices, one thick raw LV per VDI
// (VG `VG_XenStorage-<sr uuid>`, LV `LV-<vdi uuid>`, xapi's names). Clones and copies are full
// copies into a new LV created under a `tmp-` name and renamed when complete.
// Needs device-mapper for any LV: without it lvcreate fails and the error is passed on as
// SR_BACKEND_FAILURE with LVM's own message.
import { existsSync, statSync } from 'node:fs';
import { asBackendFailure, backendFailure } from './failure.js';
import * as lvm from './lvm.js';
import { confineDevice } from './paths.js';
import { convertImage } from './qemu-img.js';
import type { DriverInfo, ProbeEntry, SrConfig, SrDriver, Volume } from './types.js';

const VG_PREFIX = 'VG_XenStorage-';
export const vgName = (srUuid: string) => `${VG_PREFIX}${srUuid}`;
export const lvName = (vdiUuid: string) => `LV-${vdiUuid}`;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** device_config:device, comma-separated, each a block device under /dev. */
export function devicesOf(dc: Record<string, string>, mustExist = true): string[] {
  const raw = dc.device ?? '';
  const devs = raw
    .split(',')
    .map((d) => d.trim())
    .filter(Boolean);
  if (!devs.length)
    throw backendFailure(
      'ConfigDeviceMissing',
      'device_config:device is required (comma-separated block devices)',
    );
  for (const d of devs) {
    confineDevice('device_config:device', d);
    if (mustExist && (!existsSync(d) || !statSync(d).isBlockDevice()))
      throw backendFailure('ConfigDeviceInvalid', `${d} is not a block device`);
  }
  return devs;
}

const vol = (vg: string, lv: string, size: number): Volume => ({
  location: lv.slice(3),
  path: `/dev/${vg}/${lv}`,
  format: 'raw',
  virtualSize: size,
  physicalUtilisation: size,
  readOnly: false,
});

async function lvSize(vg: string, lv: string): Promise<number> {
  const row = (await lvm.lvs(vg)).find((r) => r.lv_name === lv);
  if (!row) throw backendFailure('LVMNotFound', `${vg}/${lv} does not exist`);
  return lvm.bytes(row.lv_size);
}

async function freeBytes(vg: string): Promise<number> {
  const row = (await lvm.vgs(vg))[0];
  return lvm.bytes(row?.vg_free);
}

async function newLv(
  sr: SrConfig,
  uuid: string,
  size: number,
  fill?: { path: string; format: 'qcow2' | 'raw' },
): Promise<Volume> {
  const vg = vgName(sr.uuid);
  const tmp = `tmp-${lvName(uuid)}`;
  await asBackendFailure('LVMCreate', () => lvm.lvcreate(vg, tmp, size));
  try {
    if (fill)
      await asBackendFailure('qemu-img', () =>
        convertImage(fill.path, fill.format, `/dev/${vg}/${tmp}`, 'raw', { existing: true }),
      );
    await asBackendFailure('LVMRename', () => lvm.lvrename(vg, tmp, lvName(uuid)));
  } catch (e) {
    await lvm.lvremove(vg, tmp).catch(() => undefined);
    throw e;
  }
  return vol(vg, lvName(uuid), await lvSize(vg, lvName(uuid)));
}

export const lvmInfo: DriverInfo = {
  type: 'lvm',
  name: 'Local LVM',
  description: 'A volume group on local block devices; one thick raw logical volume per VDI',
  configuration: {
    device: 'comma-separated block devices (e.g. /dev/sdb,/dev/sdc) that become the volume group',
  },
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
    'VDI_COPY',
  ],
  contentType: 'user',
  formats: ['raw'],
  thin: false,
};

export const lvmDriver: SrDriver = {
  info: lvmInfo,
  validate(dc) {
    devicesOf(dc, false);
  },
  async create(sr) {
    const devs = devicesOf(sr.deviceConfig);
    const inUse = (await asBackendFailure('LVMProbe', () => lvm.pvs(devs).catch(() => []))).filter(
      (p) => p.vg_name,
    );
    if (inUse.length)
      throw backendFailure(
        'SRInUse',
        `${inUse.map((p) => `${p.pv_name} belongs to VG ${p.vg_name}`).join('; ')}`,
      );
    await asBackendFailure('LVMPVCreate', () => lvm.pvcreate(devs));
    try {
      await asBackendFailure('LVMVGCreate', () => lvm.vgcreate(vgName(sr.uuid), devs));
    } catch (e) {
      await lvm.pvremove(devs).catch(() => undefined);
      throw e;
    }
  },
  async destroy(sr) {
    const vg = vgName(sr.uuid);
    const devs = (await lvm.pvs().catch(() => [])).filter((p) => p.vg_name === vg).map((p) => p.pv_name);
    if ((await lvm.lvs(vg).catch(() => [])).some((l) => l.lv_name.startsWith('LV-')))
      throw backendFailure('SRNotEmpty', `${vg} still has logical volumes`);
    await asBackendFailure('LVMVGRemove', () => lvm.vgremove(vg));
    if (devs.length) await asBackendFailure('LVMPVRemove', () => lvm.pvremove(devs));
  },
  async attach(sr) {
    const vg = vgName(sr.uuid);
    if (!(await lvm.vgs(vg).catch(() => [])).length)
      throw backendFailure('SRUnavailable', `volume group ${vg} not found`);
    const fixed: string[] = [];
    const lvsNow = await lvm.lvs(vg);
    for (const l of lvsNow.filter((x) => x.lv_name.startsWith('tmp-'))) {
      await asBackendFailure('LVMRemove', () => lvm.lvremove(vg, l.lv_name));
      fixed.push(`removed partial volume ${l.lv_name}`);
    }
    // Activation needs device-mapper; a VG without LVs has nothing to activate.
    if (lvsNow.some((l) => l.lv_name.startsWith('LV-')))
      await asBackendFailure('LVMActivate', () => lvm.vgActivate(vg, true));
    return { fixed };
  },
  async detach(sr) {
    const vg = vgName(sr.uuid);
    if ((await lvm.lvs(vg).catch(() => [])).length) await lvm.vgActivate(vg, false).catch(() => undefined);
  },
  async stats(sr) {
    const row = (await asBackendFailure('LVMStats', () => lvm.vgs(vgName(sr.uuid))))[0];
    if (!row) throw backendFailure('SRUnavailable', `volume group ${vgName(sr.uuid)} not found`);
    const size = lvm.bytes(row.vg_size);
    const free = lvm.bytes(row.vg_free);
    return { physicalSize: size, physicalUtilisation: size - free, free };
  },
  async scan(sr) {
    const vg = vgName(sr.uuid);
    return (await asBackendFailure('LVMScan', () => lvm.lvs(vg)))
      .filter((l) => l.lv_name.startsWith('LV-') && UUID.test(l.lv_name.slice(3)))
      .map((l) => vol(vg, l.lv_name, lvm.bytes(l.lv_size)));
  },
  async probe(dc): Promise<ProbeEntry[]> {
    const devs = devicesOf(dc);
    const rows = await asBackendFailure('LVMProbe', () => lvm.pvs(devs));
    const seen = new Map<string, ProbeEntry>();
    for (const r of rows) {
      if (!r.vg_name?.startsWith(VG_PREFIX)) continue;
      const vg = (await lvm.vgs(r.vg_name))[0];
      seen.set(r.vg_name, {
        uuid: r.vg_name.slice(VG_PREFIX.length),
        where: r.vg_name,
        size: lvm.bytes(vg?.vg_size),
        free: lvm.bytes(vg?.vg_free),
      });
    }
    return [...seen.values()];
  },
  async volume(sr, location) {
    if (!UUID.test(location)) return undefined;
    const vg = vgName(sr.uuid);
    const row = (await lvm.lvs(vg).catch(() => [])).find((l) => l.lv_name === lvName(location));
    return row ? vol(vg, row.lv_name, lvm.bytes(row.lv_size)) : undefined;
  },
  async vdiCreate(sr, uuid, size) {
    const free = await freeBytes(vgName(sr.uuid));
    if (size > free) throw backendFailure('SRFull', `requested ${size}, free ${free}`);
    return newLv(sr, uuid, size);
  },
  async vdiDestroy(sr, location) {
    const vg = vgName(sr.uuid);
    if (!(await lvm.lvs(vg)).some((l) => l.lv_name === lvName(location))) return;
    await asBackendFailure('LVMRemove', () => lvm.lvremove(vg, lvName(location)));
  },
  async vdiResize(sr, location, size) {
    const vg = vgName(sr.uuid);
    await asBackendFailure('LVMResize', () => lvm.lvextend(vg, lvName(location), size));
    return vol(vg, lvName(location), await lvSize(vg, lvName(location)));
  },
  async vdiClone(sr, location, newUuid) {
    const vg = vgName(sr.uuid);
    const size = await lvSize(vg, lvName(location));
    return newLv(sr, newUuid, size, { path: `/dev/${vg}/${lvName(location)}`, format: 'raw' });
  },
  async vdiImport(sr, newUuid, src) {
    return newLv(sr, newUuid, src.virtualSize, { path: src.path, format: src.format });
  },
  newVolumeSize: async (size) => size,
  growSize: async (from, to) => Math.max(0, to - from),
  importSize: async (src) => src.virtualSize,
  gc: async () => [],
};
