// The NBD server of a pool member that is not the master. Sessions live on the master (they are
// not replicated) and only the master reaches the members' agents, so a slave's server asks the
// master, over the internal /pool/nbd-* endpoints (pool secret, as every intra-pool call), to
// check the export name (authorizeExport: session, RBAC, VDI) and to open/close the export on
// the slave's own agent; the slave then relays from that agent's local Unix socket as a master
// does. The master learns a member's certificate (for VDI.get_nbd_info) from the member itself
// (/pool/nbd-cert), when a get_nbd_info first needs it.
import { XenApiError } from '../../shared/errors.js';
import type { NbdExport } from '../../shared/host/data-plane.js';
import { logger } from '../../shared/log.js';
import type { Services } from '../api/context.js';
import type { StreamRouteHandler } from '../http/server.js';
import { route } from '../pool/endpoints.js';
import { postInternal, SECRET_HEADER } from '../pool/peer.js';
import type { Backend } from './backend.js';
import { authorizeExport } from './exports.js';
import { type AuthorizedExport, ExportRefused } from './server.js';
import { backendOf, openVdiExport } from './vdi-backend.js';

const log = logger('nbd');

/** How long a member's certificate request may take before get_nbd_info leaves that host out. */
const CERT_TIMEOUT_MS = 5000;

type Authorized = AuthorizedExport | { refused: [number, string] };

/** The master's side: /pool/nbd-authorize, /pool/nbd-open, /pool/nbd-close; /pool/nbd-cert on every host. */
export function nbdPoolRoutes(svc: Services): Record<string, StreamRouteHandler> {
  const pool = svc.pool;
  if (!pool) return {};
  return {
    '/pool/nbd-authorize': route(pool, 'secret', (p, b): Authorized => {
      p.assertMaster();
      try {
        return authorizeExport(svc, String(b.name));
      } catch (e) {
        if (e instanceof ExportRefused) return { refused: [e.reply, e.message] };
        throw e;
      }
    }),
    '/pool/nbd-open': route(pool, 'secret', async (p, b) => {
      p.assertMaster();
      try {
        return { export: await openVdiExport(svc, String(b.vdi), String(b.host)) };
      } catch (e) {
        if (e instanceof ExportRefused) return { refused: [e.reply, e.message] };
        throw e;
      }
    }),
    '/pool/nbd-close': route(pool, 'secret', async (p, b) => {
      p.assertMaster();
      await svc.hosts.get(String(b.host)).blockdev_nbd_close(String(b.id));
    }),
    '/pool/nbd-cert': route(pool, 'secret', () => svc.nbd?.certificateOf(svc.hostRef()) ?? null),
  };
}

/** Whether this host is a slave now (its role can change while it runs). */
export function isSlave(svc: Services): boolean {
  return svc.pool !== undefined && !svc.pool.isMaster();
}

function toMaster<T>(svc: Services, path: string, body: unknown): Promise<T> {
  const pool = svc.pool!;
  const role = pool.role;
  if (role.kind !== 'slave') throw new XenApiError('INTERNAL_ERROR', ['not a slave']);
  return postInternal<T>(pool.endpoint, role.master, path, body, { [SECRET_HEADER]: pool.secret });
}

/** A slave's authorize: the master checks the export name. */
export async function authorizeOnMaster(svc: Services, name: string): Promise<AuthorizedExport> {
  const r = await toMaster<Authorized>(svc, '/pool/nbd-authorize', { name });
  if ('refused' in r) throw new ExportRefused(r.refused[0], r.refused[1]);
  return r;
}

/** A slave's backend: opened by the master on this host's agent, read here from its local socket. */
export async function openBackendThroughMaster(svc: Services, vdi: string): Promise<Backend> {
  const host = svc.hostRef();
  const r = await toMaster<{ export: NbdExport } | { refused: [number, string] }>(svc, '/pool/nbd-open', {
    vdi,
    host,
  });
  if ('refused' in r) throw new ExportRefused(r.refused[0], r.refused[1]);
  const x = r.export;
  return backendOf(x, () => toMaster(svc, '/pool/nbd-close', { host, id: x.id }));
}

/** Members' NBD certificates the master has fetched, by host ref. */
const memberCertificates = new WeakMap<Services, Map<string, string>>();

/** A member's certificate as the master knows it (undefined until fetched). */
export function knownMemberCertificate(svc: Services, host: string): string | undefined {
  return memberCertificates.get(svc)?.get(host);
}

/** Fetches the certificates of `hosts` (other members) the master does not know yet; failures are logged. */
export async function fetchMemberCertificates(svc: Services, hosts: string[]): Promise<void> {
  const pool = svc.pool;
  if (!pool?.isMaster()) return;
  let known = memberCertificates.get(svc);
  if (!known) memberCertificates.set(svc, (known = new Map()));
  const missing = hosts.filter((h) => h !== svc.hostRef() && !known.has(h));
  await Promise.all(
    missing.map(async (h) => {
      const address = String(svc.db.get('host', h)?.address ?? '');
      if (!address) return;
      try {
        const cert = await postInternal<string | null>(
          pool.endpoint,
          address,
          '/pool/nbd-cert',
          {},
          { [SECRET_HEADER]: pool.secret },
          CERT_TIMEOUT_MS,
        );
        if (cert) known.set(h, cert);
      } catch (e) {
        log.info('no NBD certificate from a member', { host: h, error: String(e) });
      }
    }),
  );
}
