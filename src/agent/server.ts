// The agent's RPC server: a procedure table served over a root-only Unix socket (mode 0600 in a
// 0700 directory: only root on this host, i.e. the manager, can connect — that is the
// authentication; multi-host pools will add TLS with client certificates on the same protocol),
// plus the push channel `events_watch` (newline-delimited JSON instance events).
import { chmodSync, existsSync, mkdirSync, unlinkSync } from 'node:fs';
import http from 'node:http';
import { dirname } from 'node:path';
import { logger } from '../shared/log.js';
import type { InstanceEvent } from '../shared/noded/instance.js';
import { errorReply, okReply, PROCEDURE_RE, parseArgs } from '../shared/noded/protocol.js';

const log = logger('agent-rpc');

export type Procedure = (...args: any[]) => unknown;
const MAX_BODY = 4 * 1024 * 1024;

export class AgentServer {
  private readonly server: http.Server;
  private readonly watchers = new Set<http.ServerResponse>();

  constructor(private readonly procedures: Record<string, Procedure>) {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    this.server.requestTimeout = 0;
    this.server.keepAliveTimeout = 60_000;
  }

  /** Sends an event to every connected manager. */
  push(e: InstanceEvent) {
    const line = `${JSON.stringify(e)}\n`;
    for (const w of this.watchers) w.write(line);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse) {
    const name = (req.url ?? '/').slice(1).split('?')[0];
    if (req.method !== 'POST' || !PROCEDURE_RE.test(name)) {
      res.writeHead(404).end();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req) {
      size += (c as Buffer).length;
      if (size > MAX_BODY) {
        res.writeHead(413).end();
        return;
      }
      chunks.push(c as Buffer);
    }
    if (name === 'events_watch') {
      res.writeHead(200, { 'Content-Type': 'application/x-ndjson' });
      res.flushHeaders();
      this.watchers.add(res);
      res.on('close', () => this.watchers.delete(res));
      return;
    }
    const proc = Object.hasOwn(this.procedures, name) ? this.procedures[name] : undefined;
    let body: string;
    if (!proc) body = errorReply(new Error(`unknown procedure ${name}`));
    else {
      try {
        const args = parseArgs(Buffer.concat(chunks).toString('utf8'));
        body = okReply(await proc(...args));
      } catch (e) {
        log.debug('procedure failed', { name, error: e instanceof Error ? e.message : String(e) });
        body = errorReply(e);
      }
    }
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  }

  listen(socketPath: string): Promise<void> {
    mkdirSync(dirname(socketPath), { recursive: true, mode: 0o700 });
    chmodSync(dirname(socketPath), 0o700);
    if (existsSync(socketPath)) unlinkSync(socketPath);
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(socketPath, () => {
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
