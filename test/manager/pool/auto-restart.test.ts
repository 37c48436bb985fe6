// Berth's automatic restart (src/manager/pool/auto-restart.ts): the pure decisions with times
// (how long a host has been dead, when it is declared dead, the pool's delay), which hosts may be
// dead at all (never this manager's own, never one whose agent is connected), and which VMs of a
// dead host restart, in which order, and which are left alone (no priority, not running, a disk
// on a non-shared SR). Also a manager answering over HTTP counts as a live host.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import type { Row } from '../../../src/manager/db/database.js';
import {
  AutoRestart,
  DEFAULT_RESTART_AFTER_S,
  declaredDead,
  hostMayBeDead,
  managerAnswers,
  restartDecision,
  restartDelayMs,
  stillToStart,
  updateDeadSince,
} from '../../../src/manager/pool/auto-restart.js';
import { addTestHost } from '../../helpers/pool-host.js';
import { withoutStorage } from '../../helpers/test-agent.js';
import { harness, RecordingAgent } from '../setters/harness.js';
import { Records } from '../../helpers/record-tables.js';

const NULL = 'OpaqueRef:NULL';

test('dead-since: the first time seen dead is kept; one live sighting restarts the clock', () => {
  let since = updateDeadSince(
    new Map(),
    [
      { host: 'A', dead: false },
      { host: 'B', dead: true },
    ],
    1000,
  );
  assert.deepEqual([...since], [['B', 1000]]);
  since = updateDeadSince(
    since,
    [
      { host: 'B', dead: true },
      { host: 'C', dead: true },
    ],
    5000,
  );
  assert.deepEqual(
    [...since],
    [
      ['B', 1000],
      ['C', 5000],
    ],
  );
  since = updateDeadSince(
    since,
    [
      { host: 'B', dead: false },
      { host: 'C', dead: true },
    ],
    9000,
  );
  assert.deepEqual([...since], [['C', 5000]], 'B came back; a host gone from the pool is dropped');
  since = updateDeadSince(
    since,
    [
      { host: 'B', dead: true },
      { host: 'C', dead: true },
    ],
    10_000,
  );
  assert.deepEqual(
    [...since],
    [
      ['B', 10_000],
      ['C', 5000],
    ],
  );
});

test('declared dead once dead for the whole delay, not a millisecond earlier', () => {
  const since = new Map([
    ['B', 1000],
    ['C', 30_000],
  ]);
  assert.deepEqual(declaredDead(since, 60_999, 60_000), []);
  assert.deepEqual(declaredDead(since, 61_000, 60_000), ['B']);
  assert.deepEqual(declaredDead(since, 90_000, 60_000), ['B', 'C']);
});

test('the delay comes from pool other_config:berth_ha_restart_after_s, else 60 s', () => {
  assert.equal(DEFAULT_RESTART_AFTER_S, 60);
  assert.equal(restartDelayMs(undefined), 60_000);
  assert.equal(restartDelayMs({ other_config: {} }), 60_000);
  assert.equal(restartDelayMs({ other_config: { berth_ha_restart_after_s: '5' } }), 5000);
  assert.equal(restartDelayMs({ other_config: { berth_ha_restart_after_s: '0.5' } }), 500);
  for (const bad of ['0', '-3', 'soon', ''])
    assert.equal(restartDelayMs({ other_config: { berth_ha_restart_after_s: bad } }), 60_000, bad);
});

test('a host may be dead only if not this one, its agent is gone and its record is not live', () => {
  const r = new Records();
  r.add('host', 'A', { metrics: 'mA' });
  r.add('host_metrics', 'mA', { live: false });
  r.add('host', 'B', { metrics: 'mB' });
  r.add('host_metrics', 'mB', { live: false });
  assert.equal(hostMayBeDead(r, 'A', false, 'A'), false, "this manager's own host: its QEMUs run here");
  assert.equal(hostMayBeDead(r, 'B', true, 'A'), false, 'agent connected');
  assert.equal(hostMayBeDead(r, 'B', false, 'A'), true);
  r.get('host_metrics', 'mB')!.live = true;
  assert.equal(hostMayBeDead(r, 'B', false, 'A'), false, 'record still live (not refreshed yet)');
});

