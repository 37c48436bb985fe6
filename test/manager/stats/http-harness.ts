// Shared by the statistics endpoint tests: raw HTTP exchanges (the status line and header
// order as sent on the wire) and a stand-in for an agent's statistics procedures.
import net from 'node:net';
import { XenApiError } from '../../../src/shared/errors.js';
import type { RrdOwner, RrdUpdatesQuery, StatsProcedures } from '../../../src/shared/host/stats.js';
import type { RrdArchive } from '../../../src/manager/api/context.js';
import { noStats } from '../../helpers/test-agent.js';

export interface RawReply {
  /** Status line and headers exactly as received, CRLF-separated, without the blank line. */
  head: string;
  status: number;
  headers: Map<string, string>;
  body: string;
  /** The server closed the connection after the reply. */
  closed: boolean;
}

/**
 * Sends `GET path` over a fresh connection (TCP port or Unix socket) and reads the reply: up to
 * Content-Length when given (the connection may stay open), else to the end of the connection.
 */
export function rawGet(
  to: { port: number } | { path: string },
  path: string,
  headers: Record<string, string> = {},
): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', ...to } as net.NetConnectOpts);
    const lines = [
      `GET ${path} HTTP/1.1`,
      'Host: 127.0.0.1',
      ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    ];
    socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    let data = Buffer.alloc(0);
    let done = false;
    const finish = (closed: boolean) => {
      const text = data.toString('utf8');
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) {
        if (closed && !done) reject(new Error(`no HTTP head in ${JSON.stringify(text)}`));
        return false;
      }
      const head = text.slice(0, end);
      const map = new Map<string, string>();
      for (const line of head.split('\r\n').slice(1)) {
        const i = line.indexOf(':');
        map.set(line.slice(0, i).toLowerCase(), line.slice(i + 1).trim());
      }
      const body = data.subarray(Buffer.byteLength(text.slice(0, end + 4))).toString('utf8');
      const length = map.get('content-length');
      const waitClose = length === undefined || map.get('connection')?.toLowerCase() === 'close';
      if (!closed && (waitClose || Buffer.byteLength(body) < Number(length))) return false;
      done = true;
      resolve({ head, status: Number(head.split(' ')[1]), headers: map, body, closed });
      return true;
    };
    socket.on('data', (c) => {
      data = Buffer.concat([data, c]);
      if (!done && finish(false)) setTimeout(() => socket.destroy(), 100).unref();
    });
    socket.on('close', () => {
      if (!done) finish(true);
    });
    socket.on('error', reject);
  });
}

/** Replaces the parts of a head that change from run to run (for golden files). */
export function normaliseHead(head: string): string {
  return head.replace(/^Location: .*$/m, 'Location: <location>');
}

export interface FakeStats {
  stats: StatsProcedures;
  /** The /rrd_updates queries received. */
  queries: RrdUpdatesQuery[];
  /** Dumps held, by `owner:uuid` ('host:' for the host). */
  held: Map<string, string>;
  /** Makes stats_rrd_updates fail as the engine does with nothing to export. */
  failUpdates?: XenApiError;
}

/** A stand-in agent's statistics: fixed bodies, the queries it was asked recorded. */
export function fakeStats(): FakeStats {
  const f: FakeStats = { stats: noStats(), queries: [], held: new Map() };
  f.stats.stats_rrd_updates = async (q) => {
    f.queries.push(q);
    if (f.failUpdates) throw f.failUpdates;
    return q.json
      ? `{"meta":{"rows":"0","legend":["AVERAGE:host:${q.hostUuid}:cpu0"]},"data":[]}`
      : `<xport>${q.hostUuid}</xport>`;
  };
  f.stats.stats_rrd_dump = async (owner: RrdOwner, uuid: string, json: boolean) => {
    const d = f.held.get(`${owner}:${owner === 'host' ? '' : uuid}`);
    return d === undefined ? null : json ? JSON.stringify({ dump: d }) : d;
  };
  return f;
}

/** The pool master's archive, in memory (slice manager-api writes the real one). */
export function memoryArchive(): RrdArchive & { files: Map<string, string> } {
  const files = new Map<string, string>();
  return {
    files,
    read: async (owner, uuid) => files.get(`${owner}/${uuid}`) ?? null,
    write: async (owner, uuid, dump) => void files.set(`${owner}/${uuid}`, dump),
    remove: async (owner, uuid) => void files.delete(`${owner}/${uuid}`),
  };
}

export { XenApiError };
