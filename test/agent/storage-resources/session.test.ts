// The agent's device plugin session machinery on explicit times (no real clock): requests and
// their back-off, DATA sequence, update cadence, deltas, exceptions, termination, outbox bound.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DeltaResult, FAILSAFE_UPDATE_CYCLES } from '../../../src/agent/storage-resources/delta.js';
import type { DevicePlugin } from '../../../src/agent/storage-resources/device-plugin.js';
import { Outbox } from '../../../src/agent/storage-resources/outbox.js';
import { DevicePluginRunner } from '../../../src/agent/storage-resources/runner.js';
import { DevicePluginSession } from '../../../src/agent/storage-resources/session.js';
import type { DevicePluginMessage } from '../../../src/shared/host/device-plugins.js';

/** A plugin whose start/update answers come from `script` (a function throws when it throws). */
function scripted(answers: { start: () => unknown; update: () => unknown }) {
  const made: { tornDown: boolean }[] = [];
  const plugin: DevicePlugin = {
    name: 'linux',
    createInstance() {
      const me = { tornDown: false };
      made.push(me);
      return {
        startSession: async () => answers.start(),
        updateSession: async () => answers.update(),
        teardown: () => {
          me.tornDown = true;
        },
      };
    },
  };
  return { plugin, made };
}

function harness(answers: Parameters<typeof scripted>[0]) {
  const sent: DevicePluginMessage[] = [];
  const { plugin, made } = scripted(answers);
  const s = new DevicePluginSession(plugin, (m) => sent.push(m));
  const types = () => sent.map((m) => `${m.type}${m.session_seq ?? ''}`);
  return { s, sent, made, types };
}

test('unanswered session requests back off 10 s doubling to 60 s', async () => {
  const { s, sent } = harness({ start: () => ({}), update: () => null });
  const at: number[] = [];
  for (let t = 0; t <= 300_000; t += 1000) {
    const before = sent.length;
    await s.poll(t);
    if (sent.length > before) at.push(t / 1000);
  }
  assert.deepEqual(at, [0, 10, 30, 70, 130, 190, 250]);
  assert.ok(sent.every((m) => m.type === 'SESSION_CREATE_REQUEST' && m.session_id === null));
});

test('created: DATA seq 0 from start_session, then updates at most every 10 s, null sends nothing', async () => {
  let update: unknown = { a: 1 };
  const { s, sent, types } = harness({ start: () => ({ full: true }), update: () => update });
  await s.poll(0);
  await s.create('S1');
  await s.poll(1000);
  assert.deepEqual(sent[1], {
    type: 'DATA',
    plugin: 'linux',
    session_id: 'S1',
    session_seq: 0,
    body: { full: true },
  });
  await s.poll(5000); // too soon
  await s.poll(11_000);
  update = null;
  await s.poll(21_000); // nothing new: nothing sent, seq unchanged
  update = { b: 2 };
  await s.poll(31_000);
  assert.deepEqual(types(), ['SESSION_CREATE_REQUEST', 'DATA0', 'DATA1', 'DATA2']);
  assert.deepEqual(sent[3].body, { b: 2 });
  assert.deepEqual(s.state(), { name: 'linux', session_id: 'S1', session_seq: 2, last_error: null });
});

test('a plugin exception terminates the session and requests a new one at once', async () => {
  let fail = false;
  const { s, sent, made, types } = harness({
    start: () => ({}),
    update: () => {
      if (fail) throw new Error('lsblk exited 1');
      return {};
    },
  });
  await s.poll(0);
  await s.create('S1');
  await s.poll(0);
  fail = true;
  await s.poll(10_000);
  assert.equal(made[0].tornDown, true);
  assert.equal(s.state().last_error, 'lsblk exited 1');
  assert.deepEqual(sent.at(-1), {
    type: 'SESSION_TERMINATE',
    plugin: 'linux',
    session_id: 'S1',
    session_seq: null,
    body: null,
  });
  await s.poll(10_500);
  assert.deepEqual(types(), [
    'SESSION_CREATE_REQUEST',
    'DATA0',
    'SESSION_TERMINATE',
    'SESSION_CREATE_REQUEST',
  ]);
  assert.equal(s.state().session_id, null);
});

