// Site hooks around XenAPI operations (src/manager/hooks/run-hooks.ts) on a test manager whose
// host agents run real scripts from temp hook dirs (the agent's own hooks procedures, in process):
// a failing or hanging pre hook refuses the operation with XAPI_HOOK_FAILED and nothing changes;
// post hook failures are only reported; every result is in the task's other_config; the
// environment names the operation, the object and the host it runs on; hooks run on the master
// and the hosts concerned.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { hooksProcedures } from '../../../src/agent/hooks/rpc.js';
import { hooksClient } from '../../../src/shared/host/hooks.js';
import { addTestHost } from '../../helpers/pool-host.js';
import { withoutStorage } from '../../helpers/test-agent.js';
import { tempDir } from '../../helpers/tmp.js';
import { type Harness, harness, RecordingAgent } from '../setters/harness.js';

/** Gives a stand-in agent the real hooks procedures over `dir`. */
function realHooks(agent: object, dir: string, timeoutMs = 5000) {
  const procs = hooksProcedures({ dir, timeoutMs }) as Record<string, (...a: unknown[]) => unknown>;
  (agent as { hooks: unknown }).hooks = hooksClient(async (name, args) => procs[name](...args));
}

function script(dir: string, name: string, body: string) {
  mkdirSync(dir, { recursive: true, mode: 0o755 }); // never group-writable, whatever the umask
  writeFileSync(join(dir, name), `#!/bin/sh\n${body}\n`);
  chmodSync(join(dir, name), 0o755);
}

/** Runs `method` as Async.*, waits for its task; returns the settled task record. */
async function asyncTask(h: Harness, method: string, ...args: unknown[]) {
  const task = await h.call(`Async.${method}`, ...args);
  for (let i = 0; i < 400; i++) {
    const rec = await h.call('task.get_record', task);
    if (rec.status !== 'pending') return rec;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`${method}: task still pending`);
}

const envOf = (file: string) =>
  Object.fromEntries(
    readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );

test('a failing pre hook refuses VM.start with XAPI_HOOK_FAILED; nothing started; results in the task', async (t) => {
  const h = await harness(t);
  const dir = tempDir(t, 'berth-hooks-');
  realHooks(h.agent, dir);
  script(join(dir, 'vm-start-pre.d'), '10-ok', 'echo fine');
  script(join(dir, 'vm-start-pre.d'), '20-deny', 'echo "maintenance window"; exit 4');
  script(join(dir, 'vm-start-post.d'), '10-never', `touch ${join(dir, 'post-ran')}`);
  const vm = await h.newVm({ name_label: 'hooks-vm' });
  const host = h.m.manager.svc.hostRef();
  const hostName = h.record('host', host).name_label;

  assert.deepEqual(await h.failure('VM.start', vm, false, false), [
    'XAPI_HOOK_FAILED',
    'vm-start-pre.d/20-deny',
    `pre hook of VM.start failed on host ${hostName}`,
    'maintenance window\n',
    '4',
  ]);
  assert.deepEqual(h.agent.calls, []);
  assert.equal(h.record('VM', vm).power_state, 'Halted');
  assert.equal(existsSync(join(dir, 'post-ran')), false);

  const task = await asyncTask(h, 'VM.start', vm, false, false);
  assert.equal(task.status, 'failure');
  assert.equal(task.error_info[0], 'XAPI_HOOK_FAILED');
  assert.equal(task.other_config[`hooks:pre:${hostName}:vm-start-pre.d/10-ok`], 'success (exit 0): fine');
  assert.equal(
    task.other_config[`hooks:pre:${hostName}:vm-start-pre.d/20-deny`],
    'fail (exit 4): maintenance window',
  );
  assert.deepEqual(h.agent.calls, []);

  // An operation xapi refuses anyway runs no hooks: its own error, not the hook's.
  assert.deepEqual(await h.failure('VM.start_on', vm, 'OpaqueRef:nope', false, false), [
    'HANDLE_INVALID',
    'host',
    'OpaqueRef:nope',
  ]);
  assert.deepEqual(await h.failure('VM.clean_shutdown', vm), ['VM_BAD_POWER_STATE', vm, 'running', 'halted']);
});

