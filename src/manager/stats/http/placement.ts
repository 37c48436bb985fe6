// Where a full dump is served, as xapi's rrdd_proxy.ml decides it for /vm_rrd (pure over the
// database and the pool role): the host whose agent holds the RRD answers; a VM running on
// another member → 302 there; a halted VM → the pool master's archive (a slave sends the client
// to the master with `rrd_unarchive` added, so the master reads its archive without asking again).
import type { Services } from '../../api/context.js';
import { redirectLocation } from '../../http/data/placement.js';
import { hostForSr } from '../../storage/sr-host.js';
import { isNull } from '../../storage/records.js';

/** What to do when the local agent holds no RRD for the object. */
export type DumpPlace =
  | { kind: 'archive' }
  | { kind: 'redirect'; location: string }
  | { kind: 'unknown-vm' }
  | { kind: 'none' };

/** The flag a redirect to the master carries (xapi's Constants.rrd_unarchive). */
export const UNARCHIVE_KEY = 'rrd_unarchive';

function endpoint(svc: Services) {
  return svc.pool?.endpoint ?? { scheme: 'https' as const, port: 443 };
}

/** Location of the same path and query on the member `host` (its address from the database). */
function onHost(svc: Services, host: string, pathAndQuery: string): string | undefined {
  const address = String(svc.db.get('host', host)?.address ?? '');
  return address ? redirectLocation(address, endpoint(svc), pathAndQuery) : undefined;
}

/** `url` (path?query as the client sent it) with `rrd_unarchive=` first in its query, as xapi adds it. */
export function withUnarchive(url: string): string {
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const rest = q < 0 ? '' : url.slice(q + 1);
  return `${path}?${UNARCHIVE_KEY}=${rest ? `&${rest}` : ''}`;
}

/** The archive is here (master) or at the master (slave: 302 with rrd_unarchive first in the query). */
function archivePlace(svc: Services, url: string): DumpPlace {
  const role = svc.pool?.role;
  if (role?.kind !== 'slave') return { kind: 'archive' };
  return { kind: 'redirect', location: redirectLocation(role.master, endpoint(svc), withUnarchive(url)) };
}

/** /vm_rrd when this host's agent holds nothing for `uuid`. */
export function vmDumpPlace(svc: Services, uuid: string, url: string, query: URLSearchParams): DumpPlace {
  if (query.has(UNARCHIVE_KEY)) return { kind: 'archive' };
  const vm = svc.db.refByUuid('VM', uuid);
  if (!vm) return { kind: 'unknown-vm' };
  const resident = svc.db.get('VM', vm)?.resident_on;
  if (!isNull(resident) && resident !== svc.hostRef() && svc.db.has('host', String(resident))) {
    const location = onHost(svc, String(resident), url);
    if (location) return { kind: 'redirect', location };
  }
  return archivePlace(svc, url);
}

/** /sr_rrd when this host's agent holds nothing for `uuid`: the host serving the SR, else the archive. */
export function srDumpPlace(svc: Services, uuid: string, url: string, query: URLSearchParams): DumpPlace {
  if (query.has(UNARCHIVE_KEY)) return { kind: 'archive' };
  const sr = svc.db.refByUuid('SR', uuid);
  if (!sr) return { kind: 'none' };
  const host = hostForSr(svc, sr);
  if (host !== svc.hostRef()) {
    const location = onHost(svc, host, url);
    if (location) return { kind: 'redirect', location };
  }
  return archivePlace(svc, url);
}
