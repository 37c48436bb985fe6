// Pool membership on loopback: real managers and real agents, joined through the API alone.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { XenApiClient, XenApiError } from '../../../src/clients/sdk/client.js';
import { startPoolHosts, waitFor } from './harness.js';

async function expectError(p: Promise<unknown>, code: string): Promise<XenApiError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof XenApiError, `expected ${code}, got ${String(e)}`);
    assert.equal(e.code, code, `expected ${code}, got ${e.code} ${e.params}`);
    return e;
  }
  assert.fail(`expected ${code}, the call succeeded`);
}

test('a host joins a pool through the API; the slave redirects with HOST_IS_SLAVE', {
  timeout: 60_000,
}, async (t) => {
  const { members } = await startPoolHosts(t, [{}, {}]);
  const [m, j] = members;
  const cj = await j.client();
  await cj.call('pool.join', m.address, 'root', m.rootPassword);

  // The master has the joined host, its metrics, CPUs and control domain.
  const cm = await m.client();
  const hosts = (await cm.call('host.get_all_records')) as Record<string, Record<string, unknown>>;
  assert.equal(Object.keys(hosts).length, 2);
  const jRef = Object.keys(hosts).find((r) => hosts[r].uuid === j.hostUuid)!;
  assert.ok(jRef, 'joined host on the master');
  const cpus = (await cm.call('host_cpu.get_all_records')) as Record<string, { host: string }>;
  assert.ok(Object.values(cpus).some((c) => c.host === jRef));
  const vms = (await cm.call('VM.get_all_records')) as Record<string, Record<string, unknown>>;
  assert.ok(Object.values(vms).some((v) => v.is_control_domain && v.resident_on === jRef));
  const pool = Object.values(
    (await cm.call('pool.get_all_records')) as Record<string, { master: string }>,
  )[0];
  assert.notEqual(pool.master, jRef);

  // The joined host's agent is reached by the master: live.
  await waitFor('joined host live', async () => {
    const metrics = await cm.call('host.get_metrics', jRef as never);
    return (await cm.call('host_metrics.get_live', metrics as never)) === true;
  });

  // The slave refuses logins with the master's address.
  const direct = new XenApiClient({ url: j.url });
  const e = await expectError(direct.login('root', j.rootPassword), 'HOST_IS_SLAVE');
  assert.deepEqual(e.params, [m.address]);

  // The slave's replica follows the master.
  await cm.call(
    'pool.set_name_label',
    Object.keys((await cm.call('pool.get_all_records')) as object)[0] as never,
    'replicated' as never,
  );
  await waitFor('replica', () => {
    const pools = [...j.manager!.db.all('pool').values()];
    return pools.length === 1 && pools[0].name_label === 'replicated';
  });
  assert.ok(j.manager!.db.get('host', jRef));
});
