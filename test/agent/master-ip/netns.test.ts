// The master IP procedures on the real kernel, inside a namespace the test creates (never the
// machine's own interfaces): add/remove on a Berth bridge and a configured device (a veth),
// idempotence, netmask change, refusals before any command runs.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addresses } from '../../../src/agent/master-ip/address.js';
import { masterIpProcedures } from '../../../src/agent/master-ip/rpc.js';
import { networkProcedures } from '../../../src/agent/network/procedures.js';
import { ipIn, netns } from '../network/netns.js';

const held = async (ns: string, dev: string) =>
  (await addresses({ netns: ns }, dev)).map((a) => `${a.ip}/${a.prefix}`);

test('master IP: activate, idempotent, change netmask, deactivate on a Berth bridge', async (t) => {
  const ns = await netns(t, 'mip');
  await networkProcedures({ netns: ns }).bridge_create('xenbr-mip', undefined);
  const p = masterIpProcedures({ netns: ns, arping: false });
  const params = { ip: '10.77.0.5', netmask: 24, netdev: 'xenbr-mip', ip_family: 'inet' };
  assert.equal(await p.node_has_ip_address('10.77.0.5'), false);
  assert.deepEqual(await p.node_activate_master_ip(params, false), { changed: true, gratuitous_arp: false });
  assert.deepEqual(await held(ns, 'xenbr-mip'), ['10.77.0.5/24']);
  assert.equal(await p.node_has_ip_address('10.77.0.5'), true);
  // Again: nothing changes, no error ("File exists" would be ip's).
  assert.equal(((await p.node_activate_master_ip(params, false)) as { changed: boolean }).changed, false);
  assert.deepEqual(await held(ns, 'xenbr-mip'), ['10.77.0.5/24']);
  // Ganeti's netmask change: the address stays up, with the new prefix only.
  assert.equal(
    ((await p.node_change_master_netmask(24, 16, '10.77.0.5', 'xenbr-mip')) as { changed: boolean }).changed,
    true,
  );
  assert.deepEqual(await held(ns, 'xenbr-mip'), ['10.77.0.5/16']);
  assert.equal(
    ((await p.node_change_master_netmask(24, 16, '10.77.0.5', 'xenbr-mip')) as { changed: boolean }).changed,
    false,
  );
  // Deactivate removes it whatever its prefix; twice is fine.
  assert.equal(((await p.node_deactivate_master_ip(params, false)) as { changed: boolean }).changed, true);
  assert.deepEqual(await held(ns, 'xenbr-mip'), []);
  assert.equal(((await p.node_deactivate_master_ip(params, false)) as { changed: boolean }).changed, false);
  // Netmask change with the address down: a clear error.
  await assert.rejects(
    p.node_change_master_netmask(24, 16, '10.77.0.5', 'xenbr-mip'),
    /INVALID_VALUE: master_ip/,
  );
});

test('master IP: only a Berth bridge or a configured device; bad input refused', async (t) => {
  const ns = await netns(t, 'mip');
  // A veth stands for a NIC (this kernel may lack the dummy module).
  await ipIn(ns, 'link', 'add', 'dummy-mip', 'type', 'veth', 'peer', 'name', 'dummy-mip-p');
  await ipIn(ns, 'link', 'add', 'adminbr', 'type', 'bridge');
  const params = { ip: '10.78.0.9', netmask: 24, netdev: 'dummy-mip', ip_family: 'inet' };
  const plain = masterIpProcedures({ netns: ns, arping: false });
  // Not configured, and an administrator's bridge: refused, nothing added.
  await assert.rejects(plain.node_activate_master_ip(params, false), /INVALID_VALUE: netdev, dummy-mip/);
  await assert.rejects(
    plain.node_activate_master_ip({ ...params, netdev: 'adminbr' }, false),
    /INVALID_VALUE: netdev, adminbr/,
  );
  await assert.rejects(
    plain.node_activate_master_ip({ ...params, netdev: 'nosuch0' }, false),
    /INVALID_VALUE: netdev, nosuch0/,
  );
  assert.deepEqual(await held(ns, 'dummy-mip'), []);
  // Configured: allowed.
  const p = masterIpProcedures({ netns: ns, arping: false, devices: ['dummy-mip'] });
  await p.node_activate_master_ip(params, false);
  assert.deepEqual(await held(ns, 'dummy-mip'), ['10.78.0.9/24']);
  // Injection and junk: refused by the checks, before `ip` runs.
  const cases: [unknown, RegExp][] = [
    [{ ...params, ip: '10.0.0.1; reboot' }, /INVALID_VALUE: ip/],
    [{ ...params, ip: '10.0.0.256' }, /INVALID_VALUE: ip/],
    [{ ...params, netmask: 33 }, /INVALID_VALUE: netmask/],
    [{ ...params, netmask: '24' }, /INVALID_VALUE: netmask/],
    [{ ...params, netdev: 'dummy-mip label x' }, /INVALID_VALUE: netdev/],
    [{ ...params, netdev: '../eth0' }, /INVALID_VALUE: netdev/],
    [{ ...params, ip_family: 'inet6' }, /INVALID_VALUE: ip_family/],
    ['10.0.0.1', /INVALID_VALUE: params/],
  ];
  for (const [bad, re] of cases) await assert.rejects(p.node_activate_master_ip(bad, false), re);
  await assert.rejects(p.node_activate_master_ip(params, true), /INVALID_VALUE: use_external_mip_script/);
  await assert.rejects(p.node_has_ip_address('x'), /INVALID_VALUE: address/);
  await assert.rejects(
    p.node_change_master_netmask(24, -1, '10.78.0.9', 'dummy-mip'),
    /INVALID_VALUE: netmask/,
  );
  assert.deepEqual(await held(ns, 'dummy-mip'), ['10.78.0.9/24']);
});
