// Faults around role changes: writes racing pool.designate_new_master are refused or kept, never
// lost; a member's clock comes from its own agent (HOST_OFFLINE when it is gone); an
// Async.pool.join's task stays reachable on the host that became a slave.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { XenApiClient, XenApiError } from '../../../src/clients/sdk/client.js';
import { NodedAgentClient } from '../../../src/manager/hosts/host-client.js';
import type { RoleRequest } from '../../../src/manager/pool/service.js';
import { asApiCall } from '../../../src/manager/pool/write-fence.js';
import { parseXapiTime } from '../../../src/manager/time.js';
import { expectError } from './expect.js';
import { startPoolHosts, waitFor } from './harness.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Two hosts, a joined to master m; returns once m sees a live (`live` asks again). */
async function joinedPair(t: TestContext) {
  const { members } = await startPoolHosts(t, [{}, {}]);
  const [m, a] = members;
  await (await a.client()).call('pool.join', m.address, 'root', m.rootPassword);
  const aRef = a.manager!.svc.hostRef();
  const cm = await m.client();
  const live = async () => cm.call('host_metrics.get_live', await cm.call('host.get_metrics', aRef));
  await waitFor('a live', live);
  return { m, a, aRef, cm, live };
}

test('writes racing designate_new_master are refused or on the new master', {
  timeout: 90_000,
}, async (t) => {
  const { m, a, aRef, cm } = await joinedPair(t);

  // The new master takes its time to apply the dump, so that writes land on the old master
  // between its dump and its switch to slave.
  const aPool = a.manager!.svc.pool!;
  const becomeMaster = aPool.handleRoleRequest.bind(aPool);
  let fencedWrite: unknown;
  aPool.handleRoleRequest = async (req: RoleRequest) => {
    if (req.action === 'become-master') {
      await sleep(400);
      // An API call already past the gate on the old master cannot write any more.
      const net = [...m.manager!.db.all('network').keys()][0];
      try {
        asApiCall(() => m.manager!.db.update('network', net, { name_description: 'late' }));
      } catch (e) {
        fencedWrite = e;
      }
    }
    return becomeMaster(req);
  };

  // Writers on the old master throughout the designate, each on its own connection.
  const acked: string[] = [];
  const refused: string[] = [];
  let stop = false;
  const writer = async (w: number) => {
    const c = new XenApiClient({ url: m.url, timeoutMs: 30_000 });
    await c.login('root', m.rootPassword);
    for (let i = 0; !stop; i++) {
      try {
        acked.push(
          String(
            await c.raw('network.create', [
              c.sessionRef,
              { name_label: `race-${w}-${i}`, name_description: '', other_config: {} },
            ]),
          ),
        );
      } catch (e) {
        assert.ok(e instanceof XenApiError, String(e));
        assert.equal(e.code, 'HOST_IS_SLAVE', `${e.code} ${e.params}`);
        assert.deepEqual(e.params, [a.address]);
        refused.push(e.code);
        await sleep(20);
      }
    }
  };
  const writers = [0, 1, 2, 3].map(writer);
  await waitFor('writes before the designate', () => acked.length >= 8);
  await cm.call('pool.designate_new_master', aRef);
  await sleep(150);
  stop = true;
  await Promise.all(writers);

  assert.ok(acked.length > 0 && refused.length > 0, `acked ${acked.length}, refused ${refused.length}`);
  const ca = await a.client();
  const onNewMaster = new Set(await ca.call('network.get_all'));
  const lost = acked.filter((ref) => !onNewMaster.has(ref));
  assert.deepEqual(lost, [], 'every acknowledged write is on the new master');
  assert.ok(fencedWrite instanceof XenApiError && fencedWrite.code === 'HOST_IS_SLAVE', String(fencedWrite));
  // The old master's replica converges to the same rows.
  await waitFor('old master replica', () => acked.every((ref) => m.manager!.db.has('network', ref)));
  // A write by an API call on a slave is refused; replication still writes.
  assert.throws(
    () => asApiCall(() => m.manager!.db.create('network', { name_label: 'on-slave' })),
    (e: unknown) => e instanceof XenApiError && e.code === 'HOST_IS_SLAVE' && e.params[0] === a.address,
  );
});

test('a failed designate lifts the fence: the master keeps serving writes', {
  timeout: 60_000,
}, async (t) => {
  const { m, a, aRef, cm } = await joinedPair(t);
  const aPool = a.manager!.svc.pool!;
  aPool.handleRoleRequest = async () => {
    throw new Error('refused by the test');
  };
  await expectError(cm.call('pool.designate_new_master', aRef), 'INTERNAL_ERROR');
  const net = String(
    await cm.raw('network.create', [
      cm.sessionRef,
      { name_label: 'after-failed-designate', name_description: '', other_config: {} },
    ]),
  );
  assert.ok(m.manager!.db.has('network', net));
  assert.equal(m.manager!.svc.pool!.isMaster(), true);
});

test("a member's server time is its agent's; HOST_OFFLINE once it is gone", {
  timeout: 60_000,
}, async (t) => {
  const { m, a, aRef, cm, live } = await joinedPair(t);

  // The agent's host_time procedure: its clock and its zone's offset.
  const direct = new NodedAgentClient(a.agentSocket);
  t.after(() => direct.close());
  const clock = await direct.hostTime();
  assert.ok(Math.abs(Date.parse(clock.utc) - Date.now()) < 5000);
  assert.equal(clock.offset_minutes, -new Date().getTimezoneOffset() || 0);

  const time = String(await cm.call('host.get_servertime', aRef));
  assert.match(time, /^\d{8}T\d{2}:\d{2}:\d{2}Z$/);
  assert.ok(Math.abs(parseXapiTime(time) - Date.now()) < 5000);
  assert.match(String(await cm.call('host.get_server_localtime', aRef)), /^\d{8}T\d{2}:\d{2}:\d{2}$/);
  assert.match(String(await cm.call('host.get_servertime', m.manager!.svc.hostRef())), /Z$/);

  await a.stopAgent();
  await waitFor('a offline', async () => !(await live()));
  assert.deepEqual((await expectError(cm.call('host.get_servertime', aRef), 'HOST_OFFLINE')).params, [aRef]);
  await expectError(cm.call('host.get_server_localtime', aRef), 'HOST_OFFLINE');
});

test('Async.pool.join: the task is reachable on the joined host and succeeds', {
  timeout: 60_000,
}, async (t) => {
  const { members } = await startPoolHosts(t, [{}, {}]);
  const [m, j] = members;
  const cj = await j.client();
  const task = String(await cj.raw('Async.pool.join', [cj.sessionRef, m.address, 'root', m.rootPassword]));
  const status = await waitFor('join task done', async () => {
    const s = String(await cj.call('task.get_status', task));
    return s === 'pending' ? undefined : s;
  });
  assert.equal(status, 'success', JSON.stringify(await cj.call('task.get_error_info', task)));
  assert.equal(j.manager!.svc.pool!.isMaster(), false);
  const record = await cj.call('task.get_record', task);
  assert.equal(record.status, 'success');
  await cj.call('task.destroy', task);
  // Anything else on the slave still answers HOST_IS_SLAVE.
  assert.deepEqual((await expectError(cj.call('VM.get_all'), 'HOST_IS_SLAVE')).params, [m.address]);
  assert.equal(readFileSync(join(j.dataDir, 'pool.conf'), 'utf8').trim(), `slave:${m.address}`);
});
