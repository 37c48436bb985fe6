// session.login_with_password over SPNEGO (RFC 4559) when Kerberos external authentication is
// on: a POST carrying `Authorization: Negotiate <token>` logs its Kerberos principal in (the
// name and password parameters are ignored); an empty user name without the header is answered
// with the challenge (401, `WWW-Authenticate: Negotiate`) so HTTP clients such as
// `curl --negotiate -u :` start the exchange. Everything else is a password login as before.
import { XenApiError } from '../../shared/errors.js';
import { logger } from '../../shared/log.js';
import type { SessionlessContext } from '../api/context.js';
import {
  acceptNegotiate,
  KERBEROS_AUTH_TYPE,
  NegotiateRejected,
  negotiateToken,
  storedConfig,
  subjectIdentifierOf,
} from './kerberos.js';

const log = logger('kerberos');

/** The Kerberos configuration of this host, when Kerberos external authentication is on. */
function enabledConfig(ctx: SessionlessContext) {
  const host = ctx.svc.db.get('host', ctx.svc.hostRef());
  if (host?.external_auth_type !== KERBEROS_AUTH_TYPE) return undefined;
  return storedConfig(host.external_auth_configuration as Record<string, string> | undefined);
}

function challenge(ctx: SessionlessContext, token = '') {
  if (!ctx.conn.reply) return;
  ctx.conn.reply.status = 401;
  ctx.conn.reply.headers['WWW-Authenticate'] = token ? `Negotiate ${token}` : 'Negotiate';
}

/**
 * A session ref when this login is a Kerberos one; undefined when it is a password login.
 * Throws SESSION_AUTHENTICATION_FAILED (with SPNEGO's 401) for a refused token or principal.
 */
export async function negotiateLogin(
  ctx: SessionlessContext,
  uname: string,
  originator: string,
): Promise<string | undefined> {
  const token = negotiateToken(ctx.conn.headers?.authorization);
  const config = enabledConfig(ctx);
  if (token === undefined) {
    if (!config || uname !== '') return undefined;
    challenge(ctx);
    throw new XenApiError('SESSION_AUTHENTICATION_FAILED', ['', 'Negotiate authentication required']);
  }
  if (!config)
    throw new XenApiError('SESSION_AUTHENTICATION_FAILED', [uname, 'Kerberos authentication is not enabled']);
  let accepted: Awaited<ReturnType<typeof acceptNegotiate>>;
  try {
    accepted = await acceptNegotiate(config, token);
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    const principal = e instanceof NegotiateRejected ? e.principal : '';
    log.warn('Kerberos login refused', { principal, address: ctx.conn.remoteAddress, reason });
    await new Promise((r) => setTimeout(r, ctx.svc.sessions.limits.authFailureDelayMs));
    challenge(ctx);
    throw new XenApiError('SESSION_AUTHENTICATION_FAILED', [principal, 'Kerberos authentication failed']);
  }
  try {
    const ref = await ctx.svc.sessions.loginExternal(
      subjectIdentifierOf(accepted.principal),
      accepted.principal,
      originator,
    );
    log.info('Kerberos login', { principal: accepted.principal, address: ctx.conn.remoteAddress });
    if (accepted.reply && ctx.conn.reply)
      ctx.conn.reply.headers['WWW-Authenticate'] = `Negotiate ${accepted.reply}`;
    return ref;
  } catch (e) {
    if (e instanceof XenApiError && e.code === 'SESSION_AUTHENTICATION_FAILED') challenge(ctx);
    throw e;
  }
}
