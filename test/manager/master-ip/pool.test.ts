// The pool's floating management address on a real two-member pool in one process: each member's
// real agent works in a network namespace of its own (never the machine's interfaces), so the
// address is seen in the kernel moving with the master role: pool other_config sets it on the
// master, a netmask change re-adds it, designate_new_master and emergency_transition_to_master
// move it, removing the key removes it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addresses } from '../../../src/agent/master-ip/address.js';
import { networkProcedures } from '../../../src/agent/network/procedures.js';
import { XenApiClient } from '../../../src/clients/sdk/client.js';
import { netns } from '../../agent/network/netns.js';
import { startPoolHosts, waitFor } from '../pool/harness.js';

const held = async (ns: string) =>
  (await addresses({ netns: ns }, 'xenbr-mip')).map((a) => `${a.ip}/${a.prefix}`);

test('master IP follows the master role in a pool of two', { timeout: 120_000 }, async (t) => {
  const ns = [await netns(t, 'mipa'), await netns(t, 'mipb')];
  for (const n of ns) await networkProcedures({ netns: n }).bridge_create('xenbr-mip', undefined);
  const { members } = await startPoolHosts(
    t,
    ns.map((n) => ({ agent: { network: { netns: n }, masterIp: { arping: false as const } } })),
  );
  const [m, a] = members;
  await (await a.client()).call('pool.join', m.address, 'root', m.rootPassword);
  const cm = await m.client();
  const pool = (await cm.call('pool.get_all'))[0];
  const refOf = (x: typeof m) => x.manager!.svc.hostRef();

  await cm.call('pool.add_to_other_config', pool, 'berth-master-ip-device', 'xenbr-mip');
  await cm.call('pool.add_to_other_config', pool, 'berth-master-ip', '10.79.0.5/24');
  await waitFor('address on m', async () => (await held(ns[0])).includes('10.79.0.5/24'));
  assert.deepEqual(await held(ns[1]), []);
  await waitFor(
    'status active',
    async () => (await cm.call('pool.get_master_ip_status', pool)).active === 'true',
  );
  assert.deepEqual(await cm.call('pool.get_master_ip_status', pool), {
    wanted: '10.79.0.5/24',
    device: 'xenbr-mip',
    master: refOf(m),
    active: 'true',
    error: '',
  });

  // A netmask change is node_change_master_netmask: same address, new prefix.
  await cm.call('pool.remove_from_other_config', pool, 'berth-master-ip');
  await cm.call('pool.add_to_other_config', pool, 'berth-master-ip', '10.79.0.5/16');
  await waitFor('netmask /16 on m', async () => (await held(ns[0])).join() === '10.79.0.5/16');

  // A malformed value: reported, and the address removed (nothing half-applied).
  await cm.call('pool.remove_from_other_config', pool, 'berth-master-ip');
  await cm.call('pool.add_to_other_config', pool, 'berth-master-ip', '10.79.0.5/99');
  await waitFor('gone from m', async () => (await held(ns[0])).length === 0);
  assert.match((await cm.call('pool.get_master_ip_status', pool)).error, /expected an IPv4 address/);
  await cm.call('pool.remove_from_other_config', pool, 'berth-master-ip');
  await cm.call('pool.add_to_other_config', pool, 'berth-master-ip', '10.79.0.5/16');
  await waitFor('back on m', async () => (await held(ns[0])).join() === '10.79.0.5/16');

  // designate_new_master: a holds it, m does not.
  await cm.call('pool.designate_new_master', refOf(a));
  await waitFor('address on a', async () => (await held(ns[1])).join() === '10.79.0.5/16', 20_000);
  await waitFor('gone from m after designate', async () => (await held(ns[0])).length === 0, 20_000);
  const ca = await a.client();
  assert.equal((await ca.call('pool.get_master_ip_status', pool)).master, refOf(a));

  // a's manager dies; m takes over in an emergency: m holds it, and a's agent (still up, its
  // kernel still holding the address) loses it once m connects to it.
  await a.close();
  const em = new XenApiClient({ url: m.url });
  const local = (await em.raw('session.slave_local_login_with_password', ['root', m.rootPassword])) as string;
  await em.raw('pool.emergency_transition_to_master', [local]);
  await waitFor('address on m again', async () => (await held(ns[0])).join() === '10.79.0.5/16', 20_000);
  await waitFor('gone from a', async () => (await held(ns[1])).length === 0, 20_000);

  // The key removed: nobody holds it.
  const cm2 = await m.client();
  await cm2.call('pool.remove_from_other_config', pool, 'berth-master-ip');
  await waitFor('gone everywhere', async () => (await held(ns[0])).length === 0);
});