test('terminate by the master: only the session named (or any with null), then a new request', async () => {
  const { s, made, types } = harness({ start: () => ({}), update: () => ({}) });
  await s.poll(0);
  await s.create('S1');
  await s.poll(0);
  await s.terminate('OTHER', 1000); // not this session: ignored
  assert.equal(s.state().session_id, 'S1');
  await s.terminate(null, 1000);
  assert.equal(made[0].tornDown, true);
  await s.poll(1000);
  await s.create('S2');
  await s.poll(1000);
  assert.deepEqual(types(), ['SESSION_CREATE_REQUEST', 'DATA0', 'SESSION_CREATE_REQUEST', 'DATA0']);
  assert.equal(s.state().session_id, 'S2');
  await s.terminate('S2', 2000);
  await s.terminate('S2', 2000); // idempotent
});

test('a session terminated while start_session runs queues nothing for it', async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => {
    release = r;
  });
  const { s, types } = harness({
    start: async () => {
      await gate;
      return {};
    },
    update: () => ({}),
  });
  await s.poll(0);
  await s.create('S1');
  const polling = s.poll(0);
  await s.terminate('S1', 0);
  release();
  await polling;
  assert.deepEqual(types(), ['SESSION_CREATE_REQUEST']);
});

test('_delta_result: unchanged keys null, changed sent, everything every 60th cycle', () => {
  const d = new DeltaResult();
  assert.deepEqual(d.reset({ a: 1, b: [1] }), { a: 1, b: [1] });
  assert.deepEqual(d.delta({ a: 1, b: [2] }), { a: null, b: [2] });
  assert.deepEqual(d.delta({ a: 1, b: [2] }), { a: null, b: null });
  // A key gone is left out; when it comes back it is sent whole.
  assert.deepEqual(d.delta({ a: 1 }), { a: null });
  assert.deepEqual(d.delta({ a: 1, b: [2] }), { a: null, b: [2] });
  let cycles = 4;
  let last: Record<string, unknown> = {};
  while (cycles < FAILSAFE_UPDATE_CYCLES) {
    last = d.delta({ a: 1, b: [2] });
    cycles += 1;
  }
  assert.deepEqual(last, { a: 1, b: [2] }, 'the 60th cycle sends everything');
  assert.deepEqual(d.delta({ a: 1, b: [2] }), { a: null, b: null });
});

test('the outbox keeps 8 MiB of bodies: the oldest DATA goes, requests stay', () => {
  const box = new Outbox(100);
  const data = (seq: number, n: number): DevicePluginMessage => ({
    type: 'DATA',
    plugin: 'linux',
    session_id: 'S',
    session_seq: seq,
    body: 'x'.repeat(n),
  });
  box.push({
    type: 'SESSION_CREATE_REQUEST',
    plugin: 'linux',
    session_id: null,
    session_seq: null,
    body: null,
  });
  box.push(data(0, 40));
  box.push(data(1, 40));
  box.push(data(2, 40));
  const taken = box.take();
  assert.deepEqual(
    taken.map((m) => `${m.type}${m.session_seq ?? ''}`),
    ['SESSION_CREATE_REQUEST', 'DATA1', 'DATA2'],
  );
  assert.equal(box.dropped, 1);
  assert.equal(box.take().length, 0);
});

test('runner: unknown plugins are INVALID_VALUE; run() gives a listing outside any session', async () => {
  const { plugin } = scripted({ start: () => ({ listing: 1 }), update: () => null });
  let now = 0;
  const r = new DevicePluginRunner({ plugins: [plugin], timer: false, clock: () => now });
  await r.tick();
  assert.equal(r.take()[0].type, 'SESSION_CREATE_REQUEST');
  await assert.rejects(r.sessionCreate('zfs', 'S'), /INVALID_VALUE/);
  assert.deepEqual(await r.run('linux'), { listing: 1 });
  await r.sessionCreate('linux', 'S');
  now = 1;
  await r.tick();
  assert.deepEqual(
    r.take().map((m) => m.session_seq),
    [0],
  );
  assert.deepEqual(r.list(), [{ name: 'linux', session_id: 'S', session_seq: 0, last_error: null }]);
  await r.close();
});
