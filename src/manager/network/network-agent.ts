// How the manager reaches a host's networking: the agent's networking procedures
// (src/agent/network/procedures.ts, Ganeti's names where they overlap). The in-process
// implementation calls the procedure table directly; a remote one passes the same names and
// arguments to the agent RPC (e.g. NodedAgentClient.call).
import { type NetworkProcedureOptions, networkProcedures } from '../../agent/network/procedures.js';
import type { NicInfo, PifMetrics, IpConfig, IpResult } from '../../agent/network/pif.js';
import type { SettingsReport } from '../../agent/network/settings.js';
import { XenApiError } from '../../shared/errors.js';
import type { NicSpec } from './vm-nics.js';

export type { NicInfo, PifMetrics, IpConfig, IpResult, SettingsReport };

export interface NetworkAgent {
  bridges_exist(bridges: string[]): Promise<boolean>;
  bridge_create(name: string, mtu?: number): Promise<void>;
  bridge_destroy(name: string): Promise<boolean>;
  vif_attach(
    tap: string,
    bridge: string,
    mtu: number | undefined,
    other: Record<string, string>,
  ): Promise<SettingsReport>;
  vif_configure(tap: string, other: Record<string, string>): Promise<SettingsReport>;
  vif_detach(tap: string): Promise<boolean>;
  link_stats(dev: string): Promise<{ rxBytes: number; txBytes: number; carrier: boolean } | undefined>;
  pif_scan(): Promise<NicInfo[]>;
  pif_metrics(dev: string): Promise<PifMetrics | undefined>;
  pif_plug(dev: string, bridge: string, mtu?: number): Promise<void>;
  pif_unplug(dev: string): Promise<void>;
  pif_reconfigure_ip(dev: string, cfg: IpConfig): Promise<IpResult>;
  vlan_create(dev: string, tag: number, bridge: string, mtu?: number): Promise<string>;
  vlan_destroy(dev: string, tag: number, bridge: string): Promise<void>;
  bond_create(
    name: string,
    members: string[],
    mode: string,
    props: Record<string, string>,
    mac: string,
    bridge: string,
    mtu?: number,
  ): Promise<void>;
  bond_destroy(name: string, members: string[]): Promise<void>;
  bond_links_up(members: string[]): Promise<number>;
}

const NAMES = [
  'bridges_exist',
  'bridge_create',
  'bridge_destroy',
  'vif_attach',
  'vif_configure',
  'vif_detach',
  'link_stats',
  'pif_scan',
  'pif_metrics',
  'pif_plug',
  'pif_unplug',
  'pif_reconfigure_ip',
  'vlan_create',
  'vlan_destroy',
  'bond_create',
  'bond_destroy',
  'bond_links_up',
] as const satisfies readonly (keyof NetworkAgent)[];

/** A NetworkAgent over any procedure caller (in-process table or agent RPC). */
export function procedureNetworkAgent(
  call: (name: string, args: unknown[]) => Promise<unknown>,
): NetworkAgent {
  const out: Record<string, unknown> = {};
  for (const n of NAMES) out[n] = (...args: unknown[]) => call(n, args);
  return out as unknown as NetworkAgent;
}

/** The in-process implementation (the manager and the host share a machine). */
export function inProcessNetworkAgent(opts: NetworkProcedureOptions = {}): NetworkAgent {
  const procs = networkProcedures(opts);
  return procedureNetworkAgent((name, args) => procs[name](...args));
}

/** Hot-plug of NICs into running VMs, offered by the host agent's QEMU driver (svc.ext.agent). */
export interface NicHotplug {
  /** QMP netdev_add tap (ifname = nic.tap, script=no) + device_add virtio-net-pci (id vif-<device>). */
  nicAttach(vmUuid: string, nic: NicSpec): Promise<void>;
  /** QMP device_del vif-<device>, wait for DEVICE_DELETED, netdev_del. */
  nicDetach(vmUuid: string, device: string): Promise<void>;
}

export function nicHotplugOf(agent: unknown): NicHotplug | undefined {
  const a = agent as Partial<NicHotplug> | undefined;
  return a && typeof a.nicAttach === 'function' && typeof a.nicDetach === 'function'
    ? (a as NicHotplug)
    : undefined;
}

/** Runs a host networking step; a failure becomes an API error naming the operation. */
export async function hostStep<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof XenApiError && e.code !== 'INTERNAL_ERROR') throw e;
    const msg = e instanceof XenApiError ? e.params.join(' ') : e instanceof Error ? e.message : String(e);
    throw new XenApiError('INTERNAL_ERROR', [`${what}: ${msg}`]);
  }
}
