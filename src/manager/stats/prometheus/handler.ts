// GET /metrics: every pool host's latest statistics in Prometheus' text format. Callers
// authenticate as at the other HTTP handlers (local socket, session_id, pool_secret, Basic auth:
// data/auth.ts) or with the read-only scrape token (token.ts); any role may read. A slave sends
// the client to its master (302), which alone asks every host. No task is made per scrape (xapi's
// rrd handlers run under a dummy task too): a scrape every few seconds must not churn the task table.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { logger } from '../../../shared/log.js';
import type { ConnectionInfo, Services } from '../../api/context.js';
import type { MetricsSnapshot } from '../../storage-resources/metric-queries.js';
import { checkPermission } from '../../auth/rbac.js';
import { authenticate, type Caller } from '../../http/data/auth.js';
import { Unauthorised } from '../../http/data/errors.js';
import { redirectLocation } from '../../http/data/placement.js';
import { DataQuery } from '../../http/data/query.js';
import {
  sendForbidden,
  sendInternalError,
  sendNotFound,
  sendRedirect,
  sendUnauthorised,
} from '../../http/data/responses.js';
import type { HttpFrontend, StreamRouteHandler } from '../../http/server.js';
import { dbNames, HOST_TIMEOUT_MS, scrapeHosts } from './collect.js';
import { EXPOSITION_CONTENT_TYPE, renderExposition } from './exposition.js';
import { type Describe, metricFamilies } from './families.js';
import { METRICS_PERMISSION } from './permission.js';
import { storageResourceFamilies } from './storage-families.js';
import { bearerToken, configuredToken, tokenMatches } from './token.js';

const log = logger('metrics');

export const METRICS_PATH = '/metrics';

export interface MetricsOptions {
  /** File holding the read-only scrape token (--metrics-token-file); null: bearer tokens refused. */
  tokenFile: string | null;
  /** Description and units of a data source (the shared catalog). */
  describe: Describe;
  /** How long to wait for each host's agent (default HOST_TIMEOUT_MS). */
  hostTimeoutMs?: number;
  /**
   * The storage-resource store's state now, when this manager runs one (a master whose runtime
   * started); undefined: no storage families in the scrape.
   */
  storageResources?: () => MetricsSnapshot | undefined;
}

type Access = { ok: true; caller?: Caller } | { ok: false; status: 401 | 403 | 500; why: string };

async function access(
  svc: Services,
  req: IncomingMessage,
  conn: ConnectionInfo,
  opts: MetricsOptions,
): Promise<Access> {
  const bearer = bearerToken(req.headers.authorization);
  if (bearer !== undefined) {
    const token = await configuredToken(opts.tokenFile);
    return token !== undefined && tokenMatches(bearer, token)
      ? { ok: true }
      : { ok: false, status: 401, why: 'bad scrape token' };
  }
  let caller: Caller;
  try {
    caller = await authenticate(svc, req, conn, new DataQuery(req.url, req.headers.cookie));
  } catch (e) {
    if (e instanceof Unauthorised) return { ok: false, status: 401, why: e.message };
    return { ok: false, status: 500, why: e instanceof Error ? e.message : String(e) };
  }
  try {
    checkPermission(caller.session, { name: METRICS_PERMISSION.name, roles: METRICS_PERMISSION.roles });
  } catch {
    if (caller.temporary) svc.sessions.logout(caller.session.ref);
    return { ok: false, status: 403, why: 'permission denied' };
  }
  return { ok: true, caller };
}

function refuse(res: ServerResponse, a: Exclude<Access, { ok: true }>) {
  if (a.status === 401) return sendUnauthorised(res, METRICS_PERMISSION.name.slice('http/'.length));
  if (a.status === 403) return sendForbidden(res);
  return sendInternalError(res, a.why);
}

/** The exposition text of the whole pool now. */
export async function scrapeText(svc: Services, opts: MetricsOptions): Promise<string> {
  const hosts = await scrapeHosts(svc, opts.hostTimeoutMs ?? HOST_TIMEOUT_MS);
  const families = metricFamilies(hosts, dbNames(svc), opts.describe);
  const storage = storageSnapshot(opts);
  if (storage) families.push(...storageResourceFamilies(storage));
  return renderExposition(families);
}

/** The store's snapshot; a failing read leaves the storage families out, never the whole scrape. */
function storageSnapshot(opts: MetricsOptions): MetricsSnapshot | undefined {
  try {
    return opts.storageResources?.();
  } catch (e) {
    log.warn('storage resources left out of the scrape', {
      error: e instanceof Error ? e.message : String(e),
    });
    return undefined;
  }
}

export function metricsRoute(svc: Services, opts: MetricsOptions): StreamRouteHandler {
  return async (req, res, conn) => {
    req.resume();
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendNotFound(res);
    const role = svc.pool?.role;
    if (role?.kind === 'slave') {
      const endpoint = svc.pool?.endpoint ?? { scheme: 'https' as const, port: 443 };
      return sendRedirect(res, redirectLocation(role.master, endpoint, req.url ?? METRICS_PATH));
    }
    const a = await access(svc, req, conn, opts);
    if (!a.ok) {
      log.debug('scrape refused', { status: a.status, why: a.why, from: conn.remoteAddress });
      return refuse(res, a);
    }
    try {
      const body = Buffer.from(await scrapeText(svc, opts), 'utf8');
      res.writeHead(200, {
        'Content-Type': EXPOSITION_CONTENT_TYPE,
        'Content-Length': body.length,
        'Cache-Control': 'no-cache, no-store',
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    } finally {
      if (a.caller?.temporary) svc.sessions.logout(a.caller.session.ref);
    }
  };
}

export function mountMetrics(frontend: HttpFrontend, svc: Services, opts: MetricsOptions): void {
  frontend.mount(METRICS_PATH, metricsRoute(svc, opts));
}
