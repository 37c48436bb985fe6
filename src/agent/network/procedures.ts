// The agent's networking procedures (the contract in src/shared/host/network.ts) as its RPC serves
// them. The RPC is a trust boundary: every argument is checked for its type here, and a wrong one
// is INVALID_VALUE [argument, value] before anything touches the kernel. Interface names and
// values are checked further down (names.ts, settings.ts…).
import { XenApiError } from '../../shared/errors.js';
import {
  IP_MODES,
  type IpMode,
  type NetworkProcedureName,
  type NetworkProcedures,
} from '../../shared/host/network.js';
import { bondCreate, bondDestroy, bondLinksUp } from './bond.js';
import { bridgeCreate, bridgeDestroy, bridgesExist } from './bridge.js';
import type { NetOptions } from './ip.js';
import { pifMetrics, pifPlug, pifScan, pifUnplug, reconfigureIp } from './pif.js';
import { linkStats, vifAttach, vifConfigure, vifDetach } from './vif.js';
import { vlanCreate, vlanDestroy } from './vlan.js';

/** The contract's procedures, taking unchecked JSON arguments. */
export type ServedNetworkProcedures = {
  [K in NetworkProcedureName]: (...args: unknown[]) => ReturnType<NetworkProcedures[K]>;
};

export interface NetworkProcedureOptions extends NetOptions {
  /** Virtual link kinds pif_scan treats as NICs (tests: ['veth']). */
  nicKinds?: string[];
}

function invalid(what: string, v: unknown): XenApiError {
  const text = JSON.stringify(v) ?? 'undefined';
  return new XenApiError('INVALID_VALUE', [what, text.length > 200 ? `${text.slice(0, 200)}…` : text]);
}

const str = (v: unknown, what: string): string => {
  if (typeof v !== 'string') throw invalid(what, v);
  return v;
};
const strList = (v: unknown, what: string): string[] => {
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw invalid(what, v);
  return v;
};
const int = (v: unknown, what: string): number => {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw invalid(what, v);
  return v;
};
const optInt = (v: unknown, what: string): number | undefined =>
  v === undefined || v === null ? undefined : int(v, what);
const isMap = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const strMap = (v: unknown, what: string): Record<string, string> => {
  if (v === undefined || v === null) return {};
  if (!isMap(v) || !Object.values(v).every((x) => typeof x === 'string')) throw invalid(what, v);
  return v as Record<string, string>;
};
const optStr = (v: unknown, what: string): string | undefined =>
  v === undefined || v === null ? undefined : str(v, what);

export function networkProcedures(o: NetworkProcedureOptions = {}): ServedNetworkProcedures {
  const opts: NetOptions = { netns: o.netns };
  return {
    bridges_exist: async (bridges) => bridgesExist(strList(bridges, 'bridges'), opts),
    bridge_create: async (name, mtu) => bridgeCreate(str(name, 'bridge'), optInt(mtu, 'mtu'), opts),
    bridge_destroy: async (name) => bridgeDestroy(str(name, 'bridge'), opts),
    vif_attach: async (tap, bridge, mtu, other) =>
      vifAttach(
        {
          tap: str(tap, 'tap'),
          bridge: str(bridge, 'bridge'),
          mtu: optInt(mtu, 'mtu'),
          otherConfig: strMap(other, 'other_config'),
        },
        opts,
      ),
    vif_configure: async (tap, other) => vifConfigure(str(tap, 'tap'), strMap(other, 'other_config'), opts),
    vif_detach: async (tap) => vifDetach(str(tap, 'tap'), opts),
    link_stats: async (dev) => linkStats(str(dev, 'device'), opts),
    pif_scan: async () => pifScan({ ...opts, kinds: o.nicKinds }),
    pif_metrics: async (dev) => pifMetrics(str(dev, 'device'), opts),
    pif_plug: async (dev, bridge, mtu) =>
      pifPlug(str(dev, 'device'), str(bridge, 'bridge'), optInt(mtu, 'mtu'), opts),
    pif_unplug: async (dev) => pifUnplug(str(dev, 'device'), opts),
    pif_reconfigure_ip: async (dev, cfg) => {
      if (!isMap(cfg)) throw invalid('ip_configuration', cfg);
      const mode = str(cfg.mode, 'mode');
      if (!IP_MODES.includes(mode as IpMode)) throw invalid('mode', mode);
      return reconfigureIp(
        str(dev, 'device'),
        {
          mode: mode as IpMode,
          IP: optStr(cfg.IP, 'IP'),
          netmask: optStr(cfg.netmask, 'netmask'),
          gateway: optStr(cfg.gateway, 'gateway'),
        },
        opts,
      );
    },
    vlan_create: async (dev, tag, bridge, mtu) =>
      vlanCreate(str(dev, 'device'), int(tag, 'tag'), str(bridge, 'bridge'), optInt(mtu, 'mtu'), opts),
    vlan_destroy: async (dev, tag, bridge) =>
      vlanDestroy(str(dev, 'device'), int(tag, 'tag'), str(bridge, 'bridge'), opts),
    bond_create: async (name, members, mode, props, mac, bridge, mtu) =>
      bondCreate(
        str(name, 'bond'),
        strList(members, 'members'),
        str(mode, 'mode'),
        strMap(props, 'properties'),
        optStr(mac, 'MAC') || undefined,
        str(bridge, 'bridge'),
        optInt(mtu, 'mtu'),
        opts,
      ),
    bond_destroy: async (name, members) => bondDestroy(str(name, 'bond'), strList(members, 'members'), opts),
    bond_links_up: async (members) => bondLinksUp(strList(members, 'members'), opts),
  };
}
