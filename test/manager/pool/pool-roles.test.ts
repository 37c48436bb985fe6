// A three-host pool on loopback: liveness from the agents' connections, designate_new_master,
// eject, emergency_transition_to_master and host.destroy of a dead host.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { XenApiClient, XenApiError } from '../../../src/clients/sdk/client.js';
import { offlineAware } from '../../../src/manager/pool/members.js';
import type { HostAgent } from '../../../src/manager/vm/host-agent.js';
import { expectError } from './expect.js';
import { type Member, startPoolHosts, waitFor } from './harness.js';

async function liveOn(c: XenApiClient, host: string): Promise<boolean> {
  const metrics = await c.call('host.get_metrics', host);
  return c.call('host_metrics.get_live', metrics);
}

async function redirectOf(m: Member, password: string): Promise<string[]> {
  const e = await expectError(new XenApiClient({ url: m.url }).login('root', password), 'HOST_IS_SLAVE');
  return e.params;
}

test('a member call fails HOST_OFFLINE when its agent cannot be reached', async () => {
  let connected = true;
  const client = {
    get connected() {
      return connected;
    },
    all: () => Promise.reject(new XenApiError('CANNOT_CONTACT_HOST', ['agent: ECONNRESET'])),
    version: () => Promise.reject(new Error('socket hang up')),
    info: () => Promise.reject(new XenApiError('HANDLE_INVALID', ['VM', 'x'])),
  } as unknown as HostAgent;
  const wrapped = offlineAware('OpaqueRef:h', client);
  // The connection broke under a call, before the push channel noticed.
  const e = await expectError(wrapped.all(), 'HOST_OFFLINE');
  assert.deepEqual(e.params, ['OpaqueRef:h']);
  await assert.rejects(wrapped.version(), /socket hang up/);
  // The agent's own errors pass through.
  await expectError(wrapped.info('x'), 'HANDLE_INVALID');
  connected = false;
  await expectError(wrapped.version(), 'HOST_OFFLINE');
});

test('pool of three: live, designate_new_master, eject, emergency master, host.destroy', {
  timeout: 180_000,
}, async (t) => {
  const { members } = await startPoolHosts(t, [{}, {}, {}]);
  const [m, a, b] = members;
  const password = m.rootPassword;
  for (const x of [a, b]) await (await x.client()).call('pool.join', m.address, 'root', password);
  const cm = await m.client();
  const refs = new Map(members.map((x) => [x, x.manager!.svc.hostRef()]));
  const ref = (x: Member) => refs.get(x)!;
  for (const x of members) await waitFor(`${x.name} live`, () => liveOn(cm, ref(x)));

  // Records of VMs said to run on a and on m, with no QEMU behind either: a's reconnection
  // reconciles a's VMs only.
  const mdb = m.manager!.db;
  const onA = mdb.create('VM', { name_label: 'ghost-a', power_state: 'Running', resident_on: ref(a) });
  const onM = mdb.create('VM', { name_label: 'ghost-m', power_state: 'Running', resident_on: ref(m) });

  // An agent goes away: its host is offline, calls to it fail HOST_OFFLINE, the rest is served.
  await a.stopAgent();
  await waitFor('a offline', async () => !(await liveOn(cm, ref(a))));
  await expectError(cm.call('host.call_plugin', ref(a), 'echo', 'main', {}), 'HOST_OFFLINE');
  assert.equal(typeof (await cm.call('host.get_servertime', ref(b))), 'string');
  assert.equal(await liveOn(cm, ref(b)), true);
  await a.startAgent();
  await waitFor('a live again', () => liveOn(cm, ref(a)));
  await waitFor('ghost-a halted', () => mdb.get('VM', onA)?.power_state === 'Halted');
  assert.equal(mdb.get('VM', onM)?.power_state, 'Running', "m's VMs are not a's to reconcile");
  mdb.destroy('VM', onA);
  mdb.destroy('VM', onM);

  // host.enable / host.disable work for a member.
  // auto_enable=false is the member's own choice: the master's file for its own host is untouched.
  await cm.call('host.disable', ref(b), false);
  assert.equal(await cm.call('host.get_enabled', ref(b)), false);
  assert.equal(existsSync(join(m.dataDir, 'host-auto-enable')), false);
  await cm.call('host.enable', ref(b));
  assert.equal(await cm.call('host.get_enabled', ref(b)), true);

  // The master moves to a: it holds the database, the others follow it.
  await cm.call('pool.designate_new_master', ref(a));
  assert.deepEqual(await redirectOf(m, password), [a.address]);
  await waitFor('b follows a', async () => (await redirectOf(b, password))[0] === a.address);
  const ca = await a.client();
  const pool = Object.values(await ca.call('pool.get_all_records'))[0];
  assert.equal(pool.master, ref(a));
  assert.equal((await ca.call('host.get_all')).length, 3);
  for (const x of members) await waitFor(`${x.name} live under a`, () => liveOn(ca, ref(x)));

  // A slave restarted keeps its role and its replica.
  await b.close();
  await b.open();
  assert.deepEqual(await redirectOf(b, password), [a.address]);
  assert.equal(b.manager!.db.count('host'), 3);

  // b leaves: a standalone pool of its own.
  await ca.call('pool.eject', ref(b));
  assert.equal((await ca.call('host.get_all')).length, 2);
  const cb = new XenApiClient({ url: b.url });
  await cb.login('root', b.rootPassword);
  const bHosts = await cb.call('host.get_all');
  assert.deepEqual(bHosts, [ref(b)]);
  const bPool = Object.values(await cb.call('pool.get_all_records'))[0];
  assert.equal(bPool.master, ref(b));
  // The master cannot be ejected.
  await expectError(ca.call('pool.eject', ref(a)), 'OPERATION_NOT_ALLOWED');

  // The master dies: m (its slave) takes over from its replica.
  await waitFor('m replica has 2 hosts', () => m.manager!.db.count('host') === 2);
  await a.close();
  const em = new XenApiClient({ url: m.url });
  const local = (await em.raw('session.slave_local_login_with_password', ['root', password])) as string;
  await em.raw('pool.emergency_transition_to_master', [local]);
  const cm2 = await m.client();
  const pool2 = Object.values(await cm2.call('pool.get_all_records'))[0];
  assert.equal(pool2.master, ref(m));

  // The dead host's record: refused while its agent answers, removed once it is gone.
  await waitFor('a live under m', () => liveOn(cm2, ref(a)));
  await expectError(cm2.call('host.destroy', ref(a)), 'HOST_IS_LIVE');
  await expectError(cm2.call('host.destroy', ref(m)), 'HOST_IS_LIVE');
  await a.stopAgent();
  await waitFor('a offline under m', async () => !(await liveOn(cm2, ref(a))));
  await cm2.call('host.destroy', ref(a));
  assert.deepEqual(await cm2.call('host.get_all'), [ref(m)]);
});

