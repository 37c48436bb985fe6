// xe's file transfers end to end: the real xe client code (runThinClient) against a real
// manager's /cli, where test-only commands ask the client to download from / upload to
// test-only data-plane handlers (HttpGet / HttpPut of the thin CLI protocol), with the task's
// progress drawn on a "terminal" and its outcome as the command's.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import type { XeOptions } from '../../../src/clients/xe/main.js';
import { resolveUrl } from '../../../src/clients/xe/transfer.js';
import { runThinClient } from '../../../src/clients/xe/session.js';
import { getParam, requireParam } from '../../../src/manager/cli/args.js';
import { commandTable } from '../../../src/manager/cli/commands/index.js';
import type { CommandSpec } from '../../../src/manager/cli/context.js';
import { createCliHandler } from '../../../src/manager/cli/handler.js';
import { managerCliApi } from '../../../src/manager/cli/manager-api.js';
import { transferFile, transferUrl } from '../../../src/manager/cli/transfer.js';
import { startManager } from '../../helpers/manager.js';
import { generated, mountTestHandlers } from '../../manager/http/data-test-handlers.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const ROOT = join(import.meta.dirname, '../../..');

/** Test commands: the transfer helper wave 2's vm-export/vdi-import use, on the test handlers. */
function testCommands(): Map<string, CommandSpec> {
  const t = commandTable();
  const spec = (name: string, run: CommandSpec['run']): CommandSpec => ({
    name,
    reqd: ['filename'],
    optn: ['size', 'fail', 'redirect-once'],
    help: 'test only',
    flags: [],
    run,
  });
  t.set(
    'test-download',
    spec('test-download', async (ctx) => {
      const query: Record<string, string> = {
        size: requireParam(ctx.params, 'size'),
        result: 'OpaqueRef:dl',
      };
      const fail = getParam(ctx.params, 'fail');
      if (fail) query.fail = fail;
      const once = getParam(ctx.params, 'redirect-once');
      if (once) query.redirect_once = once;
      const out = await transferFile(ctx, {
        direction: 'get',
        filename: requireParam(ctx.params, 'filename'),
        path: '/test_stream',
        query,
        label: 'Test download',
      });
      ctx.io.print(`Download succeeded: ${out.result}`);
    }),
  );
  t.set(
    'test-upload',
    spec('test-upload', async (ctx) => {
      const out = await transferFile(ctx, {
        direction: 'put',
        filename: requireParam(ctx.params, 'filename'),
        path: '/test_upload',
        label: 'Test upload',
      });
      ctx.io.print(out.result);
    }),
  );
  return t;
}

async function setup(t: import('node:test').TestContext) {
  const tm = await startManager(t);
  const state = mountTestHandlers(tm.manager.frontend, tm.manager.svc);
  const cli = createCliHandler(managerCliApi(tm.manager), testCommands());
  tm.manager.frontend.mount('/cli', (req, res, conn) => cli(req, res, conn));
  const port = Number(new URL(tm.httpUrl).port);
  const xe = async (args: string[], viaSocket = false) => {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    stdout.on('data', (c) => out.push(c));
    stderr.on('data', (c) => err.push(c));
    const o: XeOptions = {
      server: '127.0.0.1',
      port: viaSocket ? undefined : port,
      username: 'root',
      password: tm.rootPassword,
      nossl: true,
      debug: false,
      socket: viaSocket ? tm.socketPath : join(tm.dataDir, 'no-such-socket'),
      args,
    };
    const code = await runThinClient(o, { stdout, stderr, stdin: new PassThrough(), progress: true });
    return { code, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString() };
  };
  return { tm, state, xe };
}

