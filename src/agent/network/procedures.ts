// The agent's networking procedures, named like Ganeti's node daemon where they overlap
// (`bridges_exist`), with JSON positional arguments. The agent RPC server can register this
// table as is; the manager's in-process NetworkAgent calls the same table.
import { bondCreate, bondDestroy, bondLinksUp } from './bond.js';
import { bridgeCreate, bridgeDestroy, bridgesExist } from './bridge.js';
import type { NetOptions } from './ip.js';
import { pifMetrics, pifPlug, pifScan, pifUnplug, reconfigureIp, type IpConfig } from './pif.js';
import { linkStats, vifAttach, vifConfigure, vifDetach } from './vif.js';
import { vlanCreate, vlanDestroy } from './vlan.js';

export type NetworkProcedure = (...args: any[]) => Promise<unknown>;

export interface NetworkProcedureOptions extends NetOptions {
  /** Virtual link kinds pif_scan treats as NICs (tests: ['veth']). */
  nicKinds?: string[];
}

const str = (v: unknown, what: string): string => {
  if (typeof v !== 'string') throw new Error(`${what}: expected a string`);
  return v;
};
const strList = (v: unknown, what: string): string[] => {
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string'))
    throw new Error(`${what}: expected a list of strings`);
  return v;
};
const optInt = (v: unknown, what: string): number | undefined => {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new Error(`${what}: expected an integer`);
  return v;
};
const strMap = (v: unknown, what: string): Record<string, string> => {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v) || !Object.values(v).every((x) => typeof x === 'string'))
    throw new Error(`${what}: expected a string map`);
  return v as Record<string, string>;
};

export function networkProcedures(o: NetworkProcedureOptions = {}): Record<string, NetworkProcedure> {
  const opts: NetOptions = { netns: o.netns };
  return {
    bridges_exist: async (bridges: unknown) => bridgesExist(strList(bridges, 'bridges'), opts),
    bridge_create: async (name: unknown, mtu: unknown) =>
      bridgeCreate(str(name, 'bridge'), optInt(mtu, 'mtu'), opts),
    bridge_destroy: async (name: unknown) => bridgeDestroy(str(name, 'bridge'), opts),
    vif_attach: async (tap: unknown, bridge: unknown, mtu: unknown, other: unknown) =>
      vifAttach(
        {
          tap: str(tap, 'tap'),
          bridge: str(bridge, 'bridge'),
          mtu: optInt(mtu, 'mtu'),
          otherConfig: strMap(other, 'other_config'),
        },
        opts,
      ),
    vif_configure: async (tap: unknown, other: unknown) =>
      vifConfigure(str(tap, 'tap'), strMap(other, 'other_config'), opts),
    vif_detach: async (tap: unknown) => vifDetach(str(tap, 'tap'), opts),
    link_stats: async (dev: unknown) => linkStats(str(dev, 'device'), opts),
    pif_scan: async () => pifScan({ ...opts, kinds: o.nicKinds }),
    pif_metrics: async (dev: unknown) => pifMetrics(str(dev, 'device'), opts),
    pif_plug: async (dev: unknown, bridge: unknown, mtu: unknown) =>
      pifPlug(str(dev, 'device'), str(bridge, 'bridge'), optInt(mtu, 'mtu'), opts),
    pif_unplug: async (dev: unknown) => pifUnplug(str(dev, 'device'), opts),
    pif_reconfigure_ip: async (dev: unknown, cfg: unknown) => {
      const c = (cfg ?? {}) as IpConfig;
      return reconfigureIp(
        str(dev, 'device'),
        { mode: c.mode, IP: c.IP, netmask: c.netmask, gateway: c.gateway },
        opts,
      );
    },
    vlan_create: async (dev: unknown, tag: unknown, bridge: unknown, mtu: unknown) =>
      vlanCreate(
        str(dev, 'device'),
        optInt(tag, 'tag') ?? -1,
        str(bridge, 'bridge'),
        optInt(mtu, 'mtu'),
        opts,
      ),
    vlan_destroy: async (dev: unknown, tag: unknown, bridge: unknown) =>
      vlanDestroy(str(dev, 'device'), optInt(tag, 'tag') ?? -1, str(bridge, 'bridge'), opts),
    bond_create: async (
      name: unknown,
      members: unknown,
      mode: unknown,
      props: unknown,
      mac: unknown,
      bridge: unknown,
      mtu: unknown,
    ) =>
      bondCreate(
        str(name, 'bond'),
        strList(members, 'members'),
        str(mode, 'mode'),
        strMap(props, 'properties'),
        mac === undefined || mac === null || mac === '' ? undefined : str(mac, 'MAC'),
        str(bridge, 'bridge'),
        optInt(mtu, 'mtu'),
        opts,
      ),
    bond_destroy: async (name: unknown, members: unknown) =>
      bondDestroy(str(name, 'bond'), strList(members, 'members'), opts),
    bond_links_up: async (members: unknown) => bondLinksUp(strList(members, 'members'), opts),
  };
}
