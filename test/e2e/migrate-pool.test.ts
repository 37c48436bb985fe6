// VM.pool_migrate with real guests in the namespace harness (issue 15, item 1): two hosts, a
// shared file SR over one directory, the test guest with a disk on it and a VIF on a pool
// network. It moves master → slave through the XenAPI and back through `xe vm-migrate`: each time
// resident_on changes, QEMU runs only on the destination, the guest's shell (its memory) answers
// on the destination's serial console, the task reaches progress 1 and event.from reports the VM.
// A slow migration (berth_bandwidth) cancelled with task.cancel leaves it running on the source.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tapName } from '../../src/shared/net/names.js';
import {
  consoleLog,
  createGuestVm,
  guestShell,
  startMigrationPool,
  taskSettled,
} from '../helpers/migration-pool.js';
import { type PoolHost, qemuCmdline } from '../helpers/pool-harness.js';
import { vbdRecord, vdiRecord, vifRecord } from '../helpers/records.js';
import { waitFor } from '../helpers/stack.js';

const MiB = 1024 * 1024;

test('VM.pool_migrate moves a running guest between two hosts and back; a cancel leaves it', {
  timeout: 900_000,
}, async (t) => {
  // Two hosts with a shared SR; a disk on it, a pool network both hosts have, and the test guest.
  const {
    pool,
    hosts: [m, s],
    refs: [mRef, sRef],
    master: c,
    sharedSr: sr,
  } = await startMigrationPool(t, { networking: true });
  const vdi = await c.call('VDI.create', vdiRecord(sr, 16 * MiB, { name_label: 'migrating disk' }) as never);
  const net = await c.call('network.create', {
    name_label: 'migrate net',
    bridge: 'pmigbr0',
    other_config: { assume_network_is_shared: 'true' },
  } as never);
  const { vm, uuid } = await createGuestVm(c, 'migrant');
  await c.call(
    'VBD.create',
    vbdRecord(vm, vdi, { userdevice: '1', bootable: false, unpluggable: true }) as never,
  );
  const vif = await c.call('VIF.create', vifRecord(vm, net) as never);
  t.after(() => c.call('VM.hard_shutdown', vm).catch(() => undefined));

  await c.call('VM.start_on', vm, mRef, false, false);
  await waitFor(() => consoleLog(m, uuid).includes('BERTH-GUEST-READY'), 180_000, 'the guest booted');
  // State only the guest's memory holds: a shell variable.
  await guestShell(m, uuid, 'MARK=mig$((6*7))', /MARK=mig/);

  /** Checks the VM runs on `h` only, answers there and remembers MARK. */
  const runsOn = async (h: PoolHost, ref: string, n: number) => {
    assert.equal(await c.call('VM.get_resident_on', vm), ref);
    assert.equal(await c.call('VM.get_power_state', vm), 'Running');
    assert.ok(qemuCmdline(h, uuid), `QEMU on ${h.hostname}`);
    for (const other of pool.hosts)
      if (other !== h)
        await waitFor(() => qemuCmdline(other, uuid) === undefined, 30_000, `no QEMU on ${other.hostname}`);
    await guestShell(h, uuid, `echo "round${n}-$MARK"`, new RegExp(`round${n}-mig42`));
    assert.equal(await c.call('VIF.get_currently_attached', vif), true);
    // The VIF's TAP is on the network's bridge here and gone from the other host.
    const tap = tapName(String(await c.call('VIF.get_uuid', vif)));
    const shown = await h.exec('ip', ['-j', 'link', 'show', 'dev', tap]);
    assert.equal(JSON.parse(shown.stdout)[0]?.master, 'pmigbr0', `${tap} on ${h.hostname}: ${shown.stderr}`);
    for (const other of pool.hosts)
      if (other !== h)
        assert.notEqual(
          (await other.exec('ip', ['link', 'show', 'dev', tap])).code,
          0,
          `${tap} left on ${other.hostname}`,
        );
    assert.equal(await c.call('VBD.get_currently_attached', (await c.call('VM.get_VBDs', vm))[0]), true);
  };

  // 1. master → slave through the XenAPI: the task reaches 1, event.from sees the move.
  const { token } = (await c.call('event.from', ['vm'], '', 0)) as { token: string };
  const task = String(await c.callAsync('VM.pool_migrate', vm, sRef, {}));
  const done = await taskSettled(c, task, 300_000);
  assert.equal(done.status, 'success', JSON.stringify(done.error_info));
  assert.equal(done.progress, 1);
  const moved = (await c.call('event.from', ['vm'], token, 5)) as {
    events: { ref: string; snapshot?: Record<string, unknown> }[];
  };
  assert.ok(
    moved.events.some((e) => e.ref === vm && e.snapshot?.resident_on === sRef),
    'an event says the VM is resident on the slave',
  );
  await runsOn(s, sRef, 1);
  const consoles = (await c.call('VM.get_consoles', vm)) as string[];
  for (const con of consoles)
    assert.ok(
      String(await c.call('console.get_location', con as never)).includes(s.address),
      'console on the slave',
    );

  // 2. slave → master with xe (run on the slave, against the master).
  const mUuid = String(await c.call('host.get_uuid', mRef));
  const r = await s.xe(['vm-migrate', `uuid=${uuid}`, `host-uuid=${mUuid}`], m);
  assert.equal(r.code, 0, `${r.stdout}${r.stderr}`);
  await runsOn(m, mRef, 2);

  // 3. A migration slowed to 256 KiB/s, cancelled mid-way: still on the master, still answering.
  const slow = String(
    await c.callAsync('VM.pool_migrate', vm, sRef, { berth_bandwidth: String(256 * 1024) }),
  );
  await waitFor(
    async () => Number(await c.call('task.get_progress', slow as never)) > 0,
    60_000,
    'the slow migration under way',
  );
  await c.call('task.cancel', slow as never);
  const cancelled = await taskSettled(c, slow, 120_000);
  assert.equal(cancelled.status, 'cancelled', JSON.stringify(cancelled.error_info));
  assert.deepEqual(await c.call('VM.get_current_operations', vm), {});
  await runsOn(m, mRef, 3);
});
