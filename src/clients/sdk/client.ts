// The TypeScript SDK: a typed JSON-RPC client for any XenAPI server (Berth or xapi). Method names,
// parameters and results are typed from the generated datamodel (`Methods`).
import http from 'node:http';
import type https from 'node:https';
import { createRequire } from 'node:module';
import type { Methods } from '../../shared/datamodel/generated/api-types.js';
import { XenApiError } from '../../shared/errors.js';

export type { Methods } from '../../shared/datamodel/generated/api-types.js';
export { XenApiError } from '../../shared/errors.js';

export interface ClientOptions {
  /** e.g. `https://host/`; ignored when socketPath is set. */
  url?: string;
  /** HTTP over a Unix socket (Berth's local socket: root without password). */
  socketPath?: string;
  /** Accept self-signed certificates (a fresh host's). */
  allowUnauthorized?: boolean;
  /** CA certificates (PEM) the server's certificate must chain to, instead of the system's. */
  ca?: string | Buffer;
  timeoutMs?: number;
}

/** node:https (and TLS, crypto) loaded only for an https URL: CLI start-up is measured. */
let httpsModule: typeof https | undefined;
const httpsLazy = (): typeof https => {
  httpsModule ??= createRequire(import.meta.url)('node:https') as typeof https;
  return httpsModule;
};

type SessionMethods = { [M in keyof Methods as Methods[M]['session'] extends true ? M : never]: Methods[M] };
type Params<M extends keyof Methods> = Methods[M]['params'];
type Result<M extends keyof Methods> = Methods[M]['result'];

export class XenApiClient {
  private session?: string;
  private nextId = 1;
  private readonly agent: http.Agent;

  constructor(private readonly opts: ClientOptions) {
    const secure = !opts.socketPath && (opts.url ?? '').startsWith('https:');
    this.agent = secure
      ? new (httpsLazy().Agent)({ keepAlive: true, rejectUnauthorized: !opts.allowUnauthorized, ca: opts.ca })
      : new http.Agent({ keepAlive: true });
  }

  /** The manager's URL (undefined over a Unix socket). */
  get url(): string | undefined {
    return this.opts.socketPath ? undefined : this.opts.url;
  }

  get sessionRef(): string | undefined {
    return this.session;
  }

  /**
   * Where the client connects and its HTTP agent (with the TLS settings: CA, verification), for
   * the data-plane transfers beside the API (/export, /import…).
   */
  get endpoint(): { url?: string; socketPath?: string; agent: http.Agent } {
    return { url: this.opts.url, socketPath: this.opts.socketPath, agent: this.agent };
  }

  async login(user: string, password: string, originator = 'berth-sdk'): Promise<string> {
    this.session = (await this.raw('session.login_with_password', [
      user,
      password,
      '2.21',
      originator,
    ])) as string;
    return this.session;
  }

  /**
   * Logs in over SPNEGO: session.login_with_password with empty credentials and an
   * `Authorization: Negotiate <token>` header (a Berth manager with Kerberos external
   * authentication). `verify` receives the server's mutual-authentication token, if any, before
   * the session is kept; the session is logged out again if it throws.
   */
  async loginWithNegotiate(
    token: string,
    o: { originator?: string; verify?: (serverToken: string | undefined) => Promise<void> } = {},
  ): Promise<string> {
    const { value, headers } = await this.post(
      'session.login_with_password',
      ['', '', '2.21', o.originator ?? 'berth-sdk'],
      { Authorization: `Negotiate ${token}` },
    );
    const session = value as string;
    const offered = /^Negotiate\s+(\S+)/i.exec(String(headers['www-authenticate'] ?? ''))?.[1];
    try {
      await o.verify?.(offered);
    } catch (e) {
      await this.raw('session.logout', [session]).catch(() => {});
      throw e;
    }
    this.session = session;
    return session;
  }

  async logout(): Promise<void> {
    if (!this.session) return;
    await this.raw('session.logout', [this.session]);
    this.session = undefined;
  }

  /** Calls a session-taking message; the session is prepended. */
  call<M extends keyof SessionMethods & keyof Methods>(method: M, ...params: Params<M>): Promise<Result<M>> {
    if (!this.session) return Promise.reject(new Error('not logged in'));
    return this.raw(method, [this.session, ...params]) as Promise<Result<M>>;
  }

  /** `Async.` variant: returns the task ref. */
  callAsync<M extends keyof SessionMethods & keyof Methods>(
    method: M,
    ...params: Params<M>
  ): Promise<string> {
    if (!this.session) return Promise.reject(new Error('not logged in'));
    return this.raw(`Async.${method}`, [this.session, ...params]) as Promise<string>;
  }

  /** Any wire method with explicit params (no session added). */
  async raw(method: string, params: unknown[]): Promise<unknown> {
    return (await this.post(method, params)).value;
  }

  /** One JSON-RPC call, with extra request headers; the result and the reply's headers. */
  private post(
    method: string,
    params: unknown[],
    extraHeaders: Record<string, string> = {},
  ): Promise<{ value: unknown; headers: http.IncomingHttpHeaders }> {
    const body = JSON.stringify({ jsonrpc: '2.0', id: this.nextId++, method, params });
    const url = new URL(this.opts.url ?? 'http://localhost/');
    const path = `${url.pathname.replace(/\/$/, '')}/jsonrpc`;
    const mod = url.protocol === 'https:' && !this.opts.socketPath ? httpsLazy() : http;
    return new Promise((resolve, reject) => {
      const req = mod.request(
        {
          method: 'POST',
          path,
          host: this.opts.socketPath ? undefined : url.hostname,
          port: this.opts.socketPath ? undefined : url.port || undefined,
          socketPath: this.opts.socketPath,
          agent: this.agent,
          timeout: this.opts.timeoutMs ?? 0,
          headers: {
            'Content-Type': 'application/json',
            'Content-Length': Buffer.byteLength(body),
            ...extraHeaders,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            // A refused Negotiate login answers 401 with the XenAPI failure as its body.
            const failureBody =
              res.statusCode === 401 && /application\/json/.test(res.headers['content-type'] ?? '');
            if (res.statusCode !== 200 && !failureBody)
              return reject(new Error(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`));
            try {
              const r = JSON.parse(text);
              if (r.error) {
                const e = r.error;
                return reject(
                  Array.isArray(e)
                    ? new XenApiError(e[0], e.slice(1))
                    : new XenApiError(e.message, e.data ?? []),
                );
              }
              resolve({ value: r.result, headers: res.headers });
            } catch (e) {
              reject(e);
            }
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} timed out`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  close() {
    this.agent.destroy();
  }
}