test('which VMs of a dead host restart, in priority then order; which are left alone', () => {
  const r = new Records();
  r.add('SR', 'shared', { shared: true });
  r.add('SR', 'local', { shared: false });
  let n = 0;
  const vm = (over: Row, sr?: string) => {
    const ref = `vm${++n}`;
    const vbds: string[] = [];
    if (sr) {
      r.add('VDI', `${ref}-vdi`, { SR: sr });
      r.add('VBD', `${ref}-vbd`, { VDI: `${ref}-vdi`, empty: false });
      vbds.push(`${ref}-vbd`);
    }
    return r.add('VM', ref, {
      power_state: 'Running',
      resident_on: 'B',
      is_control_domain: false,
      ha_restart_priority: 'restart',
      order: 0,
      VBDs: vbds,
      suspend_VDI: NULL,
      ...over,
    });
  };
  const late = vm({ order: 5 }, 'shared');
  const early = vm({ order: 1 }, 'shared');
  const bestEffort = vm({ ha_restart_priority: 'best-effort', order: 0 });
  const paused = vm({ power_state: 'Paused', order: 2 });
  const onLocal = vm({}, 'local');
  vm({ ha_restart_priority: '' }); // unprotected: stays until the host is back
  vm({ resident_on: 'A' }); // on a live host
  vm({ is_control_domain: true }); // B's control domain
  vm({ power_state: 'Halted', resident_on: NULL });
  const { restart, skipped } = restartDecision(r, ['B']);
  assert.deepEqual(restart, [early, paused, late, bestEffort]);
  assert.deepEqual(skipped, [{ vm: onLocal, reason: 'a disk is on SR local, which is not shared' }]);
  assert.deepEqual(restartDecision(r, []), { restart: [], skipped: [] });
});

test('a reset VM is still to start while Halted and protected', () => {
  assert.equal(stillToStart({ power_state: 'Halted', ha_restart_priority: 'restart' }), true);
  assert.equal(stillToStart({ power_state: 'Running', ha_restart_priority: 'restart' }), false);
  assert.equal(
    stillToStart({ power_state: 'Halted', ha_restart_priority: '' }),
    false,
    'unprotected meanwhile',
  );
  assert.equal(stillToStart(undefined), false, 'destroyed meanwhile');
});

test('a manager answering HTTP (any status) is up; a closed port is not', async (t) => {
  const server = http.createServer((_req, res) => {
    res.statusCode = 404;
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const { port } = server.address() as AddressInfo;
  assert.equal(await managerAnswers(`http://127.0.0.1:${port}/`), true);
  server.close();
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(await managerAnswers(`http://127.0.0.1:${port}/`, 1000), false);
});

test('a round: the protected VM of a host dead for the delay is reset and started here', async (t) => {
  const h = await harness(t);
  const { svc } = h.m.manager;
  const a = svc.hostRef();
  const b = addTestHost(svc.db, 'restart-host-b', { address: '192.0.2.2' });
  const agentB = withoutStorage(new RecordingAgent());
  svc.hosts.attach(b, agentB);
  const vm = await h.newVm({ name_label: 'protected', ha_restart_priority: 'restart' });
  const plain = await h.newVm({ name_label: 'unprotected' });
  for (const v of [vm, plain]) await h.call('VM.start_on', v, b, false, false);
  const uuid = String(h.record('VM', vm).uuid);

  // B dies: its agent gone, its record not live, its manager silent.
  const setConnected = (value: boolean) =>
    Object.defineProperty(agentB, 'connected', { value, configurable: true });
  setConnected(false);
  svc.db.update('host_metrics', String(h.record('host', b).metrics), { live: false });
  let managerAsked = 0;
  const watcher = new AutoRestart(
    svc,
    (v) => h.call('VM.start', v, false, false),
    1000,
    async () => {
      managerAsked++;
      return false;
    },
  );
  await watcher.round(0);
  await watcher.round(59_999);
  assert.equal(h.record('VM', vm).resident_on, b, 'not before 60 s');
  assert.ok(managerAsked >= 2, 'the member manager is asked');
  await watcher.round(60_000);
  assert.equal(h.record('VM', vm).resident_on, a, 'restarted on the live host');
  assert.equal(h.record('VM', vm).power_state, 'Running');
  assert.deepEqual(
    h.agent.calls.filter(([c, u]) => c === 'start' && u === uuid),
    [['start', uuid]],
  );
  assert.equal(h.record('VM', plain).resident_on, b, 'the unprotected VM waits for its host');
  assert.equal(h.record('VM', plain).power_state, 'Running');

  // B back, its QEMU of the VM still there: stopped.
  setConnected(true);
  agentB.all = async () => [{ uuid, state: 'running' } as never];
  await watcher.round(61_000);
  assert.deepEqual(
    agentB.calls.filter(([c]) => c === 'shutdown'),
    [['shutdown', uuid]],
  );
});

test('a round: a host whose manager still answers is not dead', async (t) => {
  const h = await harness(t);
  const { svc } = h.m.manager;
  const b = addTestHost(svc.db, 'restart-host-c', { address: '192.0.2.3' });
  const agentB = withoutStorage(new RecordingAgent());
  svc.hosts.attach(b, agentB);
  const vm = await h.newVm({ name_label: 'protected', ha_restart_priority: 'restart' });
  await h.call('VM.start_on', vm, b, false, false);
  Object.defineProperty(agentB, 'connected', { value: false, configurable: true });
  svc.db.update('host_metrics', String(h.record('host', b).metrics), { live: false });
  const watcher = new AutoRestart(
    svc,
    (v) => h.call('VM.start', v, false, false),
    1000,
    async () => true,
  );
  await watcher.round(0);
  await watcher.round(120_000);
  assert.equal(h.record('VM', vm).resident_on, b);
  assert.equal(h.record('VM', vm).power_state, 'Running');
});
