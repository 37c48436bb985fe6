// Three namespaced hosts form a pool through the API alone, over the harness's bridge (issue 13,
// item 6): every member's records on the master, HOST_IS_SLAVE with the master's address from a
// slave, `xe host-list` and XenAPI.py run on the hosts themselves, a slave's manager SIGKILLed and
// restarted stays a slave.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import type { XenApiError } from '../../src/clients/sdk/client.js';
import { defaultTemplates } from '../../src/manager/bootstrap/templates.js';
import { baseVmRecord } from '../../src/manager/bootstrap/vm-record.js';
import { killQemusUnder } from '../agent/helpers/guest.js';
import { hostLive, type PoolHost, qemuCmdline, startHosts } from '../helpers/pool-harness.js';
import { ensureGuest, GUEST_DIR, waitFor } from '../helpers/stack.js';

test('three namespaced hosts form a pool through the API', { timeout: 600_000 }, async (t) => {
  await ensureGuest();
  const pool = await startHosts(3, { t });
  for (const h of pool.hosts) t.after(() => killQemusUnder(h.runDir));
  const [m, s1, s2] = pool.hosts;
  // Slave 1 joins through the JSON-RPC API, slave 2 with `xe pool-join` on itself.
  await (await s1.client()).call('pool.join', m.address, 'root', m.rootPassword());
  const joined = await s2.xe([
    'pool-join',
    `master-address=${m.address}`,
    'master-username=root',
    `master-password=${m.rootPassword()}`,
  ]);
  assert.equal(joined.code, 0, joined.stderr);

  const master = await m.client();
  const hosts = await master.call('host.get_all');
  assert.equal(hosts.length, 3);
  const records = await Promise.all(hosts.map((h) => master.call('host.get_record', h)));
  assert.deepEqual(
    records.map((r) => r.address).sort(),
    pool.hosts.map((h) => h.address).sort(),
    'each member is known at its namespace address',
  );
  const poolRef = (await master.call('pool.get_all'))[0];
  const masterRec = records.find((r) => r.address === m.address)!;
  assert.equal(await master.call('pool.get_master', poolRef), hosts[records.indexOf(masterRec)]);
  const refOf = (h: PoolHost) => hosts[records.findIndex((r) => r.address === h.address)];

  // The master reaches every member's agent over TCP with mutual TLS (pool-issued certificates).
  await waitFor(
    async () => (await Promise.all(hosts.map((h) => hostLive(master, h)))).every(Boolean),
    60_000,
    'every host live',
  );

  // A VM on each host, placed with VM.start_on: its QEMU runs under that host's agent only.
  const guest = defaultTemplates(GUEST_DIR)[0].record;
  const vms = new Map<PoolHost, { vm: string; uuid: string }>();
  for (const h of pool.hosts) {
    const rec = baseVmRecord({ ...guest, name_label: `on-${h.hostname}` });
    const vm = await master.call('VM.create', rec as never);
    await master.call('VM.start_on', vm, refOf(h), false, false);
    const uuid = String(await master.call('VM.get_uuid', vm));
    assert.equal(await master.call('VM.get_resident_on', vm), refOf(h));
    assert.ok(qemuCmdline(h, uuid), `QEMU of ${uuid} under ${h.hostname}`);
    for (const other of pool.hosts) if (other !== h) assert.equal(qemuCmdline(other, uuid), undefined);
    vms.set(h, { vm, uuid });
  }

  // A slave's agent SIGKILLed: its VM keeps running, host.live goes false, then true again after
  // a restart, and the VM is still Running there.
  await s1.kill('agent');
  await waitFor(async () => !(await hostLive(master, refOf(s1))), 30_000, 'slave 1 not live');
  assert.ok(qemuCmdline(s1, vms.get(s1)!.uuid), 'the VM outlives its agent');
  await assert.rejects(master.call('VM.pause', vms.get(s1)!.vm), (e: XenApiError) => {
    assert.equal(e.code, 'HOST_OFFLINE');
    return true;
  });
  await s1.start('agent');
  await waitFor(() => hostLive(master, refOf(s1)), 60_000, 'slave 1 live again');
  assert.equal(await master.call('VM.get_power_state', vms.get(s1)!.vm), 'Running');

  // A slave answers a login with HOST_IS_SLAVE and the master's address.
  await assert.rejects(s1.client(), (e: XenApiError) => {
    assert.equal(e.code, 'HOST_IS_SLAVE');
    assert.deepEqual(e.params, [m.address]);
    return true;
  });

  // xe on slave 2, against the master across the bridge, lists all three hosts by hostname.
  const xe = await s2.xe(['host-list', 'params=hostname', '--minimal'], m);
  assert.equal(xe.code, 0, xe.stderr);
  assert.deepEqual(xe.stdout.trim().split(',').sort(), pool.hosts.map((h) => h.hostname).sort());

  // XenAPI.py on slave 2, pointed at slave 1, follows HOST_IS_SLAVE to the master.
  if (existsSync('/usr/lib/python3/dist-packages/os_xenapi')) {
    const code = [
      'import sys',
      'from os_xenapi.client import XenAPI',
      'slave, pw = sys.argv[1:3]',
      's = XenAPI.Session("http://%s/" % slave)',
      'try:',
      '    s.xenapi.login_with_password("root", pw, "2.21", "harness-test")',
      '    print("no-redirect")',
      'except XenAPI.Failure as f:',
      '    assert f.details[0] == "HOST_IS_SLAVE", f.details',
      '    s = XenAPI.Session("http://%s/" % f.details[1])',
      '    s.xenapi.login_with_password("root", pw, "2.21", "harness-test")',
      '    print(len(s.xenapi.host.get_all()), f.details[1])',
    ].join('\n');
    const r = await s2.exec('/usr/bin/python3', ['-c', code, s1.address, m.rootPassword()]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), `3 ${m.address}`);
  } else t.diagnostic('python3-os-xenapi not installed: XenAPI.py part skipped');

  // A slave's manager SIGKILLed and restarted is still the master's slave.
  await s1.kill('manager');
  await assert.rejects(s1.call('system.listMethods', []), 'the slave is down');
  await s1.start('manager');
  const deadline = Date.now() + 60_000;
  for (;;) {
    const e = await s1.call('session.login_with_password', ['root', m.rootPassword(), '2.21', 't']).then(
      () => undefined,
      (x: XenApiError) => x,
    );
    if (e?.code === 'HOST_IS_SLAVE') {
      assert.deepEqual(e.params, [m.address]);
      break;
    }
    assert.ok(Date.now() < deadline, `restarted slave answers HOST_IS_SLAVE (got ${e?.message})`);
    await new Promise((r) => setTimeout(r, 500));
  }
  assert.equal((await master.call('host.get_all')).length, 3, 'the master still lists every member');

  // VMs down (each on its own host), then the master moves to slave 2 and slave 1 is ejected.
  for (const [h, { vm, uuid }] of vms) {
    await master.call('VM.hard_shutdown', vm);
    await waitFor(async () => qemuCmdline(h, uuid) === undefined, 30_000, `QEMU of ${uuid} gone`);
  }
  await master.call('pool.designate_new_master', refOf(s2));
  await waitFor(
    async () => {
      const e = await m.client().then(
        () => undefined,
        (x: XenApiError) => x,
      );
      return e?.code === 'HOST_IS_SLAVE' && e.params[0] === s2.address;
    },
    60_000,
    'the old master follows slave 2',
  );
  const next = await s2.client();
  assert.equal(await next.call('pool.get_master', (await next.call('pool.get_all'))[0]), refOf(s2));
  await waitFor(
    async () => (await Promise.all(hosts.map((h) => hostLive(next, h)))).every(Boolean),
    60_000,
    'every host live under the new master',
  );
  await next.call('pool.eject', refOf(s1));
  assert.equal((await next.call('host.get_all')).length, 2);
  // The ejected host is a pool of its own again: it answers logins itself.
  await waitFor(
    async () => (await (await s1.client()).call('host.get_all')).length === 1,
    60_000,
    'the ejected host standalone',
  );
});
