// The manager's storage over the real agent RPC: a manager started before its host's agent serves
// meanwhile and starts storage (SM objects, default SR, start-up scan) when the agent connects;
// VDIs then live under the agent's roots; with the agent gone, storage calls are
// CANNOT_CONTACT_HOST, not in-process work.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { hostForSr, storageOf } from '../../../src/manager/storage/sr-host.js';
import { NodedAgentClient } from '../../../src/manager/hosts/host-client.js';
import { startManager } from '../../helpers/manager.js';
import { waitFor } from '../../helpers/stack.js';
import { startAgentIn } from '../../helpers/test-agent.js';
import { tempDir } from '../../helpers/tmp.js';
import { code, startStorageManager } from './harness.js';

test('storage starts when the agent connects and runs over its RPC', async (t) => {
  const agentDir = tempDir(t, 'berth-late-agent-');
  const dataDir = tempDir(t);
  const client = new NodedAgentClient(join(agentDir, 'sock', 'agent.sock'));
  // No agent yet: Manager.open waits 200 ms, then serves without storage.
  const m = await startManager(t, { dataDir, agent: client, storage: { waitMs: 200 } });
  const { svc } = m.manager;
  const session = svc.sessions.validate(svc.sessions.localLogin('over-rpc-test'));
  const call = (wire: string, ...args: unknown[]) => svc.call(session, wire, args) as Promise<any>;
  assert.equal(m.manager.storageReport, undefined);
  assert.equal(svc.storageDrivers, undefined);
  await assert.rejects(call('SR.get_supported_types'), code('CANNOT_CONTACT_HOST'));

  const { agent } = await startAgentIn(agentDir, { stateRoot: dataDir });
  t.after(() => agent.close());
  await waitFor(() => m.manager.storageReport !== undefined, 20_000, 'storage start at agent connect');
  assert.deepEqual((await call('SR.get_supported_types')).sort(), ['ext', 'file', 'iso', 'lvm', 'nfs']);
  assert.equal(svc.db.count('SM'), 5);
  const pool = [...svc.db.all('pool').values()][0];
  const sr = String(pool.default_SR);
  assert.equal(svc.db.get('SR', sr)?.type, 'file');
  const vdi = await call('VDI.create', {
    SR: sr,
    virtual_size: 4 * 1024 * 1024,
    type: 'user',
    sharable: false,
    read_only: false,
    other_config: {},
    name_label: 'over-rpc',
  });
  const uuid = String(svc.db.get('VDI', vdi)!.uuid);
  assert.ok(existsSync(join(dataDir, 'sr', 'default', `${uuid}.qcow2`)), 'the agent made the volume');

  // The agent goes away: storage calls cannot reach it (nothing runs in the manager's process).
  await agent.close();
  await waitFor(() => !client.connected, 10_000, 'agent disconnect');
  await assert.rejects(call('VDI.destroy', vdi), code('CANNOT_CONTACT_HOST'));
  assert.ok(existsSync(join(dataDir, 'sr', 'default', `${uuid}.qcow2`)));
});

test('an SR is served by the host of its plugged PBD; that host offline is HOST_OFFLINE', async (t) => {
  const m = await startStorageManager(t);
  const { svc } = m.manager;
  const { db } = svc;
  const sr = String([...db.all('pool').values()][0].default_SR);
  const pbd = (db.get('SR', sr)!.PBDs as string[])[0];
  assert.equal(hostForSr(svc, sr), svc.hostRef());
  const other = db.create('host', { name_label: 'other', hostname: 'other', address: '192.0.2.7' });
  // Plugged only on the other host (a pool member whose agent is not connected).
  db.update('PBD', pbd, { host: other });
  assert.equal(hostForSr(svc, sr), other);
  assert.throws(() => storageOf(svc, sr), code('HOST_OFFLINE', [other]));
  // Plugged on both: this host, the pool master, serves it.
  db.create('PBD', {
    host: svc.hostRef(),
    SR: sr,
    device_config: {},
    currently_attached: true,
    other_config: {},
  });
  assert.equal(hostForSr(svc, sr), svc.hostRef());
  // None plugged: this host.
  for (const p of db.get('SR', sr)!.PBDs as string[]) db.update('PBD', p, { currently_attached: false });
  assert.equal(hostForSr(svc, sr), svc.hostRef());
});
