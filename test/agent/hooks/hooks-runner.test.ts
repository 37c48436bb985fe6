// The agent's hooks_runner / hooks_list / iallocator_runner over real scripts in temp dirs:
// Ganeti's order and skip rules, the env given and nothing else, the time limit (a hang and its
// children killed), output bounded, traversal and injection refused at the RPC boundary.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { hooksProcedures } from '../../../src/agent/hooks/rpc.js';
import { HOOK_OUTPUT_MAX, type HookResult } from '../../../src/shared/host/hooks.js';
import { tempDir } from '../../helpers/tmp.js';

function script(dir: string, name: string, body: string, mode = 0o755) {
  mkdirSync(dir, { recursive: true, mode: 0o755 }); // never group-writable, whatever the umask
  const f = join(dir, name);
  writeFileSync(f, `#!/bin/sh\n${body}\n`);
  chmodSync(f, mode);
  return f;
}

async function rejects(p: () => unknown, code: string) {
  await assert.rejects(
    async () => p(),
    (e: { code?: string }) => e.code === code,
  );
}

test('hooks_runner: sorted order, Ganeti skip rules, statuses, no hooks dir → []', async (t) => {
  const root = tempDir(t, 'berth-hooks-');
  const procs = hooksProcedures({ dir: root, timeoutMs: 5000 });
  assert.deepEqual(await procs.hooks_runner('vm-start', 'pre', {}), []);
  const d = join(root, 'vm-start-pre.d');
  const log = join(root, 'order.log');
  script(d, '20-second', `echo second >> ${log}; echo out2; exit 0`);
  script(d, '10-first', `echo first >> ${log}; echo "to stderr" >&2; exit 0`);
  script(d, '30-fails', `echo third >> ${log}; echo "nope"; exit 3`);
  script(d, 'bad.name', `echo bad >> ${log}`); // a dot: Ganeti skips it
  script(d, 'README', `echo readme >> ${log}`, 0o644); // not executable
  mkdirSync(join(d, 'subdir'));
  symlinkSync('/bin/true', join(d, '40-link'));
  const r = (await procs.hooks_runner('vm-start', 'pre', {})) as HookResult[];
  assert.deepEqual(
    r.map((x) => [x.name, x.status, x.exit_code]),
    [
      ['vm-start-pre.d/10-first', 'success', 0],
      ['vm-start-pre.d/20-second', 'success', 0],
      ['vm-start-pre.d/30-fails', 'fail', 3],
      ['vm-start-pre.d/40-link', 'success', 0],
      ['vm-start-pre.d/README', 'skip', null],
      ['vm-start-pre.d/bad.name', 'skip', null],
      ['vm-start-pre.d/subdir', 'skip', null],
    ],
  );
  assert.equal(readFileSync(log, 'utf8'), 'first\nsecond\nthird\n'); // skipped ones never ran
  assert.equal(r[0].output, 'to stderr\n'); // stderr is part of the output (Ganeti)
  assert.equal(r[2].output, 'nope\n');
  assert.match(r[4].output, /not executable/);
  assert.match(r[5].output, /name does not match/);
  // The other phase's directory is another one.
  assert.deepEqual(await procs.hooks_runner('vm-start', 'post', {}), []);
  const listed = (await procs.hooks_list()) as { dir: string; name: string; runnable: boolean }[];
  assert.deepEqual(
    listed.filter((x) => x.runnable).map((x) => x.name),
    ['10-first', '20-second', '30-fails', '40-link'],
  );
  assert.equal(listed.length, 7);
});

