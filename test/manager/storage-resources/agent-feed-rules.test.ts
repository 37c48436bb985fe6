// The master's rules for agent messages (IML's AgentPluginHandler) on a real store, with stand-in
// agents whose queues the test fills: session ids, unknown sessions, seq gaps, unknown plugins,
// bad bodies, roots and their host.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { DevicePluginMessage, DevicePluginProcedures } from '../../../src/shared/host/device-plugins.js';
import { agentFeedClasses } from '../../../src/manager/storage-resources/agent-feed/classes.js';
import { AgentFeed, type FeedHost } from '../../../src/manager/storage-resources/agent-feed/feed.js';
import {
  agentRoot,
  hostIdOf,
  parseAgentRoot,
} from '../../../src/manager/storage-resources/agent-feed/roots.js';
import { ResourceStore } from '../../../src/manager/storage-resources/store.js';
import { PluginLoader } from '../../../src/shared/storage-resources/loader.js';
import { tempDir } from '../../helpers/tmp.js';

const lsblk = readFileSync(
  new URL('../../shared/storage-resources/fixtures/lsblk.json', import.meta.url),
  'utf8',
);

/** A stand-in agent: the test queues messages; the master's calls are recorded. */
function standIn() {
  const queue: DevicePluginMessage[] = [];
  const calls: string[] = [];
  const agent: DevicePluginProcedures = {
    device_plugin_take: async () => queue.splice(0),
    device_plugin_session_create: async (p, id) => {
      calls.push(`create ${p} ${id}`);
    },
    device_plugin_session_terminate: async (p, id) => {
      calls.push(`terminate ${p} ${id}`);
    },
    device_plugin_list: async () => [],
    device_plugin_run: async () => null,
  };
  return { queue, calls, agent };
}

const data = (id: string, seq: number, body: unknown, plugin = 'linux'): DevicePluginMessage => ({
  type: 'DATA',
  plugin,
  session_id: id,
  session_seq: seq,
  body,
});
const request = (plugin = 'linux'): DevicePluginMessage => ({
  type: 'SESSION_CREATE_REQUEST',
  plugin,
  session_id: null,
  session_seq: null,
  body: null,
});

function setUp(t: import('node:test').TestContext) {
  const store = new ResourceStore({ path: join(tempDir(t), 'berth.db') });
  const a = standIn();
  const host: FeedHost = { uuid: randomUUID(), name: 'h1', agent: a.agent };
  let ids = 0;
  const feed = new AgentFeed({
    store,
    classes: agentFeedClasses(new PluginLoader().describeClasses()),
    hosts: () => [host],
    timer: false,
    newSessionId: () => `S${++ids}`,
  });
  t.after(async () => {
    await feed.stop();
    store.close();
  });
  return { store, feed, host, root: agentRoot(host.uuid, 'linux'), ...a };
}

test('roots: host/<uuid>/<plugin>, parsed back; host_id from the uuid', () => {
  const u = '0c5a1b2c-3d4e-4f50-8a6b-7c8d9e0f1a2b';
  assert.equal(agentRoot(u, 'linux'), `host/${u}/linux`);
  assert.deepEqual(parseAgentRoot(`host/${u}/linux`), { hostUuid: u, plugin: 'linux' });
  for (const r of [u, `host/${u}`, `host/${u}/linux/x`, 'host/not-a-uuid/linux', `host/${u}/a b`])
    assert.equal(parseAgentRoot(r), null, r);
  assert.equal(hostIdOf(u), 0x0c5a1b2c3d4e);
});

test('a request gets a new id; DATA seq 0 opens the session, seq 1 continues', async (t) => {
  const { feed, store, root, queue, calls } = setUp(t);
  queue.push(request());
  await feed.cycle();
  assert.deepEqual(calls, ['create linux S1']);
  queue.push(data('S1', 0, { lsblk }), data('S1', 1, { lsblk: null }));
  await feed.cycle();
  assert.deepEqual(feed.sessions().get(root), { id: 'S1', seq: 1 });
  const classes = store.queries.resourcesOfRoot(root).map((r) => r.class);
  assert.ok(classes.includes('linux.UnsharedDevice'));
  assert.deepEqual(calls, ['create linux S1']);
});

test('unknown session ids and seq gaps are terminated; the resources stay', async (t) => {
  const { feed, store, root, queue, calls } = setUp(t);
  queue.push(request());
  await feed.cycle();
  queue.push(data('S1', 0, { lsblk }));
  await feed.cycle();
  const kept = store.queries.resourcesOfRoot(root).length;
  queue.push(data('OLD', 4, { lsblk: null })); // from before a master restart: not issued
  await feed.cycle();
  assert.equal(calls.at(-1), 'terminate linux OLD');
  assert.equal(feed.sessions().get(root)?.id, 'S1', 'the current session is untouched');
  queue.push(data('S1', 2, { lsblk: null })); // seq 1 lost
  await feed.cycle();
  assert.equal(calls.at(-1), 'terminate linux S1');
  assert.equal(feed.sessions().has(root), false);
  queue.push(data('S1', 3, { lsblk: null })); // still in flight from the agent: unknown now
  await feed.cycle();
  assert.equal(calls.at(-1), 'terminate linux S1');
  assert.equal(store.queries.resourcesOfRoot(root).length, kept);
  assert.equal(store.queries.alerts({ active: true, root }).length, 0);
  assert.equal(feed.counters.resets, 3);
});

test('a plugin the master does not run is ignored; a bad body ends the session offline', async (t) => {
  const { feed, store, root, queue, calls } = setUp(t);
  queue.push(request('zfs-magic'));
  await feed.cycle();
  assert.deepEqual(calls, []);
  queue.push(request());
  await feed.cycle();
  queue.push(data('S1', 0, { lsblk }), data('S1', 1, { lsblk: 42 }));
  await feed.cycle();
  assert.equal(calls.at(-1), 'terminate linux S1');
  const [offline] = store.queries.alerts({ active: true, root });
  assert.equal(offline.kind, 'offline');
  assert.equal(offline.message, 'linux plugin on h1 not contactable');
  // A null for a source never sent: the same.
  queue.push(request());
  await feed.cycle();
  queue.push(data('S2', 0, { mountinfo: null }));
  await feed.cycle();
  assert.equal(calls.at(-1), 'terminate linux S2');
  assert.equal(feed.sessions().has(root), false);
});
