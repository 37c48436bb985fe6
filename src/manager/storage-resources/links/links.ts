// BerthObjectLinks (types.ts) on the resource store's queries and the XenAPI database, both read
// as they are when asked. An SR sits, for each of its PBDs, on what that PBD's host reports
// (host-roots.ts): its volume group or the mount holding its directory (sr-storage.ts). From there
// the database's own references lead on: SR.VDIs, VDI.VBDs, VBD.VM. Lists are deduplicated and
// in a stable order: resources by the walk (the record, then descendants or ancestors by id),
// XenAPI objects in the order they are reached, siblings by uuid.
import type { ResourceQueries } from '../queries.js';
import { rootsOfHost } from './host-roots.js';
import { mountIndex, mountsHolding, type SrStorage, srStorage } from './sr-storage.js';
import type { AffectedObjects, BerthObjectLinks, VmDependencies } from './types.js';

/** The records an SR can sit on, as the linux plugin reports them. */
export const LOCAL_MOUNT_CLASS = 'linux.LocalMount';
export const LVM_GROUP_CLASS = 'linux.LvmGroup';

type Row = Record<string, unknown>;

/** What the links read of the XenAPI database (the manager's Database). */
export interface BerthObjectsDb {
  get(cls: string, ref: string): Row | undefined;
  all(cls: string): Map<string, Row>;
}

export type LinkQueries = Pick<
  ResourceQueries,
  'roots' | 'descendants' | 'ancestors' | 'recordsOfRootWithAttribute' | 'resource'
>;

const refsOf = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x) => typeof x === 'string') : []);
function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (v && typeof v === 'object' && !Array.isArray(v))
    for (const [k, x] of Object.entries(v)) if (typeof x === 'string') out[k] = x;
  return out;
}

/** Appends the values not yet in `out` (keeps first-seen order). */
function addAll<T>(out: T[], seen: Set<T>, values: Iterable<T>) {
  for (const v of values)
    if (!seen.has(v)) {
      seen.add(v);
      out.push(v);
    }
}

