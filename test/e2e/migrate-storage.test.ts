// Storage migration with a real guest in the namespace harness (issue 15, item 2): two hosts,
// each with a LOCAL file SR. The guest writes a known pattern to its disk; VM.migrate_send with a
// vdi_map (host.migrate_receive's dest) moves it to the other host while it runs: it runs there,
// reads the same bytes back and the source volume is gone. Then VDI.pool_migrate moves the
// running guest's disk to a second SR of its host; off, the last volume holds the bytes (qemu-io).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { XenApiClient } from '../../src/clients/sdk/client.js';
import { volumePath } from '../../src/shared/host/volume-path.js';
import { hasPattern } from '../agent/storage/helpers.js';
import { consoleLog, createGuestVm, guestShell, startMigrationPool } from '../helpers/migration-pool.js';
import { type PoolHost, qemuCmdline } from '../helpers/pool-harness.js';
import { vbdRecord, vdiRecord } from '../helpers/records.js';
import { waitFor } from '../helpers/stack.js';

const MiB = 1024 * 1024;
/** The guest counts the 'Z's of its disk's second MiB. */
const zCount = 'dd if=/dev/vda bs=65536 skip=16 count=16 | tr -cd Z | wc -c';

/** A VDI's image file on the host that has its SR. */
async function imagePath(c: XenApiClient, vdi: string): Promise<string> {
  const rec = (await c.call('VDI.get_record', vdi as never)) as unknown as Record<string, string>;
  const sr = (await c.call('SR.get_record', rec.SR as never)) as unknown as Record<string, unknown>;
  const pbd = (await c.call('PBD.get_record', (sr.PBDs as string[])[0] as never)) as unknown as Record<
    string,
    unknown
  >;
  return volumePath(
    String(sr.type),
    String(sr.uuid),
    pbd.device_config as Record<string, string>,
    rec.location,
  )!.path;
}

