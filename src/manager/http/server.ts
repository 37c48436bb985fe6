// The manager's HTTP front door, shared by the HTTP, HTTPS and local-socket listeners, as
// xapi routes it: POST /jsonrpc → JSON-RPC; any other POST → XML-RPC; OPTIONS → CORS
// preflight; other handlers (the xe CLI, consoles, later the data plane) mount by path.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { logger } from '../../shared/log.js';
import type { ConnectionInfo } from '../api/context.js';

const log = logger('http');

export type RouteHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  conn: ConnectionInfo,
  body: Buffer,
) => Promise<void>;
export type StreamRouteHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  conn: ConnectionInfo,
) => Promise<void>;
export type ConnectHandler = (
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  conn: ConnectionInfo,
) => Promise<void>;
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => Promise<void>;

export interface RpcEndpoints {
  xmlrpc: RouteHandler;
  jsonrpc: RouteHandler;
}

export class HttpFrontend {
  /** Handlers that read their own request body (e.g. POST /cli, PUT /import). */
  private readonly streamRoutes = new Map<string, StreamRouteHandler>();
  private readonly connectRoutes = new Map<string, ConnectHandler>();
  private readonly upgradeRoutes = new Map<string, UpgradeHandler>();

  constructor(
    private readonly rpc: RpcEndpoints,
    private readonly maxBodyBytes: number,
  ) {}

  mount(path: string, handler: StreamRouteHandler) {
    this.streamRoutes.set(path, handler);
  }

  mountConnect(path: string, handler: ConnectHandler) {
    this.connectRoutes.set(path, handler);
  }

  mountUpgrade(path: string, handler: UpgradeHandler) {
    this.upgradeRoutes.set(path, handler);
  }

  /** The `upgrade` listener (WebSocket). */
  upgradeListener() {
    return (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      socket.on('error', () => socket.destroy());
      const h = this.upgradeRoutes.get(pathOf(req.url));
      if (!h) {
        socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      h(req, socket, head).catch(() => socket.destroy());
    };
  }

  /** The `request` listener for an http/https server; `local` marks the Unix-socket listener. */
  listener(local: boolean) {
    return (req: IncomingMessage, res: ServerResponse) => {
      const conn: ConnectionInfo = { local, remoteAddress: req.socket.remoteAddress, headers: req.headers };
      this.handle(req, res, conn).catch((e) => {
        log.error('request failed', { url: req.url, error: e instanceof Error ? e.message : String(e) });
        if (!res.headersSent) sendHttpError(res, 500, 'internal error');
        else res.destroy();
      });
    };
  }

  /** The `connect` listener (HTTP CONNECT, used by consoles). */
  connectListener(local: boolean) {
    return (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      socket.on('error', () => socket.destroy());
      const path = pathOf(req.url);
      const h = this.connectRoutes.get(path);
      const conn: ConnectionInfo = { local, remoteAddress: req.socket.remoteAddress, headers: req.headers };
      if (!h) {
        socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      h(req, socket, head, conn).catch(() => socket.destroy());
    };
  }

  private async handle(req: IncomingMessage, res: ServerResponse, conn: ConnectionInfo) {
    const path = pathOf(req.url);
    const stream = this.streamRoutes.get(path);
    if (stream) return stream(req, res, conn);
    if (req.method === 'OPTIONS') {
      res.writeHead(200, {
        'Access-Control-Allow-Origin': '*',
        'Access-Control-Allow-Headers': [req.headers['access-control-request-headers'], 'X-Requested-With']
          .filter(Boolean)
          .join(', '),
        'Access-Control-Allow-Methods': 'PUT',
        'Content-Length': '0',
      });
      res.end();
      return;
    }
    if (req.method !== 'POST') return sendHttpError(res, 403, 'Forbidden');
    const body = await readBody(req, this.maxBodyBytes);
    if (body === 'too-large') return sendHttpError(res, 413, 'Request body too large', true);
    if (body === 'aborted') return;
    if (path === '/jsonrpc') return this.rpc.jsonrpc(req, res, conn, body);
    return this.rpc.xmlrpc(req, res, conn, body);
  }
}

export function pathOf(url: string | undefined): string {
  const u = url ?? '/';
  const q = u.indexOf('?');
  return q >= 0 ? u.slice(0, q) : u;
}

/** Reads a request body up to `max` bytes; larger bodies are refused without buffering them. */
export function readBody(req: IncomingMessage, max: number): Promise<Buffer | 'too-large' | 'aborted'> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > max) {
    req.resume();
    return Promise.resolve('too-large');
  }
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (c: Buffer) => {
      if (done) return;
      size += c.length;
      if (size > max) {
        done = true;
        resolve('too-large');
        req.resume();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!done) {
        done = true;
        resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
      }
    });
    req.on('error', () => {
      if (!done) {
        done = true;
        resolve('aborted');
      }
    });
    req.on('aborted', () => {
      if (!done) {
        done = true;
        resolve('aborted');
      }
    });
  });
}

export function sendHttpError(res: ServerResponse, status: number, text: string, close = false) {
  const body = `<html><body><h1>HTTP ${status} ${text}</h1></body></html>`;
  res.writeHead(status, {
    'Content-Type': 'text/html',
    'Content-Length': Buffer.byteLength(body),
    ...(close ? { Connection: 'close' } : {}),
  });
  res.end(body);
}
