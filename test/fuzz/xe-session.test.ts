// The xe client's side of the thin CLI protocol (runThinClient), fed mutated server streams
// captured from the manager (test/fuzz/corpus/cli-protocol/server-*): whatever arrives, xe ends
// with an exit code, or a ProtocolError its main() reports in one line, within the time limit.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Duplex, PassThrough } from 'node:stream';
import { test } from 'node:test';
import type { XeOptions } from '../../src/clients/xe/main.js';
import { runThinClient } from '../../src/clients/xe/session.js';
import { encodeCommand, ProtocolError } from '../../src/shared/cli-protocol.js';
import { mutateBytes, prng, showInput } from './engine.js';
import { cliUnits } from './targets.js';

const dir = join(import.meta.dirname, 'corpus/cli-protocol');
const streams = readdirSync(dir)
  .filter((f) => f.startsWith('server-'))
  .sort()
  .map((f) => readFileSync(join(dir, f)));

// Whole commands as tokens: the ones that make xe act (prompt, file load, console, transfers).
const DICT = [
  encodeCommand({ kind: 'prompt' }),
  encodeCommand({ kind: 'load', filename: '/etc/hostname' }),
  encodeCommand({ kind: 'httpConnect', url: '/console?ref=OpaqueRef:x' }),
  encodeCommand({ kind: 'httpGet', filename: 'x', url: '/export' }),
  encodeCommand({ kind: 'debug', text: 'task-progress OpaqueRef:x 0.5' }),
  encodeCommand({ kind: 'exit', code: 3 }),
].map((b) => b.toString('latin1'));

const OPTS: XeOptions = {
  server: 'fuzz',
  username: 'root',
  password: 'x',
  nossl: true,
  debug: true,
  socket: '/nonexistent',
  args: ['vm-list'],
};

/** A socket whose peer sends `bytes` and closes; what xe writes is discarded. */
function fakeSocket(bytes: Buffer): Duplex {
  const d = new Duplex({
    read() {},
    write(_c, _e, cb) {
      cb();
    },
  });
  setImmediate(() => {
    d.emit('connect');
    d.push(bytes);
    d.push(null);
  });
  return d;
}

const sink = () => new PassThrough().resume();

async function oneCase(server: Buffer, limitMs: number): Promise<string | undefined> {
  const stdin = new PassThrough();
  stdin.end(); // xe run with stdin at EOF (as under cron or with </dev/null)
  const io = { stdout: sink(), stderr: sink(), stdin, progress: true };
  // The console's CONNECT gets a refusal (its own connection).
  let first = true;
  const target = {
    connect: () => {
      const s = fakeSocket(first ? server : Buffer.from('HTTP/1.0 404 Not Found\r\n\r\n'));
      first = false;
      return s;
    },
  };
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((r) => {
    timer = setTimeout(() => r(`hang: no exit within ${limitMs} ms`), limitMs);
  });
  const outcome = runThinClient(OPTS, io, target).then(
    (code) => (Number.isInteger(code) ? undefined : `exit code ${code}`),
    (e) => (e instanceof ProtocolError ? undefined : `${(e as Error).name}: ${(e as Error).message}`),
  );
  const r = await Promise.race([outcome, timeout]);
  clearTimeout(timer);
  return r;
}

test('xe ends every mutated server conversation with an exit code or a ProtocolError, without hanging', async () => {
  const cases = Number(process.env.FUZZ_SUITE_CASES ?? 1500) / 5;
  const failures: string[] = [];
  for (let i = 0; i < cases && failures.length < 3; i++) {
    const rnd = prng((20261205 ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0);
    const base = streams[i % streams.length];
    const input =
      i < streams.length
        ? base
        : mutateBytes(base, rnd, { dictionary: DICT, corpus: streams, binary: true, units: cliUnits });
    const f = await oneCase(input, 3000);
    if (f) failures.push(`case ${i}: ${f}\n  input: ${showInput(input)}`);
  }
  assert.deepEqual(failures, []);
});

test('a second prompt after stdin reached EOF does not hang xe', async () => {
  const hs = streams[0].subarray(0, 35); // the server's handshake
  const prompt = encodeCommand({ kind: 'prompt' });
  const server = Buffer.concat([hs, prompt, prompt, encodeCommand({ kind: 'exit', code: 0 })]);
  assert.equal(await oneCase(server, 3000), undefined);
});

test('answers to consecutive prompts come from consecutive stdin lines, even in one chunk', async () => {
  const hs = streams[0].subarray(0, 35);
  const prompt = encodeCommand({ kind: 'prompt' });
  const server = Buffer.concat([hs, prompt, prompt, encodeCommand({ kind: 'exit', code: 0 })]);
  const written: Buffer[] = [];
  const sock = new Duplex({
    read() {},
    write(c, _e, cb) {
      written.push(c);
      cb();
    },
  });
  setImmediate(() => {
    sock.emit('connect');
    sock.push(server);
    sock.push(null);
  });
  const stdin = new PassThrough();
  stdin.end('yes\nno\n');
  const code = await runThinClient(
    OPTS,
    { stdout: sink(), stderr: sink(), stdin, progress: false },
    { connect: () => sock },
  );
  assert.equal(code, 0);
  const sent = Buffer.concat(written).toString('latin1');
  assert.ok(
    sent.includes('yes') && sent.indexOf('no', sent.indexOf('yes')) > 0,
    JSON.stringify(sent.slice(-80)),
  );
});
