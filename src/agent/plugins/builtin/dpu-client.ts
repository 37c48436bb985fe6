// JSON-RPC 2.0 over HTTP to the Kalray DPU's management server (SPDK-style methods), with HTTP
// Basic authentication and a hard time limit. The password goes only into the Authorization
// header: never into messages or logs.
import { request } from 'node:http';
import { PluginFailure } from '../failure.js';

export interface DpuTarget {
  server: string;
  port: number;
  username: string;
  password: string;
  timeoutMs: number;
}

const MAX_REPLY = 64 * 1024 * 1024;
let nextId = 1;

/** A JSON-RPC reply body -> its result, or the failure its `error` member describes (pure). */
export function replyResult(body: string, id: number): unknown {
  let msg: { id?: unknown; result?: unknown; error?: { code?: unknown; message?: unknown } };
  try {
    msg = JSON.parse(body);
  } catch {
    throw new PluginFailure('-1', 'The DPU sent a reply that is not JSON', body.slice(0, 200));
  }
  if (!msg || typeof msg !== 'object')
    throw new PluginFailure('-1', 'The DPU sent an invalid JSON-RPC reply');
  if (msg.error) {
    const message = typeof msg.error.message === 'string' ? msg.error.message : JSON.stringify(msg.error);
    throw new PluginFailure('-1', message, `JSON-RPC error ${String(msg.error.code ?? '')}`.trim());
  }
  if (msg.id !== id || !('result' in msg))
    throw new PluginFailure('-1', 'The DPU sent an invalid JSON-RPC reply');
  return msg.result;
}

export function callDpu(
  target: DpuTarget,
  method: string,
  params: Record<string, unknown>,
): Promise<unknown> {
  const id = nextId++;
  const body = JSON.stringify({ jsonrpc: '2.0', method, params, id });
  const where = `${target.server}:${target.port}`;
  return new Promise((resolve, reject) => {
    let done = false;
    const fail = (e: unknown) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.destroy();
      reject(e);
    };
    const req = request(
      {
        host: target.server,
        port: target.port,
        path: '/',
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          authorization: `Basic ${Buffer.from(`${target.username}:${target.password}`).toString('base64')}`,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (b: Buffer) => {
          size += b.length;
          if (size > MAX_REPLY) fail(new PluginFailure('-1', `The DPU at ${where} sent an oversized reply`));
          else chunks.push(b);
        });
        res.on('error', fail);
        res.on('end', () => {
          if (done) return;
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode === 401 || res.statusCode === 403) {
            return fail(
              new PluginFailure('-1', `The DPU at ${where} refused the credentials of '${target.username}'`),
            );
          }
          if (res.statusCode !== 200) {
            return fail(
              new PluginFailure(
                '-1',
                `The DPU at ${where} answered HTTP ${res.statusCode}`,
                text.slice(0, 200),
              ),
            );
          }
          try {
            const result = replyResult(text, id);
            done = true;
            clearTimeout(timer);
            resolve(result);
          } catch (e) {
            fail(e);
          }
        });
      },
    );
    const timer = setTimeout(
      () =>
        fail(
          new PluginFailure(
            '-1',
            `Timeout: the DPU at ${where} did not answer ${method} within ${target.timeoutMs / 1000} s`,
          ),
        ),
      target.timeoutMs,
    );
    req.on('error', (e: NodeJS.ErrnoException) =>
      fail(new PluginFailure('-1', `Error while connecting to ${where}: ${e.code ?? e.message}`)),
    );
    req.end(body);
  });
}
