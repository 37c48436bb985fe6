// Network interfaces from /sys/class/net/<name>/{address,operstate,mtu,speed,type}: the host's
// network nodes (NetworkInterface, reference §10). The reader collects the files' text; the parser
// and the report are pure, so recorded snapshots test them.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as attributes from '../api/attributes.js';
import { NetworkInterface } from '../api/builtin-resources.js';
import { ScopedId } from '../api/identifiers.js';
import { LINUX_PLUGIN } from '../api/linux-resources.js';
import type { Plugin } from '../api/plugin.js';
import { defineResource, type Resource, setClassPlugin } from '../api/resource.js';
import { isRecord, ToolOutputError } from './output-error.js';

const TOOL = '/sys/class/net';
const FILES = ['address', 'operstate', 'mtu', 'speed', 'type'] as const;

export const LinuxNetworkInterface = defineResource({
  name: 'LinuxNetworkInterface',
  label: 'Network interface',
  extends: NetworkInterface,
  identifier: ScopedId('name'),
  attributes: {
    name: attributes.String(),
    mac_address: attributes.String({ optional: true }),
    operstate: attributes.String(),
    mtu: attributes.Integer(),
    speed_mbps: attributes.Integer({ optional: true }),
  },
});
setClassPlugin(LinuxNetworkInterface, LINUX_PLUGIN);

/** name → file → trimmed text (a file that could not be read is absent). */
export type SysNetSnapshot = Record<string, Partial<Record<(typeof FILES)[number], string>>>;

/** Reads the snapshot (the only part touching the filesystem). */
export async function readSysClassNet(dir = '/sys/class/net'): Promise<SysNetSnapshot> {
  const out: SysNetSnapshot = {};
  for (const name of await readdir(dir)) {
    const entry: SysNetSnapshot[string] = {};
    for (const f of FILES) {
      // speed of a down or virtual interface fails with EINVAL: leave it out.
      entry[f] = await readFile(join(dir, name, f), 'utf8').then(
        (t) => t.trim(),
        () => undefined,
      );
      if (entry[f] === undefined) delete entry[f];
    }
    out[name] = entry;
  }
  return out;
}

export interface NetInterface {
  name: string;
  mac: string | null;
  operstate: string;
  mtu: number;
  speedMbps: number | null;
  /** ARPHRD type: 1 ethernet, 772 loopback. */
  type: number;
}

export function parseSysClassNet(snapshot: unknown): NetInterface[] {
  if (!isRecord(snapshot)) throw new ToolOutputError(TOOL, 'snapshot is not an object');
  return Object.entries(snapshot).map(([name, e]) => {
    if (!/^[^/\s]{1,15}$/.test(name))
      throw new ToolOutputError(TOOL, `${JSON.stringify(name)} is not an interface name`);
    if (!isRecord(e)) throw new ToolOutputError(TOOL, `${name}: entry is not an object`);
    const int = (k: string) =>
      typeof e[k] === 'string' && /^-?\d+$/.test(e[k] as string) ? Number(e[k]) : null;
    const mtu = int('mtu');
    const type = int('type');
    if (mtu === null || type === null) throw new ToolOutputError(TOOL, `${name}: no mtu or type`);
    const speed = int('speed');
    const mac = typeof e.address === 'string' && e.address !== '' ? e.address : null;
    return {
      name,
      mac,
      operstate: typeof e.operstate === 'string' ? e.operstate : 'unknown',
      mtu,
      // -1 is how drivers say "unknown".
      speedMbps: speed !== null && speed >= 0 ? speed : null,
      type,
    };
  });
}

/** Reports each interface but loopback under `parent`. */
export function reportNetInterfaces(
  plugin: Plugin,
  parent: Resource,
  hostId: number,
  interfaces: readonly NetInterface[],
): Resource[] {
  return interfaces
    .filter((i) => i.type !== 772)
    .map(
      (i) =>
        plugin.updateOrCreate(
          LinuxNetworkInterface,
          {
            host_id: hostId,
            name: i.name,
            mac_address: i.mac ?? undefined,
            operstate: i.operstate,
            mtu: i.mtu,
            speed_mbps: i.speedMbps ?? undefined,
          },
          [parent],
        ).resource,
    );
}
