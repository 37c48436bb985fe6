// The floating pool management address's part of the host contract (issue 18), after Ganeti's
// node_activate_master_ip / node_deactivate_master_ip / node_change_master_netmask
// (../shared/reference/ganeti-noded.md §2). The pool master holds one extra address on one of its
// devices; the manager moves it on every master change (src/manager/master-ip/). Ganeti runs a
// master-ip-setup script (`ip address add/del` + arping); Berth's agent runs `ip` itself with
// argument arrays, only on a Berth-managed bridge or a device the agent's configuration allows.

/** Ganeti's master_params (name and uuid left out: the agent needs only these). */
export interface MasterIpParams {
  /** IPv4 address, dotted. */
  ip: string;
  /** Prefix length, 0…32 (Ganeti's master_netmask is a prefix length too). */
  netmask: number;
  /** The device carrying it: a Berth-managed bridge or a configured device. */
  netdev: string;
  /** Only 'inet' (IPv4): Berth's address checks are IPv4's. */
  ip_family: 'inet';
}

export interface MasterIpResult {
  /** False when the address already was (or was not) there: every call is idempotent. */
  changed: boolean;
  /** True if gratuitous ARP went out (`arping -U`); false when arping is not installed. */
  gratuitous_arp: boolean;
}

export interface MasterIpProcedures {
  /**
   * Adds `ip/netmask` to `netdev` and announces it (gratuitous ARP) if arping is installed.
   * `use_external_mip_script` must be false: Berth runs no site script for it (INVALID_VALUE).
   * Bad params: INVALID_VALUE [field, value]; a device not allowed: INVALID_VALUE ['netdev', name].
   */
  node_activate_master_ip(params: MasterIpParams, use_external_mip_script: boolean): Promise<MasterIpResult>;
  /** Removes the address from `netdev` (whatever its prefix); nothing there: changed false. */
  node_deactivate_master_ip(
    params: MasterIpParams,
    use_external_mip_script: boolean,
  ): Promise<MasterIpResult>;
  /**
   * Re-adds `master_ip` with prefix `netmask` then removes it with `old_netmask`, as Ganeti. The
   * address must be up on `master_netdev` (else INVALID_VALUE ['master_ip', ip]).
   */
  node_change_master_netmask(
    old_netmask: number,
    netmask: number,
    master_ip: string,
    master_netdev: string,
  ): Promise<MasterIpResult>;
  /** Ganeti's node_has_ip_address: whether `address` is configured on any device of this host. */
  node_has_ip_address(address: string): Promise<boolean>;
}

export type MasterIpProcedureName = keyof MasterIpProcedures;

export const MASTER_IP_PROCEDURES = [
  'node_activate_master_ip',
  'node_deactivate_master_ip',
  'node_change_master_netmask',
  'node_has_ip_address',
] as const satisfies readonly MasterIpProcedureName[];

type Unlisted = Exclude<MasterIpProcedureName, (typeof MASTER_IP_PROCEDURES)[number]>;
const allListed: [Unlisted] extends [never] ? true : Unlisted = true;
void allListed;

/** The master IP procedures over an agent RPC `call` (the manager's client of a host's agent). */
export function masterIpClient(
  call: (procedure: string, args: unknown[]) => Promise<unknown>,
): MasterIpProcedures {
  const out: Record<string, (...args: unknown[]) => Promise<unknown>> = {};
  for (const name of MASTER_IP_PROCEDURES) out[name] = (...args: unknown[]) => call(name, args);
  return out as unknown as MasterIpProcedures;
}
