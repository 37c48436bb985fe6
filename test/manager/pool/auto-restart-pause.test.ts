// The watcher pause (Ganeti's set_watcher_pause, issue 18 slice bdev-misc): while this host's
// agent reports a pause, the automatic restart keeps timing dead hosts but resets and starts no VM;
// once the pause is over (or was never set, or the agent cannot say) it acts as before.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AutoRestart } from '../../../src/manager/pool/auto-restart.js';
import { nodeStorageClient } from '../../../src/shared/host/node-storage.js';
import { addTestHost } from '../../helpers/pool-host.js';
import { withoutStorage } from '../../helpers/test-agent.js';
import { harness, RecordingAgent } from '../setters/harness.js';

test('a paused watcher restarts nothing; after the pause the protected VM restarts', async (t) => {
  const h = await harness(t);
  const { svc } = h.m.manager;
  const a = svc.hostRef();
  const b = addTestHost(svc.db, 'pause-host-b', { address: '192.0.2.3' });
  const agentB = withoutStorage(new RecordingAgent());
  svc.hosts.attach(b, agentB);
  const vm = await h.newVm({ name_label: 'protected', ha_restart_priority: 'restart' });
  await h.call('VM.start_on', vm, b, false, false);
  Object.defineProperty(agentB, 'connected', { value: false, configurable: true });
  svc.db.update('host_metrics', String(h.record('host', b).metrics), { live: false });

  // This host's agent answers get_watcher_pause: paused until t = 100 s.
  let until: number | null = 100;
  const asked: string[] = [];
  Object.defineProperty(svc.hosts.get(a), 'nodeStorage', {
    configurable: true,
    value: nodeStorageClient(async (name) => {
      asked.push(name);
      return name === 'get_watcher_pause' ? until : null;
    }),
  });
  const watcher = new AutoRestart(
    svc,
    (v) => h.call('VM.start', v, false, false),
    1000,
    async () => false,
  );
  await watcher.round(0);
  await watcher.round(60_000);
  await watcher.round(99_000);
  assert.equal(h.record('VM', vm).resident_on, b, 'paused: not restarted');
  assert.ok(asked.includes('get_watcher_pause'));
  await watcher.round(100_000); // the pause's end is exclusive, as Ganeti's
  assert.equal(h.record('VM', vm).resident_on, a, 'restarted once the pause is over');

  // An agent that cannot answer does not block the watcher (logged).
  until = null;
  Object.defineProperty(svc.hosts.get(a), 'nodeStorage', {
    configurable: true,
    value: nodeStorageClient(async () => {
      throw new Error('agent gone');
    }),
  });
  await watcher.round(101_000);
});