test('VM.migrate_send moves a running guest and its local disk to another host; VDI.pool_migrate to another SR', {
  timeout: 900_000,
}, async (t) => {
  // Two hosts without a shared SR: a local SR on each host, a second one on the slave.
  const {
    hosts: [m, s],
    refs: [mRef, sRef],
    master: c,
  } = await startMigrationPool(t, { sharedSr: false });
  const localSr = async (h: PoolHost, ref: string, name: string) =>
    String(
      await c.call(
        'SR.create',
        ref,
        { location: join(h.dataDir, 'sr', name) },
        0,
        name,
        '',
        'file',
        'user',
        false,
        {},
      ),
    );
  const srM = await localSr(m, mRef, 'sm-local-m');
  const srS = await localSr(s, sRef, 'sm-local-s');
  const srS2 = await localSr(s, sRef, 'sm-local-s2');

  const vdi = String(
    await c.call('VDI.create', vdiRecord(srM, 16 * MiB, { name_label: 'moving disk' }) as never),
  );
  const { vm, uuid } = await createGuestVm(c, 'sm-migrant');
  // The template boots from kernel + initrd: this disk is the guest's /dev/vda.
  const vbd = await c.call('VBD.create', vbdRecord(vm, vdi, { userdevice: '1', bootable: false }) as never);
  t.after(() => c.call('VM.hard_shutdown', vm).catch(() => undefined));
  await c.call('VM.start_on', vm, mRef, false, false);
  await waitFor(() => consoleLog(m, uuid).includes('BERTH-GUEST-READY'), 180_000, 'the guest booted');

  // The guest writes a marker in sector 0 and 1 MiB of 'Z' (0x5a) at 1 MiB, then syncs (short
  // lines: a loaded TCG guest's console may drop a long line's tail).
  await guestShell(
    m,
    uuid,
    'echo BERTH-SM-$((6*7)) | dd of=/dev/vda bs=512 count=1 conv=sync,notrunc; echo SM-W1',
    /\nSM-W1/,
  );
  await guestShell(m, uuid, "head -c 1048576 /dev/zero | tr '\\000' Z > /tmp/z; echo SM-W2", /\nSM-W2/);
  await guestShell(
    m,
    uuid,
    'dd if=/tmp/z of=/dev/vda bs=65536 seek=16 conv=notrunc; sync; echo SM-W3',
    /\nSM-W3/,
  );
  await guestShell(m, uuid, zCount, /\n\s*1048576\s*\r?\n/);
  const srcImage = await imagePath(c, vdi);

  // 1. VM.migrate_send to the slave with its disk mapped to the slave's local SR.
  const net = await c.call('network.create', { name_label: 'sm net', other_config: {} } as never);
  const dest = (await c.call('host.migrate_receive', sRef, net, {})) as Record<string, string>;
  assert.equal(dest.host, sRef);
  await c.call('VM.assert_can_migrate', vm, dest, true, { [vdi]: srS }, {}, {});
  const task = String(await c.callAsync('VM.migrate_send', vm, dest, true, { [vdi]: srS }, {}, {}));
  await waitFor(
    async () => !['pending', 'cancelling'].includes(String(await c.call('task.get_status', task as never))),
    300_000,
    'migrate_send',
  );
  const done = (await c.call('task.get_record', task as never)) as unknown as Record<string, unknown>;
  assert.equal(done.status, 'success', JSON.stringify(done.error_info));
  assert.equal(await c.call('VM.get_resident_on', vm), sRef);
  assert.ok(qemuCmdline(s, uuid), 'QEMU on the slave');
  await waitFor(() => qemuCmdline(m, uuid) === undefined, 30_000, 'no QEMU left on the master');
  const moved = String(await c.call('VBD.get_VDI', vbd));
  assert.notEqual(moved, vdi, 'a new VDI on the destination SR (as xapi)');
  assert.equal(await c.call('VDI.get_SR', moved as never), srS);
  assert.equal(existsSync(srcImage), false, 'the source volume is gone');
  const dstImage = await imagePath(c, moved);
  await guestShell(s, uuid, 'head -c 11 /dev/vda; echo; echo SM-READ1', /BERTH-SM-42\s*\r?\nSM-READ1/);
  await guestShell(
    s,
    uuid,
    'dd if=/dev/vda bs=65536 skip=16 count=16 2>/dev/null | tr -d Z | wc -c',
    /\n\s*0\s*\r?\n/,
  );

  // 2. VDI.pool_migrate: the running guest's disk to the slave's second SR, the VM stays there.
  const again = String(await c.call('VDI.pool_migrate', moved as never, srS2 as never, {}));
  assert.notEqual(again, moved);
  assert.equal(await c.call('VBD.get_VDI', vbd), again);
  assert.equal(await c.call('VDI.get_SR', again as never), srS2);
  assert.equal(await c.call('VM.get_resident_on', vm), sRef);
  assert.equal(existsSync(dstImage), false, 'the first destination volume is gone');
  // The guest keeps writing to the disk it now has, and reads back what it wrote before.
  await guestShell(
    s,
    uuid,
    'echo AFTER-$((7*6)) | dd of=/dev/vda bs=512 seek=8 count=1 conv=sync,notrunc; echo SM-W4',
    /\nSM-W4/,
  );
  await guestShell(s, uuid, 'sync; head -c 11 /dev/vda; echo; echo SM-READ2', /BERTH-SM-42\s*\r?\nSM-READ2/);
  await guestShell(
    s,
    uuid,
    'dd if=/dev/vda bs=512 skip=8 count=1 | head -c 8; echo; echo SM-READ3',
    /AFTER-42\s*\r?\nSM-READ3/,
  );
  await guestShell(s, uuid, zCount, /\n\s*1048576\s*\r?\n/);

  // Off, the last volume holds the guest's bytes as the host reads them (a running QEMU keeps
  // qcow2 metadata in memory: the file is read once it closed it).
  await c.call('VM.clean_shutdown', vm);
  assert.ok(
    await hasPattern(await imagePath(c, again), 'qcow2', 0x5a, MiB, MiB),
    'the final volume holds the bytes',
  );
});
