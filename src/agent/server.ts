// The agent's RPC server: a procedure table served over a root-only Unix socket (mode 0600 from
// its creation, in a 0700 directory, 0710 for the QEMU group under -runas: only root on this
// host, i.e. the manager, can connect — that is the authentication; multi-host pools will add
// TLS with client certificates on the same protocol), plus the push channel `events_watch`
// (newline-delimited JSON instance events).
import { chmodSync, existsSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import http from 'node:http';
import { dirname } from 'node:path';
import { logger } from '../shared/log.js';
import type { InstanceEvent } from '../shared/noded/instance.js';
import { EVENTS_WATCH, errorReply, okReply, PROCEDURE_RE, parseArgs } from '../shared/noded/protocol.js';

const log = logger('agent-rpc');

export type Procedure = (...args: any[]) => unknown;
const MAX_BODY = 4 * 1024 * 1024;

export interface ServerOptions {
  /** Events sent to each new watcher before live ones. */
  greeting?: () => InstanceEvent[];
}

export class AgentServer {
  private readonly server: http.Server;
  private readonly watchers = new Set<http.ServerResponse>();

  constructor(
    private readonly procedures: Record<string, Procedure>,
    private readonly opts: ServerOptions = {},
  ) {
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((e) => {
        log.warn('request failed', { error: String(e) });
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
    });
    this.server.requestTimeout = 0; // events_watch stays open; procedures may run for minutes
    this.server.keepAliveTimeout = 60_000;
  }

  /** Sends an event to every connected watcher. */
  push(e: InstanceEvent) {
    const line = `${JSON.stringify(e)}\n`;
    for (const w of this.watchers) w.write(line);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse) {
    const name = (req.url ?? '/').slice(1).split('?')[0];
    if (req.method !== 'POST') {
      res.writeHead(400, { 'Content-Type': 'text/plain' }).end('Only the POST method is supported');
      return;
    }
    const known = name === EVENTS_WATCH || (PROCEDURE_RE.test(name) && Object.hasOwn(this.procedures, name));
    if (!known) {
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
      body = okReply(await this.procedures[name](...args));
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

  close(): Promise<void> {
    for (const w of this.watchers) w.end();
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
