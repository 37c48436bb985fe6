// Which host's agent does an SR's storage work, and its storage procedures (the host contract's
// storage part, src/shared/host/storage.ts). All storage calls go through svc.hosts to that host.
import type { DriverInfo, StorageProcedures } from '../../shared/host/storage.js';
import type { Services } from '../api/context.js';

/**
 * The host that does an SR's volume work (pure), xapi's "SR master": of the hosts with the SR
 * plugged, the pool master when its agent is connected, else the first other host whose agent
 * is connected, else the first of them (whose calls then fail HOST_OFFLINE). One host per SR at
 * a time, so that two hosts never create, clone or collect garbage in one shared SR at once.
 * With none plugged: `fallback` (this manager's host; the calls then fail SR_NOT_ATTACHED).
 */
export function chooseSrHost(
  plugged: readonly string[],
  master: string,
  live: (host: string) => boolean,
  fallback: string,
): string {
  if (!plugged.length) return fallback;
  if (plugged.includes(master) && live(master)) return master;
  return plugged.find(live) ?? plugged[0];
}

/** Hosts with a plugged PBD of `sr`, in PBD order. */
function pluggedHosts(svc: Services, sr: string): string[] {
  const row = svc.db.get('SR', sr);
  return ((row?.PBDs as string[] | undefined) ?? [])
    .map((p) => svc.db.get('PBD', p))
    .filter((p) => p?.currently_attached)
    .map((p) => String(p!.host));
}

/** The host an SR's work runs on (chooseSrHost over the database and the agents' connections). */
export function hostForSr(svc: Services, sr: string): string {
  const master = String(svc.db.get('pool', svc.poolRef())?.master ?? svc.hostRef());
  return chooseSrHost(pluggedHosts(svc, sr), master, (h) => svc.hosts.live(h), svc.hostRef());
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
