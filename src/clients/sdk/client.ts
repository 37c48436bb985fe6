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

  get sessionRef(): string | undefined {
    return this.session;
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
  raw(method: string, params: unknown[]): Promise<unknown> {
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
          headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            if (res.statusCode !== 200)
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
              resolve(r.result);
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
