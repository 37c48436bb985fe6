// host.evacuate and Berth's automatic restart with real guests in the namespace harness (issue 15,
// item 4): two hosts, a shared file SR over one directory. Three guests run on the slave, one
// with its disk on the slave's local SR: get_vms_which_prevent_evacuation names that one
// (VM_REQUIRES_SR) and xe host-evacuate moves nothing; once it is shut down, maintenance mode
// (xe host-disable, xe host-evacuate) empties the slave: both guests run on the master and their
// shells (their memory) answer there. Then one guest, marked ha_restart_priority=restart, goes
// back to the slave, the slave dies (agent, manager and QEMUs killed) and, after the pool's
// berth_ha_restart_after_s, the guest boots again on the master.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { killQemusUnder } from '../agent/helpers/guest.js';
import { consoleLog, createGuestVm, guestShell, startMigrationPool } from '../helpers/migration-pool.js';
import { hostLive, qemuCmdline } from '../helpers/pool-harness.js';
import { vbdRecord, vdiRecord } from '../helpers/records.js';
import { waitFor } from '../helpers/stack.js';

const MiB = 1024 * 1024;

test('xe host-evacuate empties a slave; a protected VM of a dead slave restarts on the master', {
  timeout: 900_000,
}, async (t) => {
  const {
    hosts: [m, s],
    refs: [mRef, sRef],
    master: c,
    sharedSr,
  } = await startMigrationPool(t);
  const sUuid = String(await c.call('host.get_uuid', sRef));

  // The slave's own local SR (the pool's shared SR is there already).
  const localSr = String(
    await c.call(
      'SR.create',
      sRef,
      { location: join(s.dataDir, 'sr', 'evac-local') },
      0,
      'slave local',
      '',
      'file',
      'user',
      false,
      {},
    ),
  );
  const newGuest = async (name: string, sr: string) => {
    const { vm, uuid } = await createGuestVm(c, name);
    const vdi = await c.call('VDI.create', vdiRecord(sr, 16 * MiB, { name_label: `${name} disk` }) as never);
    await c.call(
      'VBD.create',
      vbdRecord(vm, vdi, { userdevice: '1', bootable: false, unpluggable: true }) as never,
    );
    return { vm, uuid };
  };
  const g1 = await newGuest('evac-g1', sharedSr);
  const g2 = await newGuest('evac-g2', sharedSr);
  const pinned = await newGuest('evac-pinned', localSr);
  for (const g of [g1, g2, pinned]) await c.call('VM.start_on', g.vm, sRef, false, false);

  // The VM on the slave's local SR prevents the evacuation; nothing moves.
  assert.deepEqual(await c.call('host.get_vms_which_prevent_evacuation', sRef), {
    [pinned.vm]: ['VM_REQUIRES_SR', pinned.vm, localSr],
  });
  const listed = await m.xe(['host-get-vms-which-prevent-evacuation', `uuid=${sUuid}`]);
  assert.match(listed.stdout, new RegExp(`reason \\( RO\\): VM_REQUIRES_SR,${pinned.vm},${localSr}`));
  const refused = await m.xe(['host-evacuate', `uuid=${sUuid}`]);
  assert.notEqual(refused.code, 0, 'evacuation refused');
  for (const g of [g1, g2, pinned]) assert.equal(await c.call('VM.get_resident_on', g.vm), sRef);
  await c.call('VM.hard_shutdown', pinned.vm);

  // Both guests booted, each holding state only its memory has.
  for (const [i, g] of [g1, g2].entries()) {
    await waitFor(() => consoleLog(s, g.uuid).includes('BERTH-GUEST-READY'), 240_000, `${g.uuid} booted`);
    await guestShell(s, g.uuid, `MARK=evac$((40+${i}))`, /MARK=evac/);
  }

  // Maintenance mode: disable, evacuate. Both run on the master, their shells remember MARK.
  for (const args of [['host-disable'], ['host-evacuate']]) {
    const r = await m.xe([...args, `uuid=${sUuid}`]);
    assert.equal(r.code, 0, `${args[0]}: ${r.stdout}${r.stderr}`);
  }
  for (const [i, g] of [g1, g2].entries()) {
    assert.equal(await c.call('VM.get_resident_on', g.vm), mRef);
    assert.equal(await c.call('VM.get_power_state', g.vm), 'Running');
    assert.ok(qemuCmdline(m, g.uuid), 'QEMU on the master');
    await waitFor(() => qemuCmdline(s, g.uuid) === undefined, 30_000, 'no QEMU left on the slave');
    await guestShell(m, g.uuid, `echo "moved-$MARK"`, new RegExp(`moved-evac${40 + i}`));
  }
  assert.deepEqual(await c.call('host.get_vms_which_prevent_evacuation', sRef), {});

  // Automatic restart: g1 protected, back on the slave; the slave dies.
  await c.call('host.enable', sRef);
  await c.call('VM.set_ha_restart_priority', g1.vm, 'restart');
  const [poolRef] = await c.call('pool.get_all');
  await c.call('pool.add_to_other_config', poolRef, 'berth_ha_restart_after_s', '3');
  await c.call('VM.pool_migrate', g1.vm, sRef, {});
  assert.equal(await c.call('VM.get_resident_on', g1.vm), sRef);
  const bootsFrom = consoleLog(m, g1.uuid).length;
  const diedAt = Date.now();
  await s.kill('manager');
  await s.kill('agent');
  killQemusUnder(s.runDir);
  await waitFor(
    async () => (await c.call('VM.get_resident_on', g1.vm)) === mRef,
    120_000,
    'g1 restarted on the master',
  );
  assert.ok(Date.now() - diedAt >= 3000, 'not before the pool delay');
  assert.equal(await c.call('host.get_enabled', sRef), true);
  assert.equal(await hostLive(c, sRef), false);
  assert.equal(await c.call('VM.get_power_state', g1.vm), 'Running');
  await waitFor(
    () => consoleLog(m, g1.uuid).slice(bootsFrom).includes('BERTH-GUEST-READY'),
    240_000,
    'g1 booted again on the master',
  );
  await guestShell(m, g1.uuid, 'echo "again-$((6*7))"', /again-42/);
  // The unprotected g2 was on the master all along and still runs.
  assert.equal(await c.call('VM.get_power_state', g2.vm), 'Running');
});
