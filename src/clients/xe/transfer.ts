// xe's file transfers (thin CLI protocol HttpGet / HttpPut): the server names a URL on itself (a
// path, or https://<member>/… after a redirect) and a local file; the client streams between
// them without holding the file in memory, as xapi's xe does: GET writes a new file (O_EXCL,
// mode 0600; "" is stdout), PUT sends a regular file with its Content-Length once the server's
// status line has come back; 302 is followed. Returns whether the transfer completed.
import { createReadStream, createWriteStream, statSync } from 'node:fs';
import http, { type ClientRequest, type IncomingMessage } from 'node:http';
import net from 'node:net';
import type { Duplex, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tls from 'node:tls';

export interface TransferTarget {
  /** A connection to the server the command went to (socket, TCP or TLS). */
  connect(): Duplex;
  /** The port to use for an https:// URL naming another host without a port. */
  httpsPort: number;
}

/**
 * Where a URL sends the request: the original server for a path, else that host (https, as xe
 * parses; http too, for members listening without TLS). A host without a port gets
 * `target.httpsPort` (xe's configured port) for https, 80 for http.
 */
export function resolveUrl(url: string, target: TransferTarget): { path: string; connect: () => Duplex } {
  const m = /^(https?):\/\/(\[[^\]]+\]|[^/:?]+)(?::(\d+))?(\/[^#]*)?$/.exec(url);
  if (!m) return { path: url.startsWith('/') ? url : `/${url}`, connect: () => target.connect() };
  const host = m[2].replace(/^\[(.*)\]$/, '$1');
  const secure = m[1] === 'https';
  const port = m[3] ? Number(m[3]) : secure ? target.httpsPort : 80;
  return {
    path: m[4] ?? '/',
    connect: secure
      ? () =>
          tls.connect({
            host,
            port,
            rejectUnauthorized: false,
            servername: net.isIP(host) ? undefined : host,
          })
      : () => net.connect(port, host),
  };
}

export class ClientSideError extends Error {}

function send(
  method: 'GET' | 'PUT',
  url: string,
  target: TransferTarget,
  headers: Record<string, string | number>,
): { req: ClientRequest; response: Promise<IncomingMessage> } {
  const { path, connect } = resolveUrl(url, target);
  const req = http.request({
    method,
    path,
    headers,
    // No agent: the connection is ours (local socket, TCP or TLS, as the command's).
    createConnection: () => connect() as net.Socket,
  });
  const response = new Promise<IncomingMessage>((resolve, reject) => {
    req.once('response', resolve);
    req.once('error', reject);
  });
  return { req, response };
}

const MAX_REDIRECTS = 5;

/** HttpGet: the body into a new file (or `stdout` when filename is ""). */
export async function httpGet(
  filename: string,
  url: string,
  target: TransferTarget,
  stdout: Writable,
): Promise<void> {
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const { req, response } = send('GET', url, target, {});
    req.end();
    const res = await response;
    if (res.statusCode === 302 && res.headers.location) {
      res.destroy();
      url = res.headers.location;
      continue;
    }
    if (res.statusCode !== 200) {
      res.destroy();
      throw new Error(`Server replied with HTTP ${res.statusCode}`);
    }
    let out: Writable = stdout;
    if (filename !== '') {
      // O_EXCL: never overwrite a file (xe refuses to).
      const file = createWriteStream(filename, { flags: 'wx', mode: 0o600 });
      await new Promise<void>((resolve, reject) => {
        file.once('open', () => resolve());
        file.once('error', (e) => {
          res.destroy();
          reject(new ClientSideError(e.message));
        });
      });
      out = file;
    }
    await pipeline(res, out, { end: filename !== '' });
    return;
  }
  throw new Error('too many redirects');
}

/** HttpPut: a local file as the body, sent once the server answered 200. */
export async function httpPut(filename: string, url: string, target: TransferTarget): Promise<void> {
  let size: number | undefined;
  try {
    const st = statSync(filename);
    if (st.isFile()) size = st.size;
  } catch {
    throw new ClientSideError(`file '${filename}' does not exist`);
  }
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    // A pipe has no length: sent chunked (a Berth server reads it; xapi's refuses chunked imports).
    const headers: Record<string, string | number> =
      size === undefined ? { 'Transfer-Encoding': 'chunked' } : { 'Content-Length': size };
    const { req, response } = send('PUT', url, target, headers);
    req.flushHeaders();
    const res = await response;
    if (res.statusCode === 302 && res.headers.location) {
      res.destroy();
      req.destroy();
      url = res.headers.location;
      continue;
    }
    if (res.statusCode !== 200) {
      res.destroy();
      req.destroy();
      throw new Error(`Server replied with HTTP ${res.statusCode}`);
    }
    res.resume();
    const ended = new Promise<void>((resolve) => {
      res.once('close', () => resolve());
      res.once('end', () => resolve());
    });
    await pipeline(createReadStream(filename), req);
    await ended;
    return;
  }
  throw new Error('too many redirects');
}
