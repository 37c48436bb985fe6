// Which host's agent does an SR's storage work, and its storage procedures (the host contract's
// storage part, src/shared/host/storage.ts). All storage calls go through svc.hosts to that host.
import type { DriverInfo, StorageProcedures } from '../../shared/host/storage.js';
import type { Services } from '../api/context.js';

/**
 * The host an SR's work runs on: the host of its plugged PBD. With several plugged (shared SRs) or
 * none, this manager's own host (pools pick a member later).
 */
export function hostForSr(svc: Services, sr: string): string {
  const local = svc.hostRef();
  const row = svc.db.get('SR', sr);
  const hosts = ((row?.PBDs as string[] | undefined) ?? [])
    .map((p) => svc.db.get('PBD', p))
    .filter((p) => p?.currently_attached)
    .map((p) => String(p!.host));
  return hosts.length === 1 ? hosts[0] : local;
}

/** The storage procedures of a host's agent (CANNOT_CONTACT_HOST / HOST_OFFLINE when it is not connected). */
export function hostStorage(svc: Services, host: string): StorageProcedures {
  return svc.hosts.get(host);
}

/** The storage procedures of the host that serves `sr`. */
export function storageOf(svc: Services, sr: string): StorageProcedures {
  return hostStorage(svc, hostForSr(svc, sr));
}

/** The SR drivers of this pool's hosts, as the local agent reported them at storage start. */
export function knownDrivers(svc: Services): DriverInfo[] {
  if (!svc.storageDrivers) svc.hosts.local(); // not started: the agent is not reachable
  return svc.storageDrivers ?? [];
}
