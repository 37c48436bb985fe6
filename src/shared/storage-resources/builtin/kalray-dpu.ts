// A Kalray DPU and its devices from the agent's `kalray_dpu` host plugin (src/agent/plugins/builtin/
// kalray_dpu.ts): its get_devices, get_raids and get_lvs answers are the DPU's SPDK JSON-RPC
// results (bdev_get_bdevs, bdev_raid_get_bdevs category=all, bdev_lvol_get_lvstores). The DPU is a
// controller under the host; its NVMe disks, RAIDs, logical volume stores and volumes hang from it
// in dependency order (disk → RAID → store → volume), so a failed disk's or degraded RAID's alert
// reaches every volume built on it.
import * as alertConditions from '../api/alert-conditions.js';
import * as attributes from '../api/attributes.js';
import { Controller, LogicalDrive, PhysicalDisk, StoragePool } from '../api/builtin-resources.js';
import { ScopedId } from '../api/identifiers.js';
import { LINUX_PLUGIN } from '../api/linux-resources.js';
import type { Plugin } from '../api/plugin.js';
import { type AnyResourceClass, defineResource, type Resource, setClassPlugin } from '../api/resource.js';
import { isRecord, parseToolJson, requireString, ToolOutputError, toSize } from './output-error.js';

const TOOL = 'kalray_dpu';

export const KalrayDpu = defineResource({
  name: 'KalrayDpu',
  label: 'Kalray DPU',
  extends: Controller,
  identifier: ScopedId('server', 'port'),
  attributes: { server: attributes.String(), port: attributes.Integer({ minVal: 1, maxVal: 65535 }) },
});

export const DpuDisk = defineResource({
  name: 'DpuDisk',
  label: 'DPU disk',
  extends: PhysicalDisk,
  identifier: ScopedId('dpu', 'name'),
  attributes: {
    dpu: attributes.ResourceReference(),
    name: attributes.String(),
    product_name: attributes.String({ optional: true }),
    size: attributes.Bytes(),
  },
});

export const DpuRaid = defineResource({
  name: 'DpuRaid',
  label: 'DPU RAID',
  extends: StoragePool,
  identifier: ScopedId('dpu', 'name'),
  attributes: {
    dpu: attributes.ResourceReference(),
    name: attributes.String(),
    raid_level: attributes.String({ optional: true }),
    state: attributes.String(),
    size: attributes.Bytes({ optional: true }),
  },
  alertConditions: [
    alertConditions.ValueCondition('state', {
      errorStates: ['offline'],
      warnStates: ['configuring'],
      message: 'DPU RAID not online',
    }),
  ],
});

export const DpuLvstore = defineResource({
  name: 'DpuLvstore',
  label: 'DPU logical volume store',
  extends: StoragePool,
  identifier: ScopedId('uuid'),
  attributes: {
    uuid: attributes.String(),
    name: attributes.String(),
    size: attributes.Bytes(),
    free: attributes.Bytes(),
  },
});

export const DpuVolume = defineResource({
  name: 'DpuVolume',
  label: 'DPU volume',
  extends: LogicalDrive,
  identifier: ScopedId('uuid'),
  attributes: { uuid: attributes.String(), name: attributes.String() },
});

export const KALRAY_DPU_CLASSES: AnyResourceClass[] = [
  KalrayDpu,
  DpuDisk,
  DpuRaid,
  DpuLvstore,
  DpuVolume,
].map((c) => c as AnyResourceClass);
for (const c of KALRAY_DPU_CLASSES) setClassPlugin(c, LINUX_PLUGIN);

/** The host plugin's three answers (JSON text each) and the DPU they came from. */
export interface KalrayDpuOutputs {
  server: string;
  port: number;
  devices: string;
  raids: string;
  lvs: string;
}

export interface DpuBdev {
  name: string;
  size: number;
  productName: string | null;
  /** An lvol: the uuid of its store. */
  lvstoreUuid: string | null;
  /** A RAID's base bdevs, when bdev_get_bdevs describes them (driver_specific.raid). */
  raidBase: string[] | null;
  uuid: string | null;
}
export interface DpuRaidInfo {
  name: string;
  level: string | null;
  state: string;
  base: string[];
}
export interface DpuLvs {
  uuid: string;
  name: string;
  baseBdev: string;
  size: number;
  free: number;
}

function list(what: string, text: string): Record<string, unknown>[] {
  const doc = parseToolJson(TOOL, text);
  if (!Array.isArray(doc)) throw new ToolOutputError(TOOL, `${what} is not a list`);
  return doc.map((x) => {
    if (!isRecord(x)) throw new ToolOutputError(TOOL, `an entry of ${what} is not an object`);
    return x;
  });
}

const names = (v: unknown): string[] | null =>
  Array.isArray(v)
    ? v
        .map((b) => (typeof b === 'string' ? b : isRecord(b) && typeof b.name === 'string' ? b.name : null))
        .filter((b): b is string => b !== null && b !== '')
    : null;

