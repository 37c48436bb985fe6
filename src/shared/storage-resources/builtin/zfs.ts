// ZFS pools, datasets and zvols from
//   zpool list -Hp -o name,guid,size,health
//   zfs list -Hp -t filesystem,volume -o name,guid,type,used,avail,volsize
// (-H: tab-separated, no header; -p: exact numbers). Datasets and zvols are children of their pool;
// a zvol also gets its /dev/zvol/<name> device node.
import { LinuxDeviceNode, ZfsDataset, ZfsPool, ZfsVol } from '../api/linux-resources.js';
import type { Plugin } from '../api/plugin.js';
import type { Resource } from '../api/resource.js';
import { ToolOutputError, toSize } from './output-error.js';

export interface ZpoolRow {
  name: string;
  guid: string;
  size: number;
  health: string;
}
export interface ZfsRow {
  name: string;
  guid: string;
  type: 'filesystem' | 'volume';
  used: number;
  avail: number;
  volsize: number | null;
}

function tsvRows(tool: string, text: string, columns: number): string[][] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l, i) => {
      const f = l.split('\t');
      if (f.length !== columns)
        throw new ToolOutputError(tool, `line ${i + 1} has ${f.length} columns, expected ${columns}`);
      return f;
    });
}

const GUID = /^\d+$/;

export function parseZpoolList(text: string): ZpoolRow[] {
  const tool = 'zpool list';
  return tsvRows(tool, text, 4).map(([name, guid, size, health]) => {
    if (!GUID.test(guid)) throw new ToolOutputError(tool, `guid of ${name} is not a number`);
    return { name, guid, size: toSize(tool, `size of ${name}`, size), health };
  });
}

export function parseZfsList(text: string): ZfsRow[] {
  const tool = 'zfs list';
  return tsvRows(tool, text, 6).map(([name, guid, type, used, avail, volsize]) => {
    if (!GUID.test(guid)) throw new ToolOutputError(tool, `guid of ${name} is not a number`);
    if (type !== 'filesystem' && type !== 'volume')
      throw new ToolOutputError(tool, `type of ${name} is ${type}`);
    return {
      name,
      guid,
      type,
      used: toSize(tool, `used of ${name}`, used),
      avail: toSize(tool, `avail of ${name}`, avail),
      volsize: type === 'volume' ? toSize(tool, `volsize of ${name}`, volsize) : null,
    };
  });
}

/** Pools under `parent`; datasets and zvols under their pool (identified by guid). */
export function reportZfs(
  plugin: Plugin,
  parent: Resource,
  hostId: number,
  data: { pools: readonly ZpoolRow[]; datasets: readonly ZfsRow[] },
): Map<string, Resource> {
  const pools = new Map<string, Resource>();
  for (const p of data.pools)
    pools.set(
      p.name,
      plugin.updateOrCreate(ZfsPool, { uuid: p.guid, name: p.name, size: p.size }, [parent]).resource,
    );
  const out = new Map(pools);
  for (const d of data.datasets) {
    const poolName = d.name.split('/')[0];
    const pool = pools.get(poolName);
    if (!pool) throw new ToolOutputError('zfs list', `${d.name} is in a pool zpool list did not list`);
    if (d.type === 'volume') {
      const { resource } = plugin.updateOrCreate(
        ZfsVol,
        { uuid: d.guid, name: d.name, size: d.volsize ?? 0 },
        [pool],
      );
      plugin.updateOrCreate(
        LinuxDeviceNode,
        { host_id: hostId, path: `/dev/zvol/${d.name}`, logical_drive: resource },
        [resource],
      );
      out.set(d.name, resource);
    } else if (d.name !== poolName) {
      // The pool's root dataset is the pool itself.
      const size = d.used + d.avail;
      out.set(
        d.name,
        plugin.updateOrCreate(ZfsDataset, { uuid: d.guid, name: d.name, size }, [pool]).resource,
      );
    }
  }
  return out;
}
