// Berth's internal intra-pool endpoints (outside the public datamodel, as xapi's pool DB backup
// and its slave_login calls are): POST with a JSON body, answering {ok: value} or
// {error: [code, ...params]}. Everything but /pool/join needs the pool secret; /pool/join carries
// a session of a pool-admin who logged in to this master with a password.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { XenApiError, isXenApiError } from '../../shared/errors.js';
import { logger } from '../../shared/log.js';
import type { ConnectionInfo } from '../api/context.js';
import { readBody, type StreamRouteHandler } from '../http/server.js';
import type { JoinBundle } from './bundle.js';
import { SECRET_HEADER, SESSION_HEADER } from './peer.js';
import { EncodedReply } from './replica-sync.js';
import { secretsEqual } from './role.js';
import type { PoolService, RoleRequest } from './service.js';

const log = logger('pool-http');

/** Bodies up to this size (a join bundle or a role change's database dump). */
const MAX_BODY = 512 * 1024 * 1024;

function reply(res: ServerResponse, status: number, body: unknown) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** A 200 whose body, {ok: value}, was encoded once for several requests. */
function replyEncoded(res: ServerResponse, body: Buffer) {
  if (res.destroyed) return;
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
  res.end(body);
}

type Route = (pool: PoolService, body: Record<string, unknown>, signal: AbortSignal) => unknown;

/** Checks a request's credential before its body is read; throws the XenAPI error to answer. */
function authenticate(pool: PoolService, auth: 'secret' | 'session', req: IncomingMessage) {
  if (auth === 'session') return pool.assertJoinSession(req.headers[SESSION_HEADER]);
  const given = req.headers[SECRET_HEADER];
  if (typeof given !== 'string' || !secretsEqual(given, pool.secret))
    throw new XenApiError('SESSION_AUTHENTICATION_FAILED', ['pool', 'Pool credentials invalid']);
}

export function route(pool: PoolService, auth: 'secret' | 'session', fn: Route): StreamRouteHandler {
  return async (req: IncomingMessage, res: ServerResponse, _conn: ConnectionInfo) => {
    if (req.method !== 'POST')
      return reply(res, 405, { error: ['MESSAGE_METHOD_UNKNOWN', req.method ?? ''] });
    try {
      authenticate(pool, auth, req);
    } catch (e) {
      req.resume();
      const err = isXenApiError(e) ? e : new XenApiError('SESSION_AUTHENTICATION_FAILED', []);
      return reply(res, 403, { error: [err.code, ...err.params] });
    }
    const raw = await readBody(req, MAX_BODY);
    if (raw === 'too-large' || raw === 'aborted')
      return reply(res, 413, { error: ['INVALID_VALUE', 'body', raw] });
    const ctl = new AbortController();
    res.on('close', () => ctl.abort());
    try {
      const body = JSON.parse(raw.toString('utf8') || '{}') as Record<string, unknown>;
      const value = await fn(pool, body, ctl.signal);
      if (value instanceof EncodedReply) replyEncoded(res, value.body);
      else reply(res, 200, { ok: value ?? null });
    } catch (e) {
      const err = isXenApiError(e) ? e : new XenApiError('INTERNAL_ERROR', [String(e)]);
      if (!isXenApiError(e)) log.error('internal pool endpoint failed', { path: req.url, error: String(e) });
      reply(res, 200, { error: [err.code, ...err.params] });
    }
  };
}

/** The routes, by path, for HttpFrontend.mount. */
export function poolRoutes(pool: PoolService): Record<string, StreamRouteHandler> {
  return {
    '/pool/join': route(pool, 'session', (p, b) => p.acceptJoin(b.bundle as JoinBundle)),
    '/pool/join-undo': route(pool, 'secret', (p, b) => p.undoJoin(String(b.host))),
    '/pool/db': route(pool, 'secret', (p, b, signal) =>
      p.dump(
        Number(b.since ?? -1),
        b.master as string | undefined,
        Math.min(Number(b.waitMs ?? 0), 60_000),
        signal,
      ),
    ),
    '/pool/role': route(pool, 'secret', (p, b) => p.handleRoleRequest(b as unknown as RoleRequest)),
  };
}
