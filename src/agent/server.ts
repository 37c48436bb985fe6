// The agent's RPC server: a procedure table served over a root-only Unix socket (mode 0600 from
// its creation, in a 0700 directory: only root on this host, i.e. the manager, can connect — that
// is the authentication) and, for the master of a pool on another host, over TCP with mutual TLS
// (tls-listener.ts: only peers with a certificate of this host's pool get past the handshake),
// plus the push channel `events_watch` (newline-delimited JSON instance events, and a blank line
// every HEARTBEAT_MS so a watcher notices a host that vanished).
import { chmodSync, existsSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import { logger } from '../shared/log.js';
import type { TlsMaterial } from '../shared/pki/pool-pki.js';
import type { InstanceEvent } from '../shared/noded/instance.js';
import { EVENTS_WATCH, errorReply, okReply, PROCEDURE_RE, parseArgs } from '../shared/noded/protocol.js';
import { TlsListener } from './tls-listener.js';

const log = logger('agent-rpc');

export type Procedure = (...args: any[]) => unknown;
/**
 * Largest request body. Callers are the local manager (root-only socket) or the pool master
 * (mutual TLS), so this bounds mistakes, not attackers; it must hold stats_rrd_push's dump: a VM
 * RRD of 100 data sources with MIN/MAX archives is ~5 MiB of JSON text.
 */
const MAX_BODY = 64 * 1024 * 1024;

/** Interval of the blank heartbeat lines on the push channel (client.ts WATCH_IDLE_MS is 3x). */
export const HEARTBEAT_MS = 10_000;

export interface ServerOptions {
  /** Events sent to each new watcher before live ones. */
  greeting?: () => InstanceEvent[];
  /** Procedures served on the Unix socket only (never over TCP), e.g. tls_install. */
  localProcedures?: Record<string, Procedure>;
  heartbeatMs?: number;
}

export class AgentServer {
  private readonly server: http.Server;
  private readonly watchers = new Set<http.ServerResponse>();
  private readonly heartbeat: NodeJS.Timeout;
  private tcp?: TlsListener;
  private readonly local: Record<string, Procedure>;

  constructor(
    private readonly procedures: Record<string, Procedure>,
    private readonly opts: ServerOptions = {},
  ) {
    this.local = { ...opts.localProcedures };
    this.server = http.createServer(this.listener(true));
    prepare(this.server);
    this.heartbeat = setInterval(() => {
      for (const w of this.watchers) w.write('\n');
    }, opts.heartbeatMs ?? HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  /** The request handler; `local`: the Unix socket, where local-only procedures are served too. */
  listener(local: boolean): http.RequestListener {
    return (req, res) => {
      this.handle(req, res, local).catch((e) => {
        log.warn('request failed', { error: String(e) });
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
    };
  }

  /** Sends an event to every connected watcher. */
  push(e: InstanceEvent) {
    const line = `${JSON.stringify(e)}\n`;
    for (const w of this.watchers) w.write(line);
  }

  private procedure(name: string, local: boolean): Procedure | undefined {
    if (!PROCEDURE_RE.test(name)) return undefined;
    if (Object.hasOwn(this.procedures, name)) return this.procedures[name];
    if (local && Object.hasOwn(this.local, name)) return this.local[name];
    return undefined;
  }

  /** Adds procedures served on the Unix socket only. */
  addLocalProcedures(procs: Record<string, Procedure>) {
    Object.assign(this.local, procs);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse, local: boolean) {
    const name = (req.url ?? '/').slice(1).split('?')[0];
    if (req.method !== 'POST') {
      res.writeHead(400, { 'Content-Type': 'text/plain' }).end('Only the POST method is supported');
      return;
    }
    const proc = name === EVENTS_WATCH ? undefined : this.procedure(name, local);
    if (name !== EVENTS_WATCH && !proc) {
      req.resume();
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end(`unknown procedure ${name.slice(0, 64)}`);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req) {
      size += (c as Buffer).length;
      if (size > MAX_BODY) {
        res.writeHead(413).end();
        req.destroy();
        return;
      }
      chunks.push(c as Buffer);
    }
    if (name === EVENTS_WATCH) {
      res.writeHead(200, { 'Content-Type': 'application/x-ndjson' });
      for (const e of this.opts.greeting?.() ?? []) res.write(`${JSON.stringify(e)}\n`);
      res.flushHeaders();
      this.watchers.add(res);
      res.on('close', () => this.watchers.delete(res));
      return;
    }
    let body: string;
    try {
      const args = parseArgs(Buffer.concat(chunks).toString('utf8'));
      body = okReply(await proc!(...args));
    } catch (e) {
      log.debug('procedure failed', { name, error: e instanceof Error ? e.message : String(e) });
      body = errorReply(e);
    }
    if (res.destroyed) return; // the caller went away
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  }

  /** Listens on `socketPath` (0600) in a directory only root may enter (0700). */
  listen(socketPath: string): Promise<void> {
    mkdirSync(dirname(socketPath), { recursive: true, mode: 0o700 });
    chmodSync(dirname(socketPath), 0o700);
    // Replace a stale socket (previous agent), never another kind of file.
    if (existsSync(socketPath)) {
      if (!lstatSync(socketPath).isSocket()) throw new Error(`${socketPath} exists and is not a socket`);
      unlinkSync(socketPath);
    }
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      // The umask makes the socket 0600 from its creation: no window where others could connect.
      const umask = process.umask(0o177);
      this.server.listen(socketPath, () => {
        process.umask(umask);
        chmodSync(socketPath, 0o600);
        resolve();
      });
    });
  }

  /**
   * Serves the same procedures (local-only ones excepted) on `host:port` over mutual TLS; a
   * listener already open is replaced, which drops its connections (new pool, new peers).
   * Resolves with the bound address.
   */
  async listenTcp(host: string, port: number, tls: TlsMaterial): Promise<AddressInfo> {
    await this.closeTcp();
    this.tcp = new TlsListener(tls, this.listener(false));
    prepare(this.tcp.server);
    return this.tcp.listen(host, port);
  }

  /** The TCP listener's address, if one is open. */
  get tcpAddress(): AddressInfo | undefined {
    return this.tcp?.address;
  }

  async closeTcp(): Promise<void> {
    const t = this.tcp;
    this.tcp = undefined;
    await t?.close();
  }

  async close(): Promise<void> {
    clearInterval(this.heartbeat);
    for (const w of this.watchers) w.end();
    await this.closeTcp();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

function prepare(server: http.Server) {
  server.requestTimeout = 0; // events_watch stays open; procedures may run for minutes
  server.keepAliveTimeout = 60_000;
}
