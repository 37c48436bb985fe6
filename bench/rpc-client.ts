// Minimal keep-alive XenAPI client for the benchmarks (JSON-RPC and XML-RPC over loopback HTTP).
import http from 'node:http';

export interface Reply {
  body: Buffer;
  /** process.hrtime.bigint() (CLOCK_MONOTONIC, comparable across processes) when the last byte arrived. */
  endedAt: bigint;
}

export function makeAgent(maxSockets = 256): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets });
}

export function post(
  agent: http.Agent,
  port: number,
  path: string,
  body: string,
  type: string,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        port,
        host: '127.0.0.1',
        path,
        method: 'POST',
        agent,
        headers: { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ body: Buffer.concat(chunks), endedAt: process.hrtime.bigint() }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

export const jsonBody = (method: string, params: unknown[]) =>
  JSON.stringify({ jsonrpc: '2.0', id: 0, method, params });

export const xmlBody = (method: string, strings: string[]) =>
  `<?xml version="1.0"?><methodCall><methodName>${method}</methodName><params>${strings
    .map((s) => `<param><value>${s}</value></param>`)
    .join('')}</params></methodCall>`;

export async function jcall(
  agent: http.Agent,
  port: number,
  method: string,
  params: unknown[],
): Promise<any> {
  const r = JSON.parse(
    (await post(agent, port, '/jsonrpc', jsonBody(method, params), 'application/json')).body.toString('utf8'),
  );
  if (r.error) throw new Error(`${method}: ${JSON.stringify(r.error)}`);
  return r.result;
}

/** Milliseconds between two hrtime.bigint() readings. */
export const msBetween = (from: bigint, to: bigint) => Number(to - from) / 1e6;