test('the master restarts: members reconnect and slaves resync', { timeout: 90_000 }, async (t) => {
  const { members } = await startPoolHosts(t, [{}, {}]);
  const [m, j] = members;
  await (await j.client()).call('pool.join', m.address, 'root', m.rootPassword);
  const jRef = j.manager!.svc.hostRef();
  await m.close();
  await m.open();
  const cm = await m.client();
  assert.equal((await cm.call('host.get_all')).length, 2);
  await waitFor('j live after the master restarted', () => liveOn(cm, jRef));
  const pool = (await cm.call('pool.get_all'))[0];
  await cm.call('pool.set_name_description', pool, 'after-restart');
  await waitFor('replica after the restart', () =>
    [...j.manager!.db.all('pool').values()].some((p) => p.name_description === 'after-restart'),
  );
  assert.deepEqual(await redirectOf(j, m.rootPassword), [m.address]);
});

test('the master dies: a slave takes over and recovers the other slaves', { timeout: 90_000 }, async (t) => {
  const { members } = await startPoolHosts(t, [{}, {}, {}]);
  const [m, a, b] = members;
  for (const x of [a, b]) await (await x.client()).call('pool.join', m.address, 'root', m.rootPassword);
  const bRef = b.manager!.svc.hostRef();
  await waitFor('a has the 3 hosts', () => a.manager!.db.count('host') === 3);
  await m.close();
  await m.stopAgent();
  const ea = new XenApiClient({ url: a.url });
  // Emergency calls need a local session: a master session is refused, as the rest.
  await expectError(ea.login('root', m.rootPassword), 'HOST_IS_SLAVE');
  const local = (await ea.raw('session.slave_local_login_with_password', ['root', a.rootPassword])) as string;
  await expectError(ea.raw('VM.get_all', [local]), 'HOST_IS_SLAVE');
  await ea.raw('pool.emergency_transition_to_master', [local]);
  const ca = await a.client();
  assert.deepEqual(await ca.call('pool.recover_slaves'), [bRef]);
  assert.deepEqual(await redirectOf(b, a.rootPassword), [a.address]);
  await waitFor('b live under a', () => liveOn(ca, bRef));
});
