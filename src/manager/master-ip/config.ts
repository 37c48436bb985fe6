// The pool's floating management address as its other_config keys say (pure), and the steps that
// take a host from what it holds to what is wanted.
//
//   other_config:berth-master-ip         = 10.0.0.5/24   (IPv4 address / prefix length)
//   other_config:berth-master-ip-device  = xenbr0        (a Berth bridge or a configured device)
import type { MasterIpParams } from '../../shared/host/master-ip.js';
import { isIPv4 } from '../../shared/net/ipv4.js';
import { validIfName } from '../../shared/net/names.js';

export const MASTER_IP_KEY = 'berth-master-ip';
export const MASTER_IP_DEVICE_KEY = 'berth-master-ip-device';

export type MasterIpWanted = { params: MasterIpParams } | { error: string } | undefined;

/** The wanted address from the pool's other_config: undefined when unset, an error when malformed. */
export function wantedMasterIp(otherConfig: Record<string, string> | undefined): MasterIpWanted {
  const value = otherConfig?.[MASTER_IP_KEY];
  if (value === undefined || value === '') return undefined;
  const m = /^([0-9.]+)\/(\d{1,2})$/.exec(value);
  const len = m ? Number(m[2]) : Number.NaN;
  if (!m || !isIPv4(m[1]) || len > 32)
    return { error: `${MASTER_IP_KEY}=${value}: expected an IPv4 address/prefix length` };
  const dev = otherConfig?.[MASTER_IP_DEVICE_KEY];
  if (!validIfName(dev)) return { error: `${MASTER_IP_DEVICE_KEY}=${dev ?? ''}: expected a device name` };
  return { params: { ip: m[1], netmask: len, netdev: dev, ip_family: 'inet' } };
}

export type MasterIpStep =
  | { op: 'activate'; params: MasterIpParams }
  | { op: 'deactivate'; params: MasterIpParams }
  | { op: 'netmask'; old: number; params: MasterIpParams };

/**
 * The steps from `held` (what this master activated, if anything) to `want`: nothing when equal
 * (unless `force`: the agent restarted, the role just came), a netmask change when only the prefix
 * differs (Ganeti's node_change_master_netmask), else remove the old then add the new.
 */
export function masterIpSteps(
  held: MasterIpParams | undefined,
  want: MasterIpParams | undefined,
  force = false,
): MasterIpStep[] {
  if (!want) return held ? [{ op: 'deactivate', params: held }] : [];
  if (!held) return [{ op: 'activate', params: want }];
  if (held.ip === want.ip && held.netdev === want.netdev) {
    if (held.netmask !== want.netmask) return [{ op: 'netmask', old: held.netmask, params: want }];
    return force ? [{ op: 'activate', params: want }] : [];
  }
  return [
    { op: 'deactivate', params: held },
    { op: 'activate', params: want },
  ];
}