export function parseDpuBdevs(text: string): DpuBdev[] {
  return list('get_devices', text).map((b) => {
    const name = requireString(TOOL, 'bdev name', b.name);
    const blockSize = toSize(TOOL, `block_size of ${name}`, b.block_size);
    const blocks = toSize(TOOL, `num_blocks of ${name}`, b.num_blocks);
    const ds = isRecord(b.driver_specific) ? b.driver_specific : {};
    return {
      name,
      size: blockSize * blocks,
      productName: typeof b.product_name === 'string' ? b.product_name : null,
      lvstoreUuid:
        isRecord(ds.lvol) && typeof ds.lvol.lvol_store_uuid === 'string' ? ds.lvol.lvol_store_uuid : null,
      raidBase: isRecord(ds.raid) ? names(ds.raid.base_bdevs_list) : null,
      uuid: typeof b.uuid === 'string' ? b.uuid : null,
    };
  });
}

/** bdev_raid_get_bdevs: names only (older SPDK) or objects with their base bdevs. */
export function parseDpuRaids(text: string, bdevs: readonly DpuBdev[]): DpuRaidInfo[] {
  const doc = parseToolJson(TOOL, text);
  if (!Array.isArray(doc)) throw new ToolOutputError(TOOL, 'get_raids is not a list');
  return doc.map((r) => {
    if (typeof r === 'string') {
      const bdev = bdevs.find((b) => b.name === r);
      return { name: r, level: null, state: 'online', base: bdev?.raidBase ?? [] };
    }
    if (!isRecord(r)) throw new ToolOutputError(TOOL, 'a RAID is neither a name nor an object');
    const name = requireString(TOOL, 'RAID name', r.name);
    return {
      name,
      level: typeof r.raid_level === 'string' ? r.raid_level : null,
      state: typeof r.state === 'string' ? r.state : 'online',
      base: names(r.base_bdevs_list) ?? [],
    };
  });
}

export function parseDpuLvstores(text: string): DpuLvs[] {
  return list('get_lvs', text).map((l) => {
    const name = requireString(TOOL, 'lvs name', l.name);
    const cluster = toSize(TOOL, `cluster_size of ${name}`, l.cluster_size);
    return {
      uuid: requireString(TOOL, `uuid of ${name}`, l.uuid),
      name,
      baseBdev: requireString(TOOL, `base_bdev of ${name}`, l.base_bdev),
      size: cluster * toSize(TOOL, `total_data_clusters of ${name}`, l.total_data_clusters),
      free: cluster * toSize(TOOL, `free_clusters of ${name}`, l.free_clusters),
    };
  });
}

/** Reports the DPU under `parent`, then its disks, RAIDs, stores and volumes. */
export function reportKalrayDpu(plugin: Plugin, parent: Resource, out: KalrayDpuOutputs): Resource {
  const bdevs = parseDpuBdevs(out.devices);
  const raids = parseDpuRaids(out.raids, bdevs);
  const stores = parseDpuLvstores(out.lvs);
  const { resource: dpu } = plugin.updateOrCreate(KalrayDpu, { server: out.server, port: out.port }, [
    parent,
  ]);
  const raidNames = new Set(raids.map((r) => r.name));
  const byName = new Map<string, Resource>();
  for (const b of bdevs) {
    if (raidNames.has(b.name) || b.lvstoreUuid) continue;
    byName.set(
      b.name,
      plugin.updateOrCreate(
        DpuDisk,
        { dpu, name: b.name, product_name: b.productName ?? undefined, size: b.size },
        [dpu],
      ).resource,
    );
  }
  // A RAID may be built on another RAID: members first.
  const pending = [...raids];
  while (pending.length > 0) {
    const i = pending.findIndex((r) =>
      r.base.every((m) => byName.has(m) || !bdevs.some((b) => b.name === m)),
    );
    if (i < 0)
      throw new ToolOutputError(
        TOOL,
        `RAIDs ${pending.map((r) => r.name).join(', ')} are built on each other`,
      );
    const [r] = pending.splice(i, 1);
    const members = r.base.map((m) => byName.get(m)).filter((m): m is Resource => m !== undefined);
    const size = bdevs.find((b) => b.name === r.name)?.size;
    byName.set(
      r.name,
      plugin.updateOrCreate(
        DpuRaid,
        { dpu, name: r.name, raid_level: r.level ?? undefined, state: r.state, size },
        members.length > 0 ? members : [dpu],
      ).resource,
    );
  }
  const storesByUuid = new Map<string, Resource>();
  for (const s of stores) {
    const base = byName.get(s.baseBdev);
    storesByUuid.set(
      s.uuid,
      plugin.updateOrCreate(DpuLvstore, { uuid: s.uuid, name: s.name, size: s.size, free: s.free }, [
        base ?? dpu,
      ]).resource,
    );
  }
  for (const b of bdevs) {
    if (!b.lvstoreUuid) continue;
    const store = storesByUuid.get(b.lvstoreUuid);
    if (!store) throw new ToolOutputError(TOOL, `volume ${b.name} is in a store get_lvs did not list`);
    plugin.updateOrCreate(DpuVolume, { uuid: b.uuid ?? b.name, name: b.name, size: b.size }, [store]);
  }
  return dpu;
}