test('xe downloads a file over HttpGet: streamed, progress drawn, O_EXCL, errors', {
  timeout: 120_000,
}, async (t) => {
  const { tm, state, xe } = await setup(t);
  const size = 48 << 20;
  const file = join(tm.dataDir, 'down.bin');
  const r = await xe(['test-download', `filename=${file}`, `size=${size}`]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout.toString(), /Download succeeded: OpaqueRef:dl/);
  const got = readFileSync(file);
  assert.equal(got.length, size);
  assert.equal(sha(got), sha(generated(0, size)));
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.match(r.stderr, /\r\s+\d+% \[#*\s*\]/, 'a progress line on the terminal');
  assert.match(r.stderr, /100% \[#{40}\]/);
  // An existing file is never overwritten.
  const again = await xe(['test-download', `filename=${file}`, `size=${size}`]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /Operation failed\. Error: .*EEXIST/);
  // The handler's error is the command's.
  const bad = await xe(['test-download', `filename=${join(tm.dataDir, 'x.bin')}`, 'size=1', 'fail=api']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /VDI_IO_ERROR/);
  // Over the local socket, to stdout (filename=""), as `xe vdi-export filename=` would.
  const viaSocket = await xe(['test-download', 'filename=', `size=${1 << 20}`], true);
  assert.equal(viaSocket.code, 0, viaSocket.stderr);
  assert.equal(sha(viaSocket.stdout.subarray(0, 1 << 20)), sha(generated(0, 1 << 20)));
  // Redirected to another member (here: this one, by its address): followed, same task.
  tm.manager.db.update('host', tm.manager.svc.hostRef(), { address: '127.0.0.1' });
  const moved = join(tm.dataDir, 'moved.bin');
  const hop = await xe([
    'test-download',
    `filename=${moved}`,
    `size=${size}`,
    `redirect-once=${tm.manager.svc.hostRef()}`,
  ]);
  assert.equal(hop.code, 0, hop.stderr);
  assert.equal(sha(readFileSync(moved)), sha(generated(0, size)));
  assert.equal(state.redirects, 2, 'one 302, then served');
  // No task is left behind.
  assert.equal(
    [...tm.manager.db.all('task')].filter(([, r]) => r.status === 'pending').length,
    0,
    'no pending task left',
  );
});

test('xe uploads a file over HttpPut; files not on the command line are refused', {
  timeout: 120_000,
}, async (t) => {
  const { tm, state, xe } = await setup(t);
  const body = generated(0, 20 << 20);
  const file = join(tm.dataDir, 'up.bin');
  writeFileSync(file, body);
  const r = await xe(['test-upload', `filename=${file}`]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.toString().trim(), `OpaqueRef:${sha(body)}`);
  assert.deepEqual(state.uploads, [{ bytes: body.length, sha256: sha(body) }]);
  const missing = await xe(['test-upload', `filename=${join(tm.dataDir, 'none.bin')}`]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /Operation failed\. Error: file '.*none\.bin' does not exist/);
  assert.equal(state.uploads.length, 1);

  // The real xe binary as a user runs it.
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(ROOT, 'src/clients/xe/main.ts'),
      '-s',
      '127.0.0.1',
      '-p',
      new URL(tm.httpUrl).port,
      '--nossl',
      '-u',
      'root',
      '-pw',
      tm.rootPassword,
      'test-upload',
      `filename=${file}`,
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  assert.equal(code, 0, err);
  assert.equal(out.trim(), `OpaqueRef:${sha(body)}`);
  assert.equal(state.uploads.length, 2);
});

test('transfer URLs: relative paths stay on the server, https URLs name another member', () => {
  const target = { connect: () => undefined as never, httpsPort: 443 };
  assert.equal(resolveUrl('/export?a=b', target).path, '/export?a=b');
  assert.equal(resolveUrl('https://192.0.2.9/import_raw_vdi?x=1', target).path, '/import_raw_vdi?x=1');
  assert.equal(resolveUrl('https://[fd00::1]:8443/export', target).path, '/export');
  assert.equal(resolveUrl('http://127.0.0.1:8080/export?x', target).path, '/export?x');
  assert.equal(
    transferUrl('/export_raw_vdi', 'OpaqueRef:s', 'OpaqueRef:t', { vdi: 'OpaqueRef:v', format: 'vhd' }),
    '/export_raw_vdi?session_id=OpaqueRef%3As&task_id=OpaqueRef%3At&vdi=OpaqueRef%3Av&format=vhd',
  );
});
