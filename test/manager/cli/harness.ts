// Test harness: a real manager with the CLI handler mounted on POST /cli (as the lead's server
// will mount it), and a way to run the thin client against it capturing its output.
import { PassThrough } from 'node:stream';
import type { TestContext } from 'node:test';
import type { XeOptions } from '../../../src/clients/xe/main.js';
import { runThinClient } from '../../../src/clients/xe/session.js';
import { createCliHandler } from '../../../src/manager/cli/handler.js';
import type { CliApi } from '../../../src/manager/cli/types.js';
import type { Manager } from '../../../src/manager/manager.js';
import { startManager, type TestManager } from '../../helpers/manager.js';

/** CliApi over the manager's in-process dispatcher. */
export function managerCliApi(m: Manager): CliApi {
  const { sessions } = m.svc;
  return {
    loginWithPassword: (u, p) => sessions.loginWithPassword(u, p, 'cli'),
    localLogin: async () => sessions.localLogin('cli'),
    logout: async (s) => sessions.logout(s),
    call: (s, method, args) => m.dispatcher.callInternal(sessions.validate(s), method, args),
  };
}

export async function startCliManager(t: TestContext, opts: Parameters<typeof startManager>[1] = {}) {
  const tm = await startManager(t, opts);
  const handler = createCliHandler(managerCliApi(tm.manager));
  tm.manager.frontend.mount('/cli', (req, res, conn) => handler(req, res, conn));
  return tm;
}

export interface XeResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs xe with `args`; `via` picks the local socket (no password) or TCP with root's password. */
export async function xe(
  tm: TestManager,
  args: string[],
  opts: { via?: 'socket' | 'tcp'; stdin?: string; password?: string } = {},
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
  const code = await runThinClient(o, { stdout: out, stderr: err, stdin: inp, progress: false });
  return { code, stdout, stderr };
}
