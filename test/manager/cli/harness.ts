// Test harness: a real manager (which mounts the CLI handler on POST /cli), and a way to run the thin client against it capturing its output.
import { PassThrough } from 'node:stream';
import type { TestContext } from 'node:test';
import type { XeOptions } from '../../../src/clients/xe/main.js';
import { runThinClient } from '../../../src/clients/xe/session.js';
import { startManager, type TestManager } from '../../helpers/manager.js';

export async function startCliManager(t: TestContext, opts: Parameters<typeof startManager>[1] = {}) {
  const tm = await startManager(t, opts);
  return tm;
}

export interface XeResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs xe with `args`; `via` picks the local socket (no password) or TCP with root's password;
 * `progress` lets xe draw its transfer progress bar on stderr, as on a terminal.
 */
export async function xe(
  tm: TestManager,
  args: string[],
  opts: { via?: 'socket' | 'tcp'; stdin?: string; password?: string; progress?: boolean } = {},
): Promise<XeResult> {
  const port = Number(new URL(tm.httpUrl).port);
  const o: XeOptions = {
    server: '127.0.0.1',
    port: opts.via === 'tcp' ? port : undefined,
    username: 'root',
    password: opts.via === 'tcp' ? (opts.password ?? tm.rootPassword) : 'null',
    nossl: true,
    debug: false,
    socket: tm.socketPath,
    args,
  };
  const out = new PassThrough();
  const err = new PassThrough();
  const inp = new PassThrough();
  let stdout = '';
  let stderr = '';
  out.on('data', (c) => (stdout += c));
  err.on('data', (c) => (stderr += c));
  if (opts.stdin !== undefined) inp.end(opts.stdin);
  const code = await runThinClient(o, {
    stdout: out,
    stderr: err,
    stdin: inp,
    progress: opts.progress ?? false,
  });
  return { code, stdout, stderr };
}
