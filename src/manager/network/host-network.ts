// How the manager reaches a host's networking: the networking procedures of that host's agent (the
// contract in src/shared/host/network.ts), through the client svc.hosts holds for the host. A
// PIF's work goes to its host, a VIF's to its VM's resident host, a network's bridge to every host
// that needs it.
import { XenApiError } from '../../shared/errors.js';
import type { NetworkProcedures } from '../../shared/host/network.js';
import type { Services } from '../api/context.js';
import type { NicSpec } from './vm-nics.js';

export type { IpConfig, IpResult, NicInfo, PifMetrics, SettingsReport } from '../../shared/host/network.js';

/**
 * The networking of `host`'s agent; undefined when this manager runs without host networking
 * (tests). An unreachable agent is CANNOT_CONTACT_HOST (this host) or HOST_OFFLINE (another).
 */
export function hostNetwork(svc: Services, host: string): NetworkProcedures | undefined {
  return svc.networking ? svc.hosts.get(host).network : undefined;
}

/** hostNetwork for operations that mean nothing without it. */
export function needHostNetwork(svc: Services, host: string): NetworkProcedures {
  const n = hostNetwork(svc, host);
  if (!n) throw new XenApiError('OPERATION_NOT_ALLOWED', ['host networking is not attached to this manager']);
  return n;
}

/**
 * The hosts a network's bridge is made on at once: this manager's host and every other host whose
 * agent is connected. A host that is not gets the bridge when a VIF or PIF needs it there
 * (ensureBridge) and the default one when its agent connects (setup.ts).
 */
export function bridgeHosts(svc: Services): string[] {
  const local = svc.hostRef();
  return [local, ...svc.hosts.refs().filter((h) => h !== local && svc.hosts.live(h))];
}

/** Hot-plug of NICs into running VMs, offered by the host agent's QEMU driver. */
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
