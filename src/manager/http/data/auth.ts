// Who is asking, as xapi's assert_credentials_ok / with_context decide it, in this order: the
// local Unix socket (root; a valid session_id given there is used as it is), `session_id`
// (cookie, else query), `pool_secret` (intra-pool), `Authorization: Basic` (a session logged in
// for the request and logged out after it). Nothing usable: Unauthorised (401).
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isXenApiError } from '../../../shared/errors.js';
import type { ConnectionInfo, Services } from '../../api/context.js';
import type { SessionInfo } from '../../auth/sessions.js';
import { Unauthorised } from './errors.js';
import type { DataQuery } from './query.js';

export interface Caller {
  session: SessionInfo;
  /** Made for this request: log it out when the request ends. */
  temporary: boolean;
  how: 'local' | 'session' | 'pool_secret' | 'basic';
}

/** `Basic <base64 user:password>`; undefined for any other header. */
export function parseBasic(header: string | undefined): { user: string; password: string } | undefined {
  const m = /^\s*basic\s+([A-Za-z0-9+/=]*)\s*$/i.exec(header ?? '');
  if (!m) return undefined;
  const text = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon < 0) return undefined;
  return { user: text.slice(0, colon), password: text.slice(colon + 1) };
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export async function authenticate(
  svc: Services,
  req: IncomingMessage,
  conn: ConnectionInfo,
  q: DataQuery,
): Promise<Caller> {
  const sessionRef = q.credential('session_id');
  const given = () => {
    try {
      return svc.sessions.validate(sessionRef);
    } catch (e) {
      if (isXenApiError(e)) throw new Unauthorised(e.message);
      throw e;
    }
  };
  if (conn.local) {
    if (sessionRef !== undefined && svc.sessions.get(sessionRef))
      return { session: given(), temporary: false, how: 'local' };
    return {
      session: svc.sessions.validate(svc.sessions.localLogin('http local socket')),
      temporary: true,
      how: 'local',
    };
  }
  if (sessionRef !== undefined) return { session: given(), temporary: false, how: 'session' };
  const secret = q.credential('pool_secret');
  if (secret !== undefined) {
    if (!svc.pool || !sameSecret(secret, svc.pool.secret)) throw new Unauthorised('bad pool secret');
    return {
      session: svc.sessions.validate(svc.sessions.localLogin('http pool secret')),
      temporary: true,
      how: 'pool_secret',
    };
  }
  const auth = req.headers.authorization;
  if (auth !== undefined) {
    const basic = parseBasic(auth);
    if (!basic) throw new Error(`Unknown authorization header: ${auth.split(/\s/)[0]}`);
    const where = conn.remoteAddress ?? 'unknown';
    let ref: string;
    try {
      ref = await svc.sessions.loginWithPassword(
        basic.user,
        basic.password,
        `${where} using Basic auth`,
        conn.remoteAddress,
      );
    } catch (e) {
      if (isXenApiError(e)) throw new Unauthorised(e.message);
      throw e;
    }
    return { session: svc.sessions.validate(ref), temporary: true, how: 'basic' };
  }
  throw new Unauthorised('no credentials');
}