test('post hooks see the result; their failure is reported in the task, the operation stands', async (t) => {
  const h = await harness(t);
  const dir = tempDir(t, 'berth-hooks-');
  realHooks(h.agent, dir);
  script(join(dir, 'vm-start-pre.d'), 'env', `env > ${join(dir, 'pre.env')}`);
  script(join(dir, 'vm-start-post.d'), '10-env', `env > ${join(dir, 'post.env')}`);
  script(join(dir, 'vm-start-post.d'), '20-broken', 'echo "cannot notify CMDB" >&2; exit 1');
  const vm = await h.newVm({ name_label: 'hooks vm; $(touch /tmp/x)', tags: ['web', 'prod'] });
  const uuid = h.record('VM', vm).uuid;
  const host = h.m.manager.svc.hostRef();
  const hostRec = h.record('host', host);

  const task = await asyncTask(h, 'VM.start', vm, false, false);
  assert.equal(task.status, 'success');
  assert.equal(h.record('VM', vm).power_state, 'Running');
  assert.equal(
    task.other_config[`hooks:post:${hostRec.name_label}:vm-start-post.d/20-broken`],
    'fail (exit 1): cannot notify CMDB',
  );
  assert.equal(
    task.other_config[`hooks:post:${hostRec.name_label}:vm-start-post.d/10-env`],
    'success (exit 0)',
  );

  const pre = envOf(join(dir, 'pre.env'));
  const pool = h.record('pool', h.m.manager.svc.poolRef());
  assert.equal(pre.BERTH_HOOKS_VERSION, '1');
  assert.equal(pre.BERTH_HOOKS_PHASE, 'pre');
  assert.equal(pre.BERTH_HOOKS_PATH, 'vm-start');
  assert.equal(pre.BERTH_OP_CODE, 'VM.start');
  assert.equal(pre.BERTH_OBJECT_TYPE, 'VM');
  assert.equal(pre.BERTH_POOL_UUID, pool.uuid);
  assert.equal(pre.BERTH_MASTER_UUID, hostRec.uuid);
  assert.equal(pre.BERTH_HOST_UUID, hostRec.uuid);
  assert.equal(pre.BERTH_HOST_NAME, hostRec.name_label);
  assert.equal(pre.BERTH_TASK_UUID, task.uuid);
  assert.equal(pre.BERTH_USER, 'root');
  assert.equal(pre.BERTH_VM_UUID, uuid);
  assert.equal(pre.BERTH_VM_NAME, 'hooks vm; $(touch /tmp/x)');
  assert.equal(pre.BERTH_VM_POWER_STATE, 'halted');
  assert.equal(pre.BERTH_VM_TAGS, 'web prod');
  assert.equal(pre.BERTH_VM_NIC_COUNT, '0');
  assert.equal(pre.PATH, '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
  // Nothing of the manager's or the caller's secrets: only BERTH_* and PATH.
  assert.deepEqual(
    Object.keys(pre).filter((k) => !k.startsWith('BERTH_') && !['PATH', 'PWD', 'SHLVL', '_'].includes(k)),
    [],
  );
  const post = envOf(join(dir, 'post.env'));
  assert.equal(post.BERTH_HOOKS_PHASE, 'post');
  assert.equal(post.BERTH_VM_POWER_STATE, 'halted'); // the pre values…
  assert.equal(post.BERTH_POST_VM_POWER_STATE, 'running'); // …and the state after
  assert.equal(post.BERTH_POST_VM_RESIDENT_ON, hostRec.name_label);

  // Shutdown: its own hook path and mode.
  script(join(dir, 'vm-shutdown-pre.d'), 'env', `env > ${join(dir, 'shutdown.env')}`);
  await h.call('VM.hard_shutdown', vm);
  const down = envOf(join(dir, 'shutdown.env'));
  assert.equal(down.BERTH_OP_CODE, 'VM.hard_shutdown');
  assert.equal(down.BERTH_SHUTDOWN_MODE, 'hard');
  assert.equal(down.BERTH_VM_RESIDENT_ON, hostRec.name_label);
});

test('a pre hook that never ends is killed at the time limit and refuses the operation', async (t) => {
  const h = await harness(t);
  const dir = tempDir(t, 'berth-hooks-');
  realHooks(h.agent, dir, 500);
  script(join(dir, 'vm-destroy-pre.d'), 'hang', 'echo waiting; sleep 600');
  const vm = await h.newVm();
  const t0 = Date.now();
  const e = await h.failure('VM.destroy', vm);
  assert.ok(Date.now() - t0 < 5000);
  assert.equal(e[0], 'XAPI_HOOK_FAILED');
  assert.equal(e[1], 'vm-destroy-pre.d/hang');
  assert.match(e[2], /\(time limit\)$/);
  assert.match(e[3], /^waiting\nkilled after 500 ms/);
  assert.equal(h.record('VM', vm).power_state, 'Halted'); // still there
});

test('hooks run on the master and the hosts concerned: VM.start_on on another host', async (t) => {
  const h = await harness(t);
  const { svc } = h.m.manager;
  const a = svc.hostRef();
  const b = addTestHost(svc.db, 'hooks-host-b', { address: '192.0.2.2' });
  const agentB = withoutStorage(new RecordingAgent());
  svc.hosts.attach(b, agentB);
  const dirA = tempDir(t, 'berth-hooks-a-');
  const dirB = tempDir(t, 'berth-hooks-b-');
  realHooks(h.agent, dirA);
  realHooks(agentB, dirB);
  for (const d of [dirA, dirB]) script(join(d, 'vm-start-pre.d'), 'env', `env > ${join(d, 'pre.env')}`);
  script(join(dirB, 'vm-start-pre.d'), 'zz-deny', 'echo "B is full"; exit 1');
  const vm = await h.newVm();
  const e = await h.failure('VM.start_on', vm, b, false, false);
  assert.deepEqual(e, [
    'XAPI_HOOK_FAILED',
    'vm-start-pre.d/zz-deny',
    'pre hook of VM.start_on failed on host hooks-host-b',
    'B is full\n',
    '1',
  ]);
  assert.equal(envOf(join(dirA, 'pre.env')).BERTH_HOST_UUID, h.record('host', a).uuid);
  const onB = envOf(join(dirB, 'pre.env'));
  assert.equal(onB.BERTH_HOST_NAME, 'hooks-host-b');
  assert.equal(onB.BERTH_TARGET_HOST_NAME, 'hooks-host-b');
  assert.equal(onB.BERTH_MASTER_UUID, h.record('host', a).uuid);
  assert.deepEqual(agentB.calls, []);
  // On A (the master) B is not concerned: the start goes ahead.
  await h.call('VM.start_on', vm, a, false, false);
  assert.equal(h.record('VM', vm).resident_on, a);
  await h.call('VM.hard_shutdown', vm);
  // Once B allows it, the VM runs there; a host whose agent cannot be asked is reported, and
  // is no refusal (Ganeti's rule).
  script(join(dirB, 'vm-start-pre.d'), 'zz-deny', 'exit 0');
  await h.call('VM.start_on', vm, b, false, false);
  assert.equal(h.record('VM', vm).resident_on, b);
  (agentB as { hooks: unknown }).hooks = hooksClientFailing();
  const task = await asyncTask(h, 'VM.hard_shutdown', vm);
  assert.equal(task.status, 'success');
  assert.equal(task.other_config['hooks:pre:hooks-host-b'], 'unreachable: connection refused');
  assert.equal(h.record('VM', vm).power_state, 'Halted');
});

function hooksClientFailing() {
  return hooksClient(async () => {
    throw new Error('connection refused');
  });
}

test('SR.create refused by a pre hook creates nothing; its post hooks get the new SR', async (t) => {
  const h = await harness(t);
  const dir = tempDir(t, 'berth-hooks-');
  realHooks(h.agent, dir);
  const host = h.m.manager.svc.hostRef();
  const srDir = join(h.m.dataDir, 'sr', 'hooks-iso');
  mkdirSync(srDir, { recursive: true });
  script(join(dir, 'sr-create-pre.d'), 'deny', 'echo "$BERTH_SR_NAME/$BERTH_SR_TYPE refused"; exit 1');
  const before = (await h.call('SR.get_all')).length;
  const e = await h.failure('SR.create', host, { location: srDir }, 0, 'hooked', '', 'iso', 'iso', false, {});
  assert.deepEqual(e.slice(0, 2), ['XAPI_HOOK_FAILED', 'sr-create-pre.d/deny']);
  assert.equal(e[3], 'hooked/iso refused\n');
  assert.equal((await h.call('SR.get_all')).length, before);

  script(join(dir, 'sr-create-pre.d'), 'deny', 'exit 0');
  script(join(dir, 'sr-create-post.d'), 'env', `env > ${join(dir, 'sr-post.env')}`);
  const sr = await h.call('SR.create', host, { location: srDir }, 0, 'hooked', '', 'iso', 'iso', false, {});
  assert.equal(envOf(join(dir, 'sr-post.env')).BERTH_POST_SR_UUID, h.record('SR', sr).uuid);
});
