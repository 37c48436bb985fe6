// Opening and closing the connection a `berth` command works through: the SDK client (URL or
// the local socket, TLS verified against the system's CAs, a CA file, or not at all with
// --insecure), a password or Kerberos login, and always a logout and close afterwards.
import { readFileSync } from 'node:fs';
import { XenApiClient } from '../sdk/client.js';
import { Api } from './api.js';
import type { Settings } from './config.js';
import { CliError, EXIT_FAILED, usageError } from './errors.js';

const ORIGINATOR = 'berth';

/** Where the command connects, as messages name it. */
export function describeTarget(s: Settings): string {
  return s.url ?? `the local socket ${s.socketPath}`;
}

const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ENOENT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'ECONNRESET',
  'EAI_AGAIN',
  'ENOTFOUND',
  'EACCES',
]);

/** A clear message for a failure to reach or trust the manager; undefined for other errors. */
export function connectionFailure(e: unknown, s: Settings): CliError | undefined {
  const err = e as NodeJS.ErrnoException & { code?: string };
  const code = typeof err?.code === 'string' ? err.code : undefined;
  if (code && UNREACHABLE.has(code))
    return new CliError(`cannot reach the Berth manager at ${describeTarget(s)} (${code})`, EXIT_FAILED);
  if (code && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(code))
    return new CliError(
      `TLS verification of ${describeTarget(s)} failed (${code}): give its CA with --ca-file, or --insecure`,
      EXIT_FAILED,
    );
  if (err instanceof Error && /timed out/.test(err.message))
    return new CliError(`the Berth manager at ${describeTarget(s)} does not answer`, EXIT_FAILED);
  return undefined;
}

/** `[api] debug`: every call on stderr, prefixed per `[logging] filters` category; secrets masked. */
function traceCalls(client: XenApiClient, s: Settings, write: (line: string) => void): void {
  const raw = client.raw.bind(client);
  const text = s.logFilters.includes('text');
  const data = s.logFilters.includes('data');
  client.raw = async (method: string, params: unknown[]) => {
    const shown = method.startsWith('session.login')
      ? params.map((p, i) => (i === 1 ? '******' : p))
      : params;
    if (text) write(`    ${method}`);
    if (data) write(`>> ${JSON.stringify(shown)}`);
    const result = await raw(method, params);
    if (data) write(`<< ${JSON.stringify(result)?.slice(0, 2000)}`);
    return result;
  };
}

/** A logged-in Api. The caller closes it with `closeApi` (in a finally). */
export async function openApi(s: Settings, debugWrite: (line: string) => void = () => {}): Promise<Api> {
  let ca: Buffer | undefined;
  if (s.caFile) {
    try {
      ca = readFileSync(s.caFile);
    } catch (e) {
      throw usageError(`cannot read CA file ${s.caFile}: ${(e as NodeJS.ErrnoException).code ?? e}`);
    }
  }
  const client = new XenApiClient({
    url: s.socketPath ? 'http://localhost/' : s.url,
    socketPath: s.socketPath,
    allowUnauthorized: s.insecure,
    ca,
  });
  if (s.debug) traceCalls(client, s, debugWrite);
  try {
    if (s.kerberos) {
      // Loaded only when asked for: most commands log in with a password.
      const { kerberosLogin } = await import('./kerberos.js');
      await kerberosLogin(client, { keytab: s.keytab, ccache: s.ccache, principal: s.principal });
    } else {
      await client.login(s.username ?? 'root', s.password ?? '', ORIGINATOR);
    }
  } catch (e) {
    client.close();
    throw loginFailure(e, s);
  }
  return new Api(client);
}

function loginFailure(e: unknown, s: Settings): unknown {
  const c = connectionFailure(e, s);
  if (c) return c;
  const { code, params } = e as { code?: string; params?: unknown[] };
  if (code === 'SESSION_AUTHENTICATION_FAILED' && s.kerberos) {
    // The manager names the principal it authenticated (xapi's first parameter), else its reason.
    const principal = String(params?.[0] ?? '') || s.principal;
    return new CliError(
      principal
        ? `authentication failed for kerberos principal ${principal} at ${describeTarget(s)}`
        : `kerberos authentication failed at ${describeTarget(s)}: ${String(params?.[1] ?? code)}`,
      EXIT_FAILED,
    );
  }
  if (code === 'SESSION_AUTHENTICATION_FAILED')
    return new CliError(
      `authentication failed for user ${s.username ?? 'root'} at ${describeTarget(s)}`,
      EXIT_FAILED,
    );
  return e;
}

/** Logs out (errors ignored: the session may have expired) and closes the connection. */
export async function closeApi(api: Api): Promise<void> {
  try {
    await api.client.logout();
  } catch {
    // An expired or already-closed session: nothing left to release.
  } finally {
    api.client.close();
  }
}
