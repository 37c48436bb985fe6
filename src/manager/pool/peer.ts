// Calls from one pool member's manager to another's: the XenAPI (JSON-RPC, through the SDK
// client) and Berth's internal /pool/* endpoints, which carry the pool secret in a header as
// xapi's intra-pool calls carry it in session.slave_login. Every member's manager listens on the
// same port with the same scheme (as xapi's do on 443), so an address is enough to reach one.
import http from 'node:http';
import https from 'node:https';
import { XenApiClient } from '../../clients/sdk/client.js';
import { XenApiError } from '../../shared/errors.js';

export const SECRET_HEADER = 'x-berth-pool-secret';
/** /pool/join's credential: the joining host's session on the master. */
export const SESSION_HEADER = 'x-berth-session';

export interface PeerEndpoint {
  scheme: 'http' | 'https';
  port: number;
}

export function peerUrl(ep: PeerEndpoint, address: string): string {
  const host = address.includes(':') && !address.startsWith('[') ? `[${address}]` : address;
  return `${ep.scheme}://${host}:${ep.port}/`;
}

/** A XenAPI client of another member (self-signed certificates accepted, as xapi's first join phase). */
export function peerApi(ep: PeerEndpoint, address: string, timeoutMs = 30_000): XenApiClient {
  return new XenApiClient({ url: peerUrl(ep, address), allowUnauthorized: true, timeoutMs });
}

export class PeerHttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * POSTs JSON to an internal endpoint and returns the parsed reply. A XenAPI error the peer
 * answered ({error: [code, ...params]}) is rethrown as such; a peer that cannot be reached is
 * a plain Error with the socket's code.
 */
export function postInternal<T>(
  ep: PeerEndpoint,
  address: string,
  path: string,
  body: unknown,
  headers: Record<string, string>,
  timeoutMs = 30_000,
  signal?: AbortSignal,
): Promise<T> {
  const url = new URL(path, peerUrl(ep, address));
  const data = Buffer.from(JSON.stringify(body));
  const mod = ep.scheme === 'https' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(
      url,
      {
        method: 'POST',
        rejectUnauthorized: false,
        signal,
        headers: { 'content-type': 'application/json', 'content-length': data.length, ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          clearTimeout(timer);
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: { ok?: T; error?: string[] } | undefined;
          try {
            parsed = JSON.parse(text);
          } catch {
            parsed = undefined;
          }
          if (parsed?.error) reject(new XenApiError(parsed.error[0], parsed.error.slice(1)));
          else if (res.statusCode !== 200 || !parsed)
            reject(new PeerHttpError(res.statusCode ?? 0, text.slice(0, 200)));
          else resolve(parsed.ok as T);
        });
      },
    );
    const timer = setTimeout(() => req.destroy(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    req.end(data);
  });
}