export function berthObjectLinks(queries: LinkQueries, db: BerthObjectsDb): BerthObjectLinks {
  const uuidOf = (cls: string, ref: string) => String(db.get(cls, ref)?.uuid ?? '');
  /** Refs of `cls` that exist, ordered by uuid. */
  const existing = (cls: string, refs: string[]) =>
    refs.filter((r) => db.get(cls, r)).sort((a, b) => cmp(uuidOf(cls, a), uuidOf(cls, b)));

  /**
   * One walk's view of the store: the roots, and each root's records of a class with one
   * attribute, read once however many SRs ask (a pool's SRs share hosts and mounts).
   */
  function storeView() {
    const roots = queries.roots();
    const cache = new Map<string, { id: number; value: unknown }[]>();
    const records = (root: string, cls: string, attribute: string) => {
      const key = JSON.stringify([root, cls, attribute]);
      let rows = cache.get(key);
      if (!rows) cache.set(key, (rows = queries.recordsOfRootWithAttribute(root, cls, attribute)));
      return rows;
    };
    const mountsByHost = new Map<string, Map<string, { id: number }[]>>();
    /** The mounts a host's roots report, by mount point. */
    const mounts = (hostUuid: string) => {
      let index = mountsByHost.get(hostUuid);
      if (!index) {
        const all = rootsOfHost(roots, hostUuid).flatMap((root) =>
          records(root, LOCAL_MOUNT_CLASS, 'mount_point')
            .filter((r): r is { id: number; value: string } => typeof r.value === 'string')
            .map((r) => ({ id: r.id, mountPoint: r.value })),
        );
        mountsByHost.set(hostUuid, (index = mountIndex(all)));
      }
      return index;
    };
    return { roots, records, mounts };
  }
  type StoreView = ReturnType<typeof storeView>;

  /** The records one host's roots report for one SR's storage. */
  function recordsOnHost(view: StoreView, storage: SrStorage, hostUuid: string): number[] {
    if (storage.kind === 'volume-group') {
      return rootsOfHost(view.roots, hostUuid).flatMap((root) =>
        view
          .records(root, LVM_GROUP_CLASS, 'name')
          .filter((r) => r.value === storage.vgName)
          .map((r) => r.id),
      );
    }
    if (storage.kind === 'directory')
      return mountsHolding(storage.path, view.mounts(hostUuid)).map((m) => m.id);
    return [];
  }

  function srResourcesWith(sr: string, view: StoreView): number[] {
    const row = db.get('SR', sr);
    if (!row || view.roots.length === 0) return [];
    const out = new Set<number>();
    for (const pbdRef of refsOf(row.PBDs)) {
      const pbd = db.get('PBD', pbdRef);
      const host = pbd && db.get('host', String(pbd.host));
      if (!pbd || !host) continue;
      const storage = srStorage(String(row.type ?? ''), String(row.uuid ?? ''), stringMap(pbd.device_config));
      for (const id of recordsOnHost(view, storage, String(host.uuid ?? ''))) out.add(id);
    }
    return [...out].sort((a, b) => a - b);
  }

  /** Every SR (by uuid) with the records it sits on. */
  function placements(): [string, number[]][] {
    const view = storeView();
    if (view.roots.length === 0) return [];
    return existing('SR', [...db.all('SR').keys()]).map((sr) => [sr, srResourcesWith(sr, view)]);
  }

  function srResources(sr: string): number[] {
    return srResourcesWith(sr, storeView());
  }

  function resourceSrs(resourceId: number): string[] {
    return placements()
      .filter(([, ids]) => ids.includes(resourceId))
      .map(([sr]) => sr);
  }

  function affectedBy(resourceId: number): AffectedObjects {
    const none: AffectedObjects = { resources: [], srs: [], vdis: [], vbds: [], vms: [] };
    if (!queries.resource(resourceId)) return none;
    const resources = [resourceId, ...queries.descendants(resourceId)];
    const rank = new Map(resources.map((id, i) => [id, i]));
    // An SR is reached through the first of its records the walk reaches.
    const srs = placements()
      .map(([sr, ids]) => ({ sr, at: Math.min(...ids.map((id) => rank.get(id) ?? Infinity)) }))
      .filter((x) => x.at !== Infinity)
      .sort((a, b) => a.at - b.at)
      .map((x) => x.sr);
    const vdis: string[] = [];
    const seenVdis = new Set<string>();
    for (const sr of srs) addAll(vdis, seenVdis, existing('VDI', refsOf(db.get('SR', sr)?.VDIs)));
    const vbds: string[] = [];
    const seenVbds = new Set<string>();
    for (const vdi of vdis) addAll(vbds, seenVbds, existing('VBD', refsOf(db.get('VDI', vdi)?.VBDs)));
    const vms: string[] = [];
    const seenVms = new Set<string>();
    for (const vbd of vbds) {
      const vm = String(db.get('VBD', vbd)?.VM ?? '');
      if (db.get('VM', vm)) addAll(vms, seenVms, [vm]);
    }
    return { resources, srs, vdis, vbds, vms };
  }

  function dependenciesOfVm(vm: string): VmDependencies {
    const row = db.get('VM', vm);
    if (!row) return { vbds: [], vdis: [], srs: [], resources: [] };
    // Empty drives (a CD with no disc in) depend on nothing.
    const vbds = existing('VBD', refsOf(row.VBDs)).filter((vbd) => {
      const v = db.get('VBD', vbd)!;
      return v.empty !== true && db.get('VDI', String(v.VDI)) !== undefined;
    });
    const vdis: string[] = [];
    const seenVdis = new Set<string>();
    for (const vbd of vbds) addAll(vdis, seenVdis, [String(db.get('VBD', vbd)!.VDI)]);
    const srs: string[] = [];
    const seenSrs = new Set<string>();
    for (const vdi of vdis) {
      const sr = String(db.get('VDI', vdi)!.SR ?? '');
      if (db.get('SR', sr)) addAll(srs, seenSrs, [sr]);
    }
    const view = storeView();
    const resources: number[] = [];
    const seen = new Set<number>();
    for (const sr of srs)
      for (const id of srResourcesWith(sr, view)) addAll(resources, seen, [id, ...queries.ancestors(id)]);
    return { vbds, vdis, srs, resources };
  }

  return { srResources, resourceSrs, affectedBy, dependenciesOfVm };
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
