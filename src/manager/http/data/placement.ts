// Which pool member serves a data-plane request, and the 302 Location that sends a client there.
// Disk bytes move through the agent of the host serving the SR (sr-host.ts), read or written by
// that host's manager over a local NBD socket, so a request is served where its SR is served.
import type { Services } from '../../api/context.js';
import { hostForSr } from '../../storage/sr-host.js';
import { isNull } from '../../storage/records.js';

/** The host serving `sr`'s data (the SR master, sr-host.ts). */
export function hostForSrData(svc: Services, sr: string): string {
  return hostForSr(svc, sr);
}

/** The SRs holding a VM's disks (VBDs of type Disk with a VDI), in VBD order, without repeats. */
export function srsOfVm(svc: Services, vm: string): string[] {
  const out: string[] = [];
  for (const vbd of (svc.db.get('VM', vm)?.VBDs as string[] | undefined) ?? []) {
    const row = svc.db.get('VBD', vbd);
    if (!row || row.type === 'CD' || isNull(row.VDI)) continue;
    const sr = svc.db.get('VDI', String(row.VDI))?.SR;
    if (sr && !isNull(sr) && !out.includes(String(sr))) out.push(String(sr));
  }
  return out;
}

/**
 * The host that can serve a VM's disks: this host if it serves all of them (or the VM has
 * none), else the host serving the first disk's SR that this host does not serve (xapi:
 * find_host_for_VM, a host that sees all the VM's SRs).
 */
export function hostForVmData(svc: Services, vm: string): string {
  const here = svc.hostRef();
  const hosts = srsOfVm(svc, vm).map((sr) => hostForSr(svc, sr));
  return hosts.find((h) => h !== here) ?? here;
}

/**
 * `Location` for the same path and query on another member: `<scheme>://<address>[:port]`, the
 * scheme and port every member's API listens on (xapi: https on 443).
 */
export function redirectLocation(
  address: string,
  endpoint: { scheme: 'http' | 'https'; port: number },
  pathAndQuery: string,
): string {
  const host = address.includes(':') && !address.startsWith('[') ? `[${address}]` : address;
  const dflt = endpoint.scheme === 'https' ? 443 : 80;
  const port = endpoint.port === dflt ? '' : `:${endpoint.port}`;
  return `${endpoint.scheme}://${host}${port}${pathAndQuery.startsWith('/') ? '' : '/'}${pathAndQuery}`;
}
