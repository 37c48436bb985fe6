// Reconciliation after another host's agent (re)connects: only that host's VMs follow its report;
// its events say nothing about VMs resident elsewhere.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { AgentServer } from '../../../src/agent/server.js';
import { remoteAgentClient } from '../../../src/manager/hosts/remote-agent.js';
import { createPoolCa, issueHostCert } from '../../../src/shared/pki/pool-pki.js';
import { baseVmRecord } from '../../../src/manager/bootstrap/vm-record.js';
import { parseConfig } from '../../../src/manager/config.js';
import { Manager } from '../../../src/manager/manager.js';
import { attachAgent } from '../../../src/manager/vm/reconcile.js';
import { tempDir } from '../../helpers/tmp.js';
import { FakeAgent } from './fake-agent.js';
import { withoutStorage } from '../../helpers/test-agent.js';

const REMOTE = 'OpaqueRef:remote-host-transport-test';
const REMOTE_UUID = '44444444-4444-4444-8444-444444444444';
const MASTER_UUID = '55555555-5555-4555-8555-555555555555';

async function until(cond: () => boolean) {
  const end = Date.now() + 10_000;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
}

test("a remote agent's reconnection reconciles that host's VMs only", async (t) => {
  const dataDir = tempDir(t, 'berth-transport-');
  const config = parseConfig(
    ['--data-dir', dataDir, '--http-port', 'off', '--https-port', 'off', '--socket', join(dataDir, 'x.sock')],
    {},
  );
  const local = withoutStorage(new FakeAgent());
  const m = await Manager.open(config, { timers: false, agent: local, networking: false });
  t.after(() => m.close());
  const { svc, db } = m;
  const s = svc.sessions.validate(svc.sessions.localLogin());
  const vm = async (name: string) =>
    String(await svc.call(s, 'VM.create', [baseVmRecord({ name_label: name })]));
  const here = await vm('here');
  const there = await vm('there');
  const stray = await vm('stray');
  db.update('VM', here, { power_state: 'Running', resident_on: svc.hostRef() });
  db.update('VM', there, { power_state: 'Running', resident_on: REMOTE });
  const uuid = (ref: string) => String(db.get('VM', ref)!.uuid);
  local.instances.set(uuid(here), { uuid: uuid(here), state: 'running' });

  const remote = withoutStorage(new FakeAgent());
  attachAgent(svc, remote, async () => undefined, REMOTE);
  assert.equal(svc.hosts.peek(REMOTE), remote);
  // The remote host lost `there` and runs `stray` (Halted in the database, resident nowhere).
  remote.instances.set(uuid(stray), { uuid: uuid(stray), state: 'running' });
  remote.reconnected();
  await until(
    () => db.get('VM', there)!.power_state === 'Halted' && db.get('VM', stray)!.power_state === 'Running',
  );
  assert.equal(db.get('VM', there)!.power_state, 'Halted');
  assert.equal(db.get('VM', stray)!.power_state, 'Running');
  assert.equal(db.get('VM', stray)!.resident_on, REMOTE, 'adopted on the host that runs it');
  assert.equal(
    db.get('VM', here)!.power_state,
    'Running',
    "the local host's VM is not the remote's to judge",
  );

  // An event from the remote agent about a VM resident on this host changes nothing.
  remote.emit({ uuid: uuid(here), state: 'absent' });
  assert.equal(db.get('VM', here)!.power_state, 'Running');
  // The same event from the VM's own host does.
  local.emit({ uuid: uuid(here), state: 'absent' });
  assert.equal(db.get('VM', here)!.power_state, 'Halted');
});

test('over mutual TLS: the manager reconciles a remote host after its agent comes back', async (t) => {
  const dataDir = tempDir(t, 'berth-transport-');
  await createPoolCa(join(dataDir, 'pki'), 'test pool');
  await issueHostCert(join(dataDir, 'pki'), MASTER_UUID, '127.0.0.1', join(dataDir, 'pki'));
  const agentPki = await issueHostCert(
    join(dataDir, 'pki'),
    REMOTE_UUID,
    '127.0.0.1',
    join(dataDir, 'agent'),
  );
  const config = parseConfig(
    ['--data-dir', dataDir, '--http-port', 'off', '--https-port', 'off', '--socket', join(dataDir, 'x.sock')],
    {},
  );
  const m = await Manager.open(config, {
    timers: false,
    agent: withoutStorage(new FakeAgent()),
    networking: false,
  });
  t.after(() => m.close());
  const { svc, db } = m;
  const s = svc.sessions.validate(svc.sessions.localLogin());
  const vm = async (name: string) =>
    String(await svc.call(s, 'VM.create', [baseVmRecord({ name_label: name })]));
  const a = await vm('a');
  const b = await vm('b');
  const c = await vm('c');
  db.update('VM', a, { power_state: 'Running', resident_on: REMOTE });
  db.update('VM', b, { power_state: 'Running', resident_on: REMOTE });
  const uuid = (ref: string) => String(db.get('VM', ref)!.uuid);

  // The remote agent runs both VMs at first, and c, which the database has as Halted.
  let running = [uuid(a), uuid(b), uuid(c)];
  const server = new AgentServer({
    all_instances_info: () => running.map((u) => ({ uuid: u, state: 'running' })),
  });
  t.after(() => server.close());
  const { port } = await server.listenTcp('127.0.0.1', 0, agentPki);
  const client = remoteAgentClient(join(dataDir, 'pki'), '127.0.0.1', REMOTE_UUID, port);
  attachAgent(svc, client, async () => undefined, REMOTE);
  client.connect();
  await until(() => db.get('VM', c)!.power_state === 'Running');
  assert.ok(svc.hosts.live(REMOTE));
  assert.equal(db.get('VM', c)!.resident_on, REMOTE, 'reconciled at the first connection');
  assert.equal(db.get('VM', b)!.power_state, 'Running');

  // The agent goes away: the host is offline for calls; meanwhile VM b's QEMU dies.
  await server.closeTcp();
  await until(() => !svc.hosts.live(REMOTE));
  assert.throws(
    () => svc.hosts.get(REMOTE),
    (e: unknown) => (e as { code?: string }).code === 'HOST_OFFLINE',
  );
  running = [uuid(a), uuid(c)];
  await server.listenTcp('127.0.0.1', port, agentPki);
  await until(() => db.get('VM', b)!.power_state === 'Halted');
  assert.ok(svc.hosts.live(REMOTE));
  assert.equal(db.get('VM', b)!.power_state, 'Halted', 'reconciled after the reconnection');
  assert.equal(db.get('VM', a)!.power_state, 'Running');
});