test('hooks_runner: only the env given (BERTH_* and a fixed PATH), nothing of the agent’s', async (t) => {
  const root = tempDir(t, 'berth-hooks-');
  process.env.BERTH_HOOKS_TEST_SECRET = 'should-not-leak';
  t.after(() => delete process.env.BERTH_HOOKS_TEST_SECRET);
  script(join(root, 'vm-destroy-post.d'), 'env', 'env | sort');
  const procs = hooksProcedures({ dir: root });
  const [r] = (await procs.hooks_runner('vm-destroy', 'post', {
    BERTH_VM_NAME: 'a name; $(rm -rf /) `x`',
    BERTH_HOOKS_PHASE: 'post',
  })) as HookResult[];
  const env = r.output
    .trim()
    .split('\n')
    .filter((l) => !/^(PWD|SHLVL|_)=/.test(l));
  assert.deepEqual(env, [
    'BERTH_HOOKS_PHASE=post',
    'BERTH_VM_NAME=a name; $(rm -rf /) `x`', // passed as data: no shell ever reads it
    'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  ]);
});

test('hooks_runner: a hang is killed at the time limit with its children; output keeps its tail', async (t) => {
  const root = tempDir(t, 'berth-hooks-');
  const d = join(root, 'host-eject-pre.d');
  const marker = join(root, 'child-survived');
  script(d, '10-hang', `echo started; (sleep 3; touch ${marker}) & sleep 600`);
  script(d, '20-chatty', `i=0; while [ $i -lt 3000 ]; do echo "line $i"; i=$((i+1)); done`);
  const procs = hooksProcedures({ dir: root, timeoutMs: 60_000 });
  const t0 = Date.now();
  const r = (await procs.hooks_runner('host-eject', 'pre', {}, 500)) as HookResult[];
  assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
  assert.equal(r[0].status, 'fail');
  assert.equal(r[0].timed_out, true);
  assert.equal(r[0].exit_code, null);
  assert.match(r[0].output, /^started\nkilled after 500 ms \(time limit\)$/);
  assert.equal(r[1].status, 'success');
  assert.ok(Buffer.byteLength(r[1].output) <= HOOK_OUTPUT_MAX);
  assert.match(r[1].output, /line 2999\n$/);
  await new Promise((res) => setTimeout(res, 3500));
  assert.equal(existsSync(marker), false, 'the hook’s child outlived the time limit');
});

test('hooks_runner / iallocator_runner: traversal, bad phases, env names and values refused', async (t) => {
  const root = tempDir(t, 'berth-hooks-');
  script(join(root, 'x'), 'evil-pre.d', 'true');
  const procs = hooksProcedures({ dir: join(root, 'hooks'), iallocatorDir: join(root, 'ia') });
  for (const hpath of ['../x', '..', 'vm/start', 'VM-start', '', 'vm-start\n', '.hidden', 'a'.repeat(65), 7])
    await rejects(() => procs.hooks_runner(hpath, 'pre', {}), 'INVALID_VALUE');
  await rejects(() => procs.hooks_runner('vm-start', 'middle', {}), 'INVALID_VALUE');
  await rejects(() => procs.hooks_runner('vm-start', 'pre', { PATH: '/tmp' }), 'INVALID_VALUE');
  await rejects(() => procs.hooks_runner('vm-start', 'pre', { LD_PRELOAD: '/x.so' }), 'INVALID_VALUE');
  await rejects(() => procs.hooks_runner('vm-start', 'pre', { BERTH_X: 'a\0b' }), 'INVALID_VALUE');
  await rejects(() => procs.hooks_runner('vm-start', 'pre', { BERTH_X: 1 }), 'INVALID_VALUE');
  await rejects(() => procs.hooks_runner('vm-start', 'pre', [], 10), 'INVALID_VALUE');
  await rejects(() => procs.hooks_runner('vm-start', 'pre', {}, -1), 'INVALID_VALUE');
  for (const name of ['../x/evil-pre.d', '/bin/true', 'a b', '..', 'x;true'])
    await rejects(() => procs.iallocator_runner(name, '{}'), 'INVALID_VALUE');
});

test('iallocator_runner: input as a temp file argument, stdout back; failures are IALLOCATOR_FAILED', async (t) => {
  const root = tempDir(t, 'berth-hooks-');
  const ia = join(root, 'ia');
  script(ia, 'echo-back', 'cat "$1"; test "$#" = 1');
  script(ia, 'fails', 'echo "no node fits" >&2; exit 2');
  script(ia, 'hangs', 'sleep 600');
  script(ia, 'not-exec', 'true', 0o644);
  const procs = hooksProcedures({ dir: join(root, 'hooks'), iallocatorDir: ia, iallocatorTimeoutMs: 500 });
  assert.equal(await procs.iallocator_runner('echo-back', '{"request":{}}'), '{"request":{}}');
  const failure = async (name: string) => {
    try {
      await procs.iallocator_runner(name, '{}');
    } catch (e) {
      return [(e as { code: string }).code, ...(e as { params: string[] }).params];
    }
    assert.fail(`${name} succeeded`);
  };
  assert.deepEqual(await failure('fails'), ['IALLOCATOR_FAILED', 'fails', 'exited 2', 'no node fits\n']);
  assert.deepEqual(await failure('hangs'), [
    'IALLOCATOR_FAILED',
    'hangs',
    'killed after 500 ms (time limit)',
    '',
  ]);
  assert.deepEqual(await failure('not-exec'), [
    'IALLOCATOR_FAILED',
    'not-exec',
    'not found or not executable',
    '',
  ]);
  assert.deepEqual(await failure('missing'), [
    'IALLOCATOR_FAILED',
    'missing',
    'not found or not executable',
    '',
  ]);
});

test('a script or hooks dir writable by group or others is refused loudly (fail), not run', async (t) => {
  const root = tempDir(t, 'berth-hooks-');
  const d = join(root, 'vm-start-pre.d');
  const ran = join(root, 'ran');
  script(d, '10-open', `touch ${ran}`, 0o757);
  const procs = hooksProcedures({ dir: root, iallocatorDir: d });
  const [r] = (await procs.hooks_runner('vm-start', 'pre', {})) as HookResult[];
  assert.equal(r.status, 'fail');
  assert.match(r.output, /^refused: .*10-open is writable by group or others$/);
  assert.equal(existsSync(ran), false);
  chmodSync(join(d, '10-open'), 0o755);
  chmodSync(d, 0o777);
  const [again] = (await procs.hooks_runner('vm-start', 'pre', {})) as HookResult[];
  assert.match(again.output, /^refused: .*vm-start-pre\.d is writable by group or others$/);
  assert.equal(existsSync(ran), false);
  const listed = (await procs.hooks_list()) as { runnable: boolean; reason: string }[];
  assert.equal(listed[0].runnable, false);
  await assert.rejects(
    async () => procs.iallocator_runner('10-open', '{}'),
    (e: { code?: string; params?: string[] }) =>
      e.code === 'IALLOCATOR_FAILED' && /writable by group or others/.test(e.params?.[1] ?? ''),
  );
  chmodSync(d, 0o755);
  assert.equal(((await procs.hooks_runner('vm-start', 'pre', {})) as HookResult[])[0].status, 'success');
  assert.equal(existsSync(ran), true);
});
