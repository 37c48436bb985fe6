// The networking part of the host contract: what the manager asks of a host's networking, served
// by that host's agent over its RPC (src/agent/network/procedures.ts) and called by the manager's
// client of that agent (NodedAgentClient.network). Procedure names follow Ganeti's node daemon
// where they overlap (`bridges_exist`); arguments are positional JSON values, in the order of the
// methods below (payloads in docs/agent.md).

/** A NIC as PIF.scan sees it. */
export interface NicInfo {
  device: string;
  MAC: string;
  MTU: number;
  carrier: boolean;
  /** Bus the device sits on (pci, virtio…), '' for virtual devices admitted by the agent's nic kinds. */
  bus: string;
  /** IPv4 addresses (CIDR) currently on the device. */
  addresses: string[];
}

export interface PifMetrics {
  carrier: boolean;
  /** Mb/s, 0 if unknown. */
  speed: number;
  /** Full duplex. */
  duplex: boolean;
  vendor_id: string;
  device_id: string;
}

export type IpMode = 'None' | 'DHCP' | 'Static';
export const IP_MODES: readonly IpMode[] = ['None', 'DHCP', 'Static'];

export interface IpConfig {
  mode: IpMode;
  IP?: string;
  netmask?: string;
  gateway?: string;
}

export interface IpResult {
  IP: string;
  netmask: string;
  gateway: string;
  DNS: string;
}

/** What became of a VIF's or PIF's other_config settings (ethtool-*, promiscuous, mtu). */
export interface SettingsReport {
  applied: string[];
  /** key → why it was not applied. */
  failed: Record<string, string>;
}

export interface LinkStats {
  rxBytes: number;
  txBytes: number;
  carrier: boolean;
}

/** The networking procedures of a host agent. Every kernel object lives on that host. */
export interface NetworkProcedures {
  /** True if every named bridge exists (and is a bridge). */
  bridges_exist(bridges: string[]): Promise<boolean>;
  /** Creates the bridge if missing (idempotent), sets its MTU, brings it up. */
  bridge_create(name: string, mtu?: number): Promise<void>;
  /** Deletes a bridge Berth created; true if one was deleted. */
  bridge_destroy(name: string): Promise<boolean>;
  /** Creates (or adopts) the VIF's TAP on the bridge and applies its settings. */
  vif_attach(
    tap: string,
    bridge: string,
    mtu: number | undefined,
    other: Record<string, string>,
  ): Promise<SettingsReport>;
  vif_configure(tap: string, other: Record<string, string>): Promise<SettingsReport>;
  /** Deletes the VIF's TAP (only Berth's); true if it existed. */
  vif_detach(tap: string): Promise<boolean>;
  link_stats(dev: string): Promise<LinkStats | undefined>;
  pif_scan(): Promise<NicInfo[]>;
  pif_metrics(dev: string): Promise<PifMetrics | undefined>;
  pif_plug(dev: string, bridge: string, mtu?: number): Promise<void>;
  pif_unplug(dev: string): Promise<void>;
  /** IPv4 configuration of `dev` (a PIF's bridge). */
  pif_reconfigure_ip(dev: string, cfg: IpConfig): Promise<IpResult>;
  /** Creates the VLAN device and its bridge; returns the VLAN device's name. */
  vlan_create(dev: string, tag: number, bridge: string, mtu?: number): Promise<string>;
  vlan_destroy(dev: string, tag: number, bridge: string): Promise<void>;
  /** `mac` '' keeps the bond's own MAC. */
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
  /** Members with carrier. */
  bond_links_up(members: string[]): Promise<number>;
}

export type NetworkProcedureName = keyof NetworkProcedures;

/** Every networking procedure name (checked against the interface both ways). */
export const NETWORK_PROCEDURES = [
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
] as const satisfies readonly NetworkProcedureName[];

// Compile-time: a procedure added to the interface but not to the list fails here.
type Unlisted = Exclude<NetworkProcedureName, (typeof NETWORK_PROCEDURES)[number]>;
const allListed: [Unlisted] extends [never] ? true : Unlisted = true;
void allListed;

/** A NetworkProcedures whose every method passes its name and arguments to `call` (an agent RPC). */
export function networkClient(
  call: (procedure: string, args: unknown[]) => Promise<unknown>,
): NetworkProcedures {
  const out: Record<string, (...args: unknown[]) => Promise<unknown>> = {};
  for (const name of NETWORK_PROCEDURES) out[name] = (...args: unknown[]) => call(name, args);
  return out as unknown as NetworkProcedures;
}
