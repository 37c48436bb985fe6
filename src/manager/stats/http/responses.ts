// The responses of xapi's RRD handlers (rrdd_http_handler.ml, rrdd_proxy.ml), header for header:
//   /rrd_updates  HTTP/1.1 200 OK, keep-alive, Content-Length, content-type, CORS headers
//   dumps         HTTP/1.0 200 OK, Connection: close, content-type, Access-Control-Allow-Origin,
//                 no Content-Length: the body ends when the connection closes
//   302/400/404/503 headers only (Http.http_400_badrequest … as fail_req_with sends them)
import type { ServerResponse } from 'node:http';
import { rrdContentType } from './accept.js';

const NO_CACHE = 'no-cache, no-store';

/** The 200 of `/rrd_updates`: the connection stays open for the next request (if the client wants). */
export function sendUpdates(res: ServerResponse, json: boolean, body: string) {
  res.sendDate = false;
  // xapi always says keep-alive; a client that asked to close (HTTP/1.0, Connection: close) is
  // told the truth instead, and the connection closes after the body.
  res.writeHead(200, 'OK', {
    Connection: res.shouldKeepAlive ? 'keep-alive' : 'close',
    'Cache-Control': NO_CACHE,
    'Content-Length': Buffer.byteLength(body),
    'content-type': rrdContentType(json),
    'Access-Control-Allow-Origin': '*',
    'Access-Control-Allow-Headers': 'X-Requested-With',
  });
  res.end(body);
}

/** The head of a full dump, as xapi writes it (Node's ServerResponse can only say HTTP/1.1). */
export function dumpHead(json: boolean): string {
  return [
    'HTTP/1.0 200 OK',
    'Connection: close',
    `Cache-Control: ${NO_CACHE}`,
    `content-type: ${rrdContentType(json)}`,
    'Access-Control-Allow-Origin: *',
    '',
    '',
  ].join('\r\n');
}

/** How long a dump's connection may take to be read and closed by the client before it is cut. */
export const DUMP_SOCKET_TIMEOUT_MS = 30_000;

/**
 * A full dump: an HTTP/1.0 head written on the connection itself, then the body, then our side of
 * the connection closed (the client reads to the end). Resolves once the body is flushed, not at
 * the close: a client that never closes its side must not hold the handler (its temporary
 * session, its named task). A connection still open after `timeoutMs` (a client that does not
 * read, or keeps its half open) is destroyed.
 */
export function sendDump(
  res: ServerResponse,
  json: boolean,
  body: string,
  timeoutMs = DUMP_SOCKET_TIMEOUT_MS,
): Promise<void> {
  const socket = res.socket;
  if (!socket || socket.destroyed) return Promise.resolve();
  res.shouldKeepAlive = false;
  return new Promise((resolve) => {
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    timer.unref();
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.write(dumpHead(json));
    socket.end(body, () => resolve());
  });
}

const REASONS: Record<number, string> = {
  302: 'Found',
  400: 'Bad Request',
  404: 'Not Found',
  503: 'Service Unavailable',
};

/** A status with headers only and the connection closed (xapi's Http.http_<code>_… lists). */
export function sendBareStatus(
  res: ServerResponse,
  status: 302 | 400 | 404 | 503,
  extra: Record<string, string> = {},
) {
  if (res.headersSent) return void res.destroy();
  res.sendDate = false;
  res.shouldKeepAlive = false;
  res.writeHead(status, REASONS[status], {
    Connection: 'close',
    'Cache-Control': NO_CACHE,
    'Content-Length': 0,
    ...extra,
  });
  res.end();
}
