// The agent's one program runner over real processes: the time limit kills the whole group
// (grandchildren too), a grandchild holding the pipes delays the answer by the grace at most,
// head and tail caps, merged order, start errors, fd output, the kill-after-exit option, stdin.
import assert from 'node:assert/strict';
import { chmodSync, closeSync, existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Capture, runProgram } from '../../src/agent/run-program.js';
import { tempDir } from '../helpers/tmp.js';

const ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };
const PIPES = { pipes: { maxBytes: 1 << 20, keep: 'head' as const } };

function script(dir: string, name: string, body: string, mode = 0o755): string {
  const f = join(dir, name);
  writeFileSync(f, `#!/bin/sh\n${body}\n`);
  chmodSync(f, mode);
  return f;
}

/** Alive and not a zombie (a killed orphan may linger as one until init reaps it). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

async function deadSoon(pid: number): Promise<boolean> {
  for (let i = 0; i < 50 && alive(pid); i++) await sleep(20);
  return !alive(pid);
}

async function readPid(file: string): Promise<number> {
  for (let i = 0; i < 100 && !(existsSync(file) && readFileSync(file, 'utf8').endsWith('\n')); i++)
    await sleep(20);
  return Number(readFileSync(file, 'utf8'));
}

function killLater(t: TestContext, pid: number) {
  t.after(() => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  });
}

test('Capture keeps the head or the tail across chunks, per stream or interleaved (pure)', () => {
  const expected = {
    head: { all: 'abcde', out: 'abc', err: 'de' },
    tail: { all: 'efghi', out: 'ghi', err: 'ef' },
  };
  for (const keep of ['head', 'tail'] as const) {
    const cap = new Capture(5, keep);
    cap.push('out', Buffer.from('abc'));
    cap.push('err', Buffer.from('def'));
    cap.push('out', Buffer.from('ghi'));
    assert.deepEqual({ all: cap.text(), out: cap.text('out'), err: cap.text('err') }, expected[keep]);
  }
});

test('the time limit kills the program and its grandchildren', async (t) => {
  const dir = tempDir(t, 'berth-runner-');
  const pidFile = join(dir, 'pid');
  const f = script(dir, 'hang', `sleep 30 & echo $! > ${pidFile}\necho started\nwait`);
  const t0 = performance.now();
  const r = await runProgram(f, [], { env: ENV, timeoutMs: 400, output: PIPES });
  const pid = await readPid(pidFile);
  killLater(t, pid);
  assert.equal(r.timedOut, true);
  assert.equal(r.code, null);
  assert.equal(r.signal, 'SIGKILL');
  assert.equal(r.stdout, 'started\n');
  assert.ok(performance.now() - t0 < 3000);
  assert.ok(await deadSoon(pid), 'the grandchild was killed with the group');
});

test('a grandchild holding the pipes delays the answer by the exit grace at most, and lives on', async (t) => {
  const dir = tempDir(t, 'berth-runner-');
  const pidFile = join(dir, 'pid');
  // The background sleep inherits stdout and stderr: 'close' would wait 30 s for it.
  const f = script(dir, 'daemon', `sleep 30 & echo $! > ${pidFile}\necho done`);
  for (const exitGraceMs of [0, 300]) {
    const t0 = performance.now();
    const r = await runProgram(f, [], { env: ENV, timeoutMs: 10_000, output: PIPES, exitGraceMs });
    const took = performance.now() - t0;
    const pid = await readPid(pidFile);
    killLater(t, pid);
    assert.deepEqual([r.code, r.timedOut, r.stdout], [0, false, 'done\n']);
    assert.ok(took < exitGraceMs + 1500, `answered after ${Math.round(took)} ms`);
    assert.ok(alive(pid), 'a daemon left after a normal exit is not touched by default');
  }
});

test('killGroupWhenDone: what the program left running dies when it answers (pipes and fd)', async (t) => {
  const dir = tempDir(t, 'berth-runner-');
  const pidFile = join(dir, 'pid');
  const f = script(dir, 'daemon', `sleep 30 & echo $! > ${pidFile}\necho done`);
  const r = await runProgram(f, [], {
    env: ENV,
    timeoutMs: 10_000,
    output: PIPES,
    exitGraceMs: 300,
    killGroupWhenDone: true,
  });
  const pid = await readPid(pidFile);
  killLater(t, pid);
  assert.equal(r.stdout, 'done\n');
  assert.ok(await deadSoon(pid));

  const log = join(dir, 'log');
  const fd = openSync(log, 'a');
  const r2 = await runProgram(f, [], {
    env: ENV,
    timeoutMs: 10_000,
    output: { fd },
    killGroupWhenDone: true,
  });
  closeSync(fd);
  const pid2 = await readPid(pidFile);
  killLater(t, pid2);
  assert.equal(r2.code, 0);
  assert.ok(await deadSoon(pid2));
});

test('head and tail caps over many chunks; byte totals count everything', async (t) => {
  const dir = tempDir(t, 'berth-runner-');
  const f = script(
    dir,
    'big',
    `printf START; head -c 300000 /dev/zero | tr '\\0' a; printf END\nprintf ERR >&2`,
  );
  const head = await runProgram(f, [], {
    env: ENV,
    timeoutMs: 10_000,
    output: { pipes: { maxBytes: 5, keep: 'head' } },
  });
  assert.equal(head.stdout, 'START');
  assert.equal(head.stderr, 'ERR');
  assert.equal(head.stdoutBytes, 300_008);
  const tail = await runProgram(f, [], {
    env: ENV,
    timeoutMs: 10_000,
    output: { pipes: { maxBytes: 5, keep: 'tail' } },
  });
  assert.equal(tail.stdout, 'aaEND');
  assert.equal(tail.stderrBytes, 3);
  assert.equal(tail.output, '', 'no interleaving without a shared budget');
});

test('a shared budget keeps both streams interleaved in order', async (t) => {
  const dir = tempDir(t, 'berth-runner-');
  const f = script(dir, 'mix', 'echo one\nsleep 0.1\necho two >&2\nsleep 0.1\necho three');
  const r = await runProgram(f, [], {
    env: ENV,
    timeoutMs: 10_000,
    output: { pipes: { maxBytes: 1000, keep: 'head', shared: true } },
  });
  assert.equal(r.output, 'one\ntwo\nthree\n');
  assert.equal(r.stdout, 'one\nthree\n');
  assert.equal(r.stderr, 'two\n');
  const capped = await runProgram(f, [], {
    env: ENV,
    timeoutMs: 10_000,
    output: { pipes: { maxBytes: 8, keep: 'tail', shared: true } },
  });
  assert.equal(capped.output, 'o\nthree\n');
});

test('start errors come back as startError (ENOENT, EACCES), not as a throw', async (t) => {
  const dir = tempDir(t, 'berth-runner-');
  const missing = await runProgram(join(dir, 'absent'), [], { env: ENV, timeoutMs: 1000, output: PIPES });
  assert.equal(missing.startError?.code, 'ENOENT');
  const f = script(dir, 'noexec', 'echo no', 0o644);
  const denied = await runProgram(f, [], { env: ENV, timeoutMs: 1000, output: PIPES });
  assert.equal(denied.startError?.code, 'EACCES');
  assert.equal(denied.timedOut, false);
});

test('fd output: both streams go into the file; the environment is only what was given', async (t) => {
  const dir = tempDir(t, 'berth-runner-');
  const f = script(dir, 'env', 'echo out\necho err >&2\nenv | sort');
  const log = join(dir, 'log');
  const fd = openSync(log, 'a');
  const r = await runProgram(f, [], {
    env: { ...ENV, X_ONLY: 'yes' },
    cwd: dir,
    timeoutMs: 10_000,
    output: { fd },
  });
  closeSync(fd);
  assert.equal(r.code, 0);
  assert.equal(r.stdout, '');
  const text = readFileSync(log, 'utf8');
  assert.match(text, /^out\nerr\n/);
  assert.match(text, /^X_ONLY=yes$/m);
  assert.match(text, new RegExp(`^PWD=${dir}$`, 'm'));
  assert.doesNotMatch(text, /^HOME=/m);
});

test('stdin is /dev/null unless input is given', async (t) => {
  const dir = tempDir(t, 'berth-runner-');
  const f = script(dir, 'cat', 'cat');
  const none = await runProgram(f, [], { env: ENV, timeoutMs: 5000, output: PIPES });
  assert.deepEqual([none.code, none.stdout, none.timedOut], [0, '', false]);
  const given = await runProgram(f, [], { env: ENV, timeoutMs: 5000, output: PIPES, input: '{"a":"b"}' });
  assert.equal(given.stdout, '{"a":"b"}');
});

test('killGraceMs: a program that outlives the kill is answered for anyway', async (t) => {
  // A grandchild outside the group (setsid) keeps the pipes; the exit comes, 'close' never would.
  const dir = tempDir(t, 'berth-runner-');
  const pidFile = join(dir, 'pid');
  const f = script(dir, 'escape', `setsid sleep 30 & echo $! > ${pidFile}\nsleep 30`);
  const t0 = performance.now();
  const r = await runProgram(f, [], {
    env: ENV,
    timeoutMs: 300,
    output: PIPES,
    exitGraceMs: 5000,
    killGraceMs: 200,
  });
  const took = performance.now() - t0;
  killLater(t, await readPid(pidFile));
  assert.equal(r.timedOut, true);
  assert.equal(r.code, null);
  assert.equal(r.signal, 'SIGKILL');
  assert.ok(took < 300 + 200 + 1000, `answered after ${Math.round(took)} ms`);
});
