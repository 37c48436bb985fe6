// The LVM SR's success path through the XenAPI with a real guest: an LVM SR on loop devices
// (SR.create), an LV-backed VDI the guest writes a marker to, a clone of it (a full LV copy),
// the clone attached as the boot disk of a second VM, and that guest reading the marker back.
// Needs device-mapper in the kernel; elsewhere it reports a skip with the reason.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { typeLine } from '../agent/helpers/guest.js';
import { deviceMapper } from '../helpers/capabilities.js';
import { ensureGuest, startStack, waitFor } from '../helpers/stack.js';
import { vbdRecord, vdiRecord } from '../helpers/records.js';

const MiB = 1024 * 1024;
const BOOT_MS = 120_000;

const quiet = (cmd: string, args: string[]) => {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
  } catch {
    /* already gone */
  }
};

test('LVM SR: create an LV-backed VDI, clone it, attach the clone and boot a guest from it', {
  timeout: 600_000,
}, async (t) => {
  const dm = deviceMapper();
  if (!dm.ok) {
    t.skip(dm.reason);
    return;
  }
  await ensureGuest();
  const stack = await startStack(t, 19000 + Math.floor(Math.random() * 100));
  await stack.startAgent();
  await stack.startManager();
  const c = await stack.client();
  const call = (m: string, ...a: unknown[]) => (c.call as any)(m, ...a) as Promise<any>;

  // Two 64 MiB loop devices, removed with whatever VG the test leaves on them.
  const loops: string[] = [];
  t.after(() => {
    for (const l of loops) {
      const vg = execFileSync('pvs', ['--noheadings', '-o', 'vg_name', l], {
        stdio: ['ignore', 'pipe', 'ignore'],
      })
        .toString()
        .trim();
      if (vg) quiet('vgremove', ['-f', '-y', vg]);
      quiet('pvremove', ['-ff', '-y', l]);
      quiet('losetup', ['-d', l]);
    }
  });
  for (const i of [0, 1]) {
    const img = join(stack.dir, `lvm${i}.img`);
    writeFileSync(img, '');
    execFileSync('truncate', ['-s', '64M', img]);
    loops.push(execFileSync('losetup', ['-f', '--show', img]).toString().trim());
  }

  const host = await call('session.get_this_host', c.sessionRef);
  const sr = await call(
    'SR.create',
    host,
    { device: loops.join(',') },
    0,
    'lvm-e2e',
    '',
    'lvm',
    '',
    false,
    {},
  );
  assert.equal(await call('SR.get_type', sr), 'lvm');
  const disk = await call('VDI.create', vdiRecord(sr, 16 * MiB, { name_label: 'lv-disk' }));
  assert.equal(await call('VDI.get_virtual_size', disk), 16 * MiB);

  const [tmpl] = await call('VM.get_by_name_label', 'Berth test guest');
  const makeVm = async (name: string, vdi: string) => {
    const vm = await call('VM.clone', tmpl, name);
    await call('VM.provision', vm);
    await call('VM.set_is_a_template', vm, false);
    await call('VBD.create', vbdRecord(vm, vdi, { unpluggable: true }));
    return { vm, uuid: (await call('VM.get_uuid', vm)) as string };
  };
  const shell = async (uuid: string, line: string, re: RegExp) => {
    const from = stack.consoleLog(uuid).length;
    await typeLine(`${stack.runDir}/${uuid}/serial.sock`, line);
    let m: RegExpExecArray | null = null;
    await waitFor(() => (m = re.exec(stack.consoleLog(uuid).slice(from))) !== null, 60_000, `${re}`);
    return m!;
  };
  const boot = async (vm: string, uuid: string) => {
    await call('VM.start', vm, false, false);
    await waitFor(() => stack.consoleLog(uuid).includes('BERTH-GUEST-READY'), BOOT_MS, 'boot marker');
  };

  // The first guest writes a marker on the LV-backed disk.
  const first = await makeVm('lvm-e2e-writer', disk);
  await boot(first.vm, first.uuid);
  await shell(
    first.uuid,
    'echo BERTH-LVM-$((6*7)) | dd of=/dev/vda bs=512 count=1 conv=sync 2>/dev/null; sync; echo WROTE-DONE',
    /\nWROTE-DONE/,
  );
  await call('VM.hard_shutdown', first.vm);

  // Clone the disk (on LVM: a full copy into a new LV) and boot a second guest from the clone.
  const clone = await call('VDI.clone', disk, {});
  assert.notEqual(clone, disk);
  assert.equal(await call('VDI.get_SR', clone), sr);
  assert.equal(await call('VDI.get_virtual_size', clone), 16 * MiB);
  const second = await makeVm('lvm-e2e-reader', clone);
  await boot(second.vm, second.uuid);
  const [vbd] = await call('VM.get_VBDs', second.vm);
  assert.equal(await call('VBD.get_currently_attached', vbd), true);
  const read = await shell(
    second.uuid,
    'head -c 14 /dev/vda; echo; echo READ-END',
    /(BERTH-LVM-\d+)\s*\r?\nREAD-END/,
  );
  assert.equal(read[1], 'BERTH-LVM-42');
  await call('VM.hard_shutdown', second.vm);

  for (const v of [first.vm, second.vm]) await call('VM.destroy', v);
  for (const d of [clone, disk]) await call('VDI.destroy', d);
  assert.deepEqual(await call('SR.get_VDIs', sr), []);
  const [pbd] = await call('SR.get_PBDs', sr);
  await call('PBD.unplug', pbd);
  await call('SR.destroy', sr);
});
