// A shared SR in a pool of namespaced hosts (issue 13, items 4 and 5): a `file` SR with
// shared=true on one directory every host's agent has within its --sr-root (the namespaces share
// the machine's filesystem, as hosts share an NFS export). SR.create gives every member a plugged
// PBD, a host that joins later gets one plugged too, and a VM whose disk is on the SR starts on
// one slave, then on another, its QEMU opening the disk in the shared directory each time.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { XenApiClient } from '../../src/clients/sdk/client.js';
import { defaultTemplates } from '../../src/manager/bootstrap/templates.js';
import { baseVmRecord } from '../../src/manager/bootstrap/vm-record.js';
import { killQemusUnder } from '../agent/helpers/guest.js';
import { hostLive, type PoolHost, qemuCmdline, startHosts } from '../helpers/pool-harness.js';
import { ensureGuest, GUEST_DIR, waitFor } from '../helpers/stack.js';
import { vbdRecord, vdiRecord } from '../helpers/records.js';

const MiB = 1024 * 1024;

/** host ref → [PBD attached] of an SR. */
async function pbdsOf(c: XenApiClient, sr: string): Promise<Map<string, boolean>> {
  const out = new Map<string, boolean>();
  for (const p of await c.call('SR.get_PBDs', sr)) {
    const r = await c.call('PBD.get_record', p);
    out.set(String(r.host), Boolean(r.currently_attached));
  }
  return out;
}

test('a shared file SR: a plugged PBD on every member, a VM on it starts on any', {
  timeout: 600_000,
}, async (t) => {
  await ensureGuest();
  const shared = mkdtempSync(join(tmpdir(), 'berth-shared-pool-'));
  t.after(() => rmSync(shared, { recursive: true, force: true }));
  const pool = await startHosts(3, {
    t,
    agentArgs: (h) => ['--sr-root', shared, '--sr-root', join(h.dataDir, 'sr')],
  });
  for (const h of pool.hosts) t.after(() => killQemusUnder(h.runDir));
  const [m, s1, s2] = pool.hosts;
  await (await s1.client()).call('pool.join', m.address, 'root', m.rootPassword());
  const master = await m.client();
  const refOf = async (h: PoolHost) => {
    for (const ref of await master.call('host.get_all'))
      if ((await master.call('host.get_address', ref)) === h.address) return String(ref);
    throw new Error(`${h.hostname} is not in the pool`);
  };
  const [mRef, s1Ref] = [await refOf(m), await refOf(s1)];
  await waitFor(
    async () => (await hostLive(master, mRef)) && hostLive(master, s1Ref),
    60_000,
    'two hosts live',
  );

  // SR.create shared=true on the master: a PBD per member, each plugged by its own agent.
  const location = join(shared, 'sr');
  const sr = String(
    await master.call('SR.create', mRef, { location }, 0, 'pool SR', '', 'file', 'user', true, {}),
  );
  assert.deepEqual(
    [...(await pbdsOf(master, sr))].sort(),
    [
      [mRef, true],
      [s1Ref, true],
    ].sort(),
  );

  // A host joining afterwards gets its PBD on the shared SR, plugged once the master reaches it.
  await (await s2.client()).call('pool.join', m.address, 'root', m.rootPassword());
  const s2Ref = await refOf(s2);
  await waitFor(
    async () => {
      const pbds = await pbdsOf(master, sr);
      return pbds.size === 3 && [...pbds.values()].every(Boolean);
    },
    60_000,
    'the late host PBD plugged',
  );

  // A VDI on it (made by the SR's one worker, the master) and a VM with it as its disk.
  const vdi = await master.call(
    'VDI.create',
    vdiRecord(sr, 16 * MiB, { name_label: 'shared disk' }) as never,
  );
  const vdiUuid = String(await master.call('VDI.get_uuid', vdi));
  const diskPath = join(location, `${vdiUuid}.qcow2`);
  assert.ok(existsSync(diskPath), 'the volume is in the shared directory');
  const guest = defaultTemplates(GUEST_DIR)[0].record;
  const vm = await master.call('VM.create', baseVmRecord({ ...guest, name_label: 'on-shared' }) as never);
  const uuid = String(await master.call('VM.get_uuid', vm));
  await master.call(
    'VBD.create',
    vbdRecord(vm, vdi, { userdevice: '1', bootable: false, unpluggable: true }) as never,
  );
  assert.deepEqual(
    [...(await master.call('VM.get_possible_hosts', vm))].sort(),
    [mRef, s1Ref, s2Ref].sort(),
    'every member sees the disk',
  );

  // On slave 1, then on slave 2: QEMU under that host's agent, opening the shared volume.
  for (const [h, ref] of [
    [s1, s1Ref],
    [s2, s2Ref],
  ] as const) {
    await master.call('VM.start_on', vm, ref, false, false);
    assert.equal(await master.call('VM.get_resident_on', vm), ref);
    const cmd = qemuCmdline(h, uuid);
    assert.ok(cmd, `QEMU of the VM under ${h.hostname}`);
    assert.ok(cmd.includes(diskPath), `its disk is ${diskPath}: ${cmd}`);
    for (const other of pool.hosts) if (other !== h) assert.equal(qemuCmdline(other, uuid), undefined);
    await master.call('VM.hard_shutdown', vm);
    await waitFor(async () => qemuCmdline(h, uuid) === undefined, 30_000, `QEMU gone from ${h.hostname}`);
  }

  // Slave 1's manager restarted (a slave opens no storage), then made master: it starts storage
  // and does the shared SR's work itself, through its own agent.
  await s1.restart('manager');
  await master.call('pool.designate_new_master', s1Ref);
  let next: XenApiClient | undefined;
  await waitFor(async () => Boolean((next = await s1.client())), 60_000, 'slave 1 serving as master');
  // (Its storage starts once its agent connects: the first calls may come before.)
  let made: unknown;
  await waitFor(
    async () =>
      Boolean(
        (made = await next!.call(
          'VDI.create',
          vdiRecord(sr, MiB, { name_label: 'after designate' }) as never,
        )),
      ),
    30_000,
    'a VDI made through the new master',
  );
  assert.ok(existsSync(join(location, `${await next!.call('VDI.get_uuid', made as never)}.qcow2`)));
});
