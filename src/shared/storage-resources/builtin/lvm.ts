// LVM volume groups, logical volumes and physical volumes from
//   vgs --reportformat json --units b --nosuffix -o vg_name,vg_uuid,vg_size
//   lvs --reportformat json --units b --nosuffix -o lv_name,lv_uuid,vg_uuid,lv_size,lv_path
//   pvs --reportformat json --units b --nosuffix -o pv_name,pv_uuid,vg_uuid,pv_size
// A VG's parents are its PVs' drives (found through their device nodes), so an alert on a disk
// reaches the VG, and from there Berth's SR on it.
import { LinuxDeviceNode, LvmGroup, LvmVolume } from '../api/linux-resources.js';
import type { Plugin } from '../api/plugin.js';
import type { Resource } from '../api/resource.js';
import type { ReportedDevice } from './lsblk.js';
import { isRecord, parseToolJson, requireString, ToolOutputError, toSize } from './output-error.js';

export interface LvmVg {
  name: string;
  uuid: string;
  size: number;
}
export interface LvmLv {
  name: string;
  uuid: string;
  vgUuid: string;
  size: number;
  path: string | null;
}
export interface LvmPv {
  name: string;
  uuid: string;
  vgUuid: string | null;
  size: number;
}

/** The rows of `report[0][key]` of an LVM JSON report. */
function rows(tool: string, text: string, key: string): Record<string, unknown>[] {
  const doc = parseToolJson(tool, text);
  if (!isRecord(doc) || !Array.isArray(doc.report)) throw new ToolOutputError(tool, 'no "report" array');
  const out: Record<string, unknown>[] = [];
  for (const part of doc.report) {
    if (!isRecord(part) || !Array.isArray(part[key]))
      throw new ToolOutputError(tool, `report has no "${key}" array`);
    for (const row of part[key] as unknown[]) {
      if (!isRecord(row)) throw new ToolOutputError(tool, `a "${key}" row is not an object`);
      out.push(row);
    }
  }
  return out;
}

export function parseVgs(text: string): LvmVg[] {
  return rows('vgs', text, 'vg').map((r) => ({
    name: requireString('vgs', 'vg_name', r.vg_name),
    uuid: requireString('vgs', 'vg_uuid', r.vg_uuid),
    size: toSize('vgs', 'vg_size', r.vg_size),
  }));
}

export function parseLvs(text: string): LvmLv[] {
  return rows('lvs', text, 'lv').map((r) => ({
    name: requireString('lvs', 'lv_name', r.lv_name),
    uuid: requireString('lvs', 'lv_uuid', r.lv_uuid),
    vgUuid: requireString('lvs', 'vg_uuid', r.vg_uuid),
    size: toSize('lvs', 'lv_size', r.lv_size),
    path: typeof r.lv_path === 'string' && r.lv_path !== '' ? r.lv_path : null,
  }));
}

export function parsePvs(text: string): LvmPv[] {
  return rows('pvs', text, 'pv').map((r) => ({
    name: requireString('pvs', 'pv_name', r.pv_name),
    uuid: requireString('pvs', 'pv_uuid', r.pv_uuid),
    // An orphan PV (in no VG) has an empty vg_uuid.
    vgUuid: typeof r.vg_uuid === 'string' && r.vg_uuid !== '' ? r.vg_uuid : null,
    size: toSize('pvs', 'pv_size', r.pv_size),
  }));
}

/**
 * Reports each VG (parents: its PVs' drives among `devices`, else `parent`), each LV (parent: its
 * VG) with a LinuxDeviceNode at its lv_path. Returns the VGs by uuid.
 */
export function reportLvm(
  plugin: Plugin,
  parent: Resource,
  hostId: number,
  data: { vgs: readonly LvmVg[]; lvs: readonly LvmLv[]; pvs: readonly LvmPv[] },
  devices: ReadonlyMap<string, ReportedDevice> = new Map(),
): Map<string, Resource> {
  const groups = new Map<string, Resource>();
  for (const vg of data.vgs) {
    const pvDrives = data.pvs
      .filter((pv) => pv.vgUuid === vg.uuid)
      .map((pv) => devices.get(pv.name)?.drive)
      .filter((d): d is Resource => d !== undefined);
    const { resource } = plugin.updateOrCreate(
      LvmGroup,
      { uuid: vg.uuid, name: vg.name, size: vg.size },
      pvDrives.length > 0 ? pvDrives : [parent],
    );
    groups.set(vg.uuid, resource);
  }
  for (const lv of data.lvs) {
    const vg = groups.get(lv.vgUuid);
    if (!vg)
      throw new ToolOutputError('lvs', `logical volume ${lv.name} is in a volume group vgs did not list`);
    const { resource: volume } = plugin.updateOrCreate(
      LvmVolume,
      { uuid: lv.uuid, name: lv.name, vg, size: lv.size },
      [vg],
    );
    if (lv.path)
      plugin.updateOrCreate(LinuxDeviceNode, { host_id: hostId, path: lv.path, logical_drive: volume }, [
        volume,
      ]);
  }
  return groups;
}
